//! Random fault scripts: proptest strategies over a small, plain
//! description of a case ([`CaseSpec`]), turned into a validated
//! [`Script`] by [`CaseSpec::script`].
//!
//! Cases are generated as numbers and indices, not as host names, so that
//! shrinking can never produce a dangling reference: a fault names "server
//! number 2", and when shrinking removes servers the index wraps onto one
//! that exists. Every range's low end is the simple end, because proptest
//! shrinks integers toward it: fewer servers and connections, earlier and
//! shorter faults, fewer faults.
//!
//! **Swarm testing**: each case first draws the subset of fault kinds it
//! may use ([`FaultKind`]), then its faults from that subset only, so some
//! cases hammer one or two kinds instead of always mixing all of them.

use std::{collections::BTreeMap, time::Duration};

use proptest::{
    prelude::*,
    sample::{select, subsequence},
};
use squall_sim::{
    BlackHole, Expiry, FailingServer, Fault, GoawayStorm, GracefulRestart, LossyLink, Middlebox,
    MiddleboxKind, OneWayPartition, Partition, ScheduledFault, ServerCrash, SlowServer, StatusCode,
};

use squall_sim::{server::GoawayMode, world::CLIENT_HOST};

use crate::script::{
    BreakerOverrides, HedgingOverrides, LimiterOverrides, Load, RateOverride, Script, ScriptErrors,
    WindowOverride,
};

/// A kind of fault a generated case may inject. `Nat` is a topology
/// choice rather than a fault: server-1 sits behind a NAT whose flows
/// expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    BlackHole,
    Partition,
    OneWayPartition,
    LossyLink,
    ServerCrash,
    SilentCrash,
    SlowServer,
    FailingServer,
    GracefulRestart,
    GoawayGraceful,
    GoawayAbrupt,
    TooManyPings,
    Nat,
}

impl FaultKind {
    /// Every kind, in a fixed order.
    pub const ALL: [FaultKind; 13] = [
        FaultKind::BlackHole,
        FaultKind::Partition,
        FaultKind::OneWayPartition,
        FaultKind::LossyLink,
        FaultKind::ServerCrash,
        FaultKind::SilentCrash,
        FaultKind::SlowServer,
        FaultKind::FailingServer,
        FaultKind::GracefulRestart,
        FaultKind::GoawayGraceful,
        FaultKind::GoawayAbrupt,
        FaultKind::TooManyPings,
        FaultKind::Nat,
    ];
}

/// Which cases a suite generates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenOptions {
    /// The swarm's universe: each case uses a non-empty subset of these.
    pub kinds: Vec<FaultKind>,
    /// Every case's pool has a limiter (else: half of them).
    pub always_limiter: bool,
    /// Every case's pool has a breaker (else: half of them).
    pub always_breaker: bool,
}

impl GenOptions {
    /// Every fault kind; limiter and breaker in half the cases each.
    pub fn all_faults() -> Self {
        Self {
            kinds: FaultKind::ALL.to_vec(),
            always_limiter: false,
            always_breaker: false,
        }
    }

    /// Limiter and breaker always on, against the faults that drive them:
    /// failing, slow and crashing servers.
    pub fn admission() -> Self {
        Self {
            kinds: vec![
                FaultKind::FailingServer,
                FaultKind::SlowServer,
                FaultKind::ServerCrash,
                FaultKind::BlackHole,
            ],
            always_limiter: true,
            always_breaker: true,
        }
    }
}

/// One generated case, as plain numbers. All times are milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseSpec {
    /// The simulation's seed (turmoil, the pool's RNG, the load's mix).
    pub seed: u64,
    pub servers: u8,
    /// Every server's SETTINGS_MAX_CONCURRENT_STREAMS (`None`: hyper's).
    pub server_max_streams: Option<u8>,
    /// `Some((idle_timeout_ms, rst))`: server-1 is reached through `nat-1`.
    pub nat: Option<(u32, bool)>,
    pub pool: PoolSpec,
    pub load: LoadSpec,
    pub faults: Vec<FaultSpec>,
}

/// The pool's knobs a case varies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSpec {
    pub connections: u8,
    /// Extra connections per endpoint the pool may scale up to (only with
    /// `max_streams`: without a cap no connection is ever full).
    pub extra_connections: u8,
    /// `max_streams_per_connection`.
    pub max_streams: Option<u8>,
    pub keepalive_interval_ms: u32,
    pub keepalive_timeout_ms: u32,
    pub backoff_initial_ms: u32,
    pub backoff_max_ms: u32,
    pub limiter: Option<LimiterSpec>,
    pub breaker: Option<BreakerSpec>,
    /// Hedging; its load's calls are then idempotent.
    pub hedging: Option<HedgingSpec>,
}

/// The hedging policy of a case: UNAVAILABLE non-fatal, so a copy whose
/// connection dies sends the next at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HedgingSpec {
    pub max_attempts: u8,
    pub delay_ms: u32,
}

/// The limiter of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimiterSpec {
    pub max_concurrency: u8,
    pub max_queue_len: u8,
    pub max_queue_wait_ms: u32,
    /// `(per_second, burst)`.
    pub rate: Option<(u32, u32)>,
}

/// The breaker of a case: a count window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSpec {
    pub window: u8,
    pub minimum_calls: u8,
    pub failure_rate_percent: u8,
    pub wait_in_open_ms: u32,
    pub probes: u8,
}

/// The load a case drives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadSpec {
    Open {
        rate: u32,
        deadline_ms: u32,
    },
    Closed {
        callers: u32,
        think_ms: u32,
        deadline_ms: u32,
    },
}

/// One fault of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultSpec {
    pub kind: FaultKind,
    /// Which server (wrapped onto the servers there are).
    pub target: u8,
    pub at_ms: u32,
    /// How long it holds; for a graceful restart, the downtime.
    pub hold_ms: u32,
    /// A kind-specific number: latency, failure percent, repeat period...
    pub param: u32,
}

/// The first fault may start here: the load starts at 1 s and the pool has
/// had time to connect.
pub const FIRST_FAULT_MS: u32 = 1_500;
/// The last fault starts by here.
pub const LAST_FAULT_MS: u32 = 12_000;
/// Most faults per case.
pub const MAX_FAULTS: usize = 4;
/// A graceful restart's drain timeout.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);
/// Time after the liveness bound in which RPCs must succeed again.
pub const AFTER_LIVENESS: Duration = Duration::from_secs(2);

/// Cases for `options`: the swarm subset first, then everything else.
pub fn case_strategy(options: &GenOptions) -> impl Strategy<Value = CaseSpec> + use<> {
    let options = options.clone();
    let universe = options.kinds.clone();
    debug_assert!(!universe.is_empty(), "a swarm needs at least one kind");
    let size = universe.len();
    subsequence(universe, 1..=size).prop_flat_map(move |enabled| {
        let nat_enabled = enabled.contains(&FaultKind::Nat);
        let fault_kinds: Vec<FaultKind> = enabled
            .iter()
            .copied()
            .filter(|k| *k != FaultKind::Nat)
            .collect();
        let faults = if fault_kinds.is_empty() {
            Just(Vec::new()).boxed()
        } else {
            prop::collection::vec(fault_strategy(fault_kinds), 0..=MAX_FAULTS).boxed()
        };
        let nat = if nat_enabled {
            (2_000u32..=10_000, any::<bool>()).prop_map(Some).boxed()
        } else {
            Just(None).boxed()
        };
        (
            any::<u64>().no_shrink(),
            1u8..=3,
            prop::option::of(1u8..=8),
            nat,
            pool_strategy(options.always_limiter, options.always_breaker),
            load_strategy(),
            faults,
        )
            .prop_map(
                |(seed, servers, server_max_streams, nat, pool, load, faults)| CaseSpec {
                    seed,
                    servers,
                    server_max_streams,
                    nat,
                    pool,
                    load,
                    faults,
                },
            )
    })
}

fn fault_strategy(kinds: Vec<FaultKind>) -> impl Strategy<Value = FaultSpec> {
    (
        select(kinds),
        0u8..3,
        FIRST_FAULT_MS..=LAST_FAULT_MS,
        100u32..=8_000,
        0u32..=1_000,
    )
        .prop_map(|(kind, target, at_ms, hold_ms, param)| FaultSpec {
            kind,
            target,
            at_ms,
            hold_ms,
            param,
        })
}

fn pool_strategy(always_limiter: bool, always_breaker: bool) -> impl Strategy<Value = PoolSpec> {
    let limiter = (
        1u8..=16,
        0u8..=16,
        10u32..=500,
        prop::option::of((5u32..=200, 1u32..=20)),
    )
        .prop_map(|(slots, queue, wait, rate)| LimiterSpec {
            max_concurrency: slots,
            max_queue_len: queue,
            max_queue_wait_ms: wait,
            rate,
        });
    let limiter = if always_limiter {
        limiter.prop_map(Some).boxed()
    } else {
        prop::option::of(limiter).boxed()
    };
    let breaker = (5u8..=20, 3u8..=10, 30u8..=90, 500u32..=3_000, 1u8..=3).prop_map(
        |(window, minimum, rate, wait, probes)| BreakerSpec {
            window,
            minimum_calls: minimum,
            failure_rate_percent: rate,
            wait_in_open_ms: wait,
            probes,
        },
    );
    let breaker = if always_breaker {
        breaker.prop_map(Some).boxed()
    } else {
        prop::option::of(breaker).boxed()
    };
    let hedging =
        prop::option::of(
            (2u8..=3, 20u32..=300).prop_map(|(max_attempts, delay_ms)| HedgingSpec {
                max_attempts,
                delay_ms,
            }),
        );
    (
        1u8..=3,
        0u8..=2,
        prop::option::of(1u8..=8),
        1_000u32..=5_000,
        200u32..=2_000,
        100u32..=1_000,
        1_000u32..=3_000,
        limiter,
        breaker,
        hedging,
    )
        .prop_map(
            |(
                connections,
                extra,
                streams,
                interval,
                timeout,
                initial,
                max,
                limiter,
                breaker,
                hedging,
            )| {
                PoolSpec {
                    connections,
                    extra_connections: extra,
                    max_streams: streams,
                    keepalive_interval_ms: interval,
                    keepalive_timeout_ms: timeout,
                    backoff_initial_ms: initial,
                    backoff_max_ms: max.max(initial),
                    limiter,
                    breaker,
                    hedging,
                }
            },
        )
}

fn load_strategy() -> impl Strategy<Value = LoadSpec> {
    prop_oneof![
        (1u32..=50, 200u32..=2_000)
            .prop_map(|(rate, deadline_ms)| LoadSpec::Open { rate, deadline_ms }),
        (1u32..=8, 20u32..=200, 200u32..=2_000).prop_map(|(callers, think_ms, deadline_ms)| {
            LoadSpec::Closed {
                callers,
                think_ms,
                deadline_ms,
            }
        }),
    ]
}

/// Every case's `backoff.min_connect_timeout`: how long a dial whose SYNs
/// go unanswered waits at least before the slot gives it up.
const MIN_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

fn ms(n: u32) -> Duration {
    Duration::from_millis(u64::from(n))
}

impl PoolSpec {
    /// How long after the last fault ends the pool may take to be READY at
    /// full capacity again: a connection a fault left dead is found by
    /// whichever comes first, TCP's user timeout or keepalive, and
    /// keepalive bounds both (interval + timeout); its slot then waits out
    /// at most the longest backoff (max × (1 + jitter)), or, if a dial was
    /// in SYN retries when the fault ended, that dial's connect timeout
    /// (at least the cases' 1 s `min_connect_timeout`: the next SYN may be
    /// seconds away, as on Linux), and dials (a few ms here, given
    /// 500 ms); a breaker that opened waits `wait_in_open` before a probe
    /// may close it (plus 500 ms for the probes).
    pub fn liveness_bound(&self) -> Duration {
        let detect = ms(self.keepalive_interval_ms + self.keepalive_timeout_ms);
        let backoff = ms(self.backoff_max_ms * 6 / 5);
        let redial = backoff.max(MIN_CONNECT_TIMEOUT);
        let breaker = self
            .breaker
            .map_or(Duration::ZERO, |b| ms(b.wait_in_open_ms + 500));
        detect + redial + Duration::from_millis(500) + breaker
    }
}

impl CaseSpec {
    /// When the last fault has ended (a graceful restart ends when the
    /// server is back).
    pub fn last_fault_end(&self) -> Duration {
        self.scheduled_faults()
            .iter()
            .map(|f| f.end().unwrap_or(f.at))
            .max()
            .unwrap_or(Duration::ZERO)
    }

    /// How much longer than configured keepalive may take to find a dead
    /// connection: every "too_many_pings" storm on a server doubles the
    /// interval of its endpoint once (they never repeat here), and
    /// `live_after_faults` stretches its bound by what the trace shows.
    /// The run is made that much longer, so the stretched bound still
    /// falls within it.
    pub fn keepalive_allowance(&self) -> Duration {
        let most = self.complaints().into_values().max().unwrap_or(0);
        ms(self.pool.keepalive_interval_ms) * ((1u32 << most) - 1)
    }

    /// "too_many_pings" storms per server.
    fn complaints(&self) -> BTreeMap<String, u32> {
        let mut complaints: BTreeMap<String, u32> = BTreeMap::new();
        for scheduled in self.scheduled_faults() {
            if let Fault::GoawayStorm(storm) = &scheduled.fault
                && storm.mode == GoawayMode::TooManyPings
            {
                for host in &storm.hosts {
                    *complaints.entry(host.clone()).or_default() += 1;
                }
            }
        }
        debug_assert!(complaints.values().all(|&n| n as usize <= MAX_FAULTS));
        complaints
    }

    /// False when a NAT forgets flows faster than keepalive refreshes them:
    /// then idle connections keep turning into zombies for the whole run, a
    /// fault that never heals, and the pool need not be live at any point.
    pub fn nat_keeps_flows(&self) -> bool {
        // server-1 is the one behind the NAT; its "too_many_pings" storms
        // double keepalive on the way through it.
        let doublings = self.complaints().get("server-1").copied().unwrap_or(0);
        let interval = self.pool.keepalive_interval_ms << doublings;
        self.nat.is_none_or(|(idle_ms, _)| idle_ms > interval + 100)
    }

    fn server(&self, target: u8) -> String {
        format!("server-{}", target % self.servers.max(1) + 1)
    }

    /// The host the client dials for `server`: `nat-1` for server-1 behind
    /// the NAT.
    fn endpoint_host(&self, server: &str) -> String {
        match self.nat {
            Some(_) if server == "server-1" => "nat-1".to_owned(),
            _ => server.to_owned(),
        }
    }

    /// The case as a script named `name`; `Err` only if the generator made
    /// something the script checks refuse (a generator bug, reported as a
    /// failed case).
    pub fn script(&self, name: &str) -> Result<Script, ScriptErrors> {
        let servers = usize::from(self.servers.max(1));
        let pool = &self.pool;
        let live_within = pool.liveness_bound();
        let duration = self.last_fault_end().max(Duration::from_secs(1))
            + live_within
            + self.keepalive_allowance()
            + AFTER_LIVENESS;
        let mut builder = Script::builder(name)
            .description("a generated case (squall's property tests)")
            .seed(self.seed)
            .duration(duration)
            .servers(servers)
            .server_max_streams(self.server_max_streams.map(u32::from))
            .pool(|p| {
                p.connections_per_endpoint = Some(usize::from(pool.connections));
                // Scaling up needs a cap: without one no connection is full.
                p.max_connections_per_endpoint = (pool.extra_connections > 0
                    && pool.max_streams.is_some())
                .then(|| usize::from(pool.connections + pool.extra_connections));
                p.max_streams_per_connection = pool.max_streams.map(usize::from);
                p.keepalive.interval = Some(ms(pool.keepalive_interval_ms));
                p.keepalive.timeout = Some(ms(pool.keepalive_timeout_ms));
                p.backoff.initial = Some(ms(pool.backoff_initial_ms));
                p.backoff.max = Some(ms(pool.backoff_max_ms));
                p.backoff.min_connect_timeout = Some(MIN_CONNECT_TIMEOUT);
                p.shutdown_grace = Some(Duration::from_secs(1));
            })
            .expect(|e| {
                e.no_leaks = true;
                e.live_within = self.nat_keeps_flows().then_some(live_within);
            });
        if let Some(spec) = pool.limiter {
            builder = builder.limiter(|l: &mut LimiterOverrides| {
                l.max_concurrency = Some(usize::from(spec.max_concurrency));
                l.max_queue_len = Some(usize::from(spec.max_queue_len));
                l.max_queue_wait = Some(ms(spec.max_queue_wait_ms));
                l.rate = spec
                    .rate
                    .map(|(per_second, burst)| RateOverride { per_second, burst });
            });
        }
        if let Some(spec) = pool.breaker {
            builder = builder.breaker(|b: &mut BreakerOverrides| {
                b.sliding_window = Some(WindowOverride::Count(u32::from(spec.window)));
                b.minimum_calls = Some(u32::from(spec.minimum_calls.min(spec.window)));
                b.failure_rate_threshold = Some(spec.failure_rate_percent);
                b.wait_in_open = Some(ms(spec.wait_in_open_ms));
                b.permitted_in_half_open = Some(u32::from(spec.probes));
            });
        }
        if let Some(spec) = pool.hedging {
            builder = builder.hedging(|h: &mut HedgingOverrides| {
                h.max_attempts = Some(u32::from(spec.max_attempts));
                h.hedging_delay = Some(ms(spec.delay_ms));
                h.non_fatal_status_codes = Some(vec![StatusCode::Unavailable]);
            });
        }
        builder = match self.load {
            LoadSpec::Open { rate, deadline_ms } => builder.rate(rate).edit_load(|l: &mut Load| {
                l.deadline = ms(deadline_ms);
            }),
            LoadSpec::Closed {
                callers,
                think_ms,
                deadline_ms,
            } => builder
                .closed_loop(callers, ms(think_ms))
                .edit_load(|l: &mut Load| l.deadline = ms(deadline_ms)),
        };
        let hedged = pool.hedging.is_some();
        builder = builder.edit_load(|l: &mut Load| l.idempotent = hedged);
        if let Some((idle_ms, rst)) = self.nat {
            builder = builder.middlebox(&Middlebox {
                name: "nat-1".to_owned(),
                kind: MiddleboxKind::Nat,
                forward_to: "server-1".to_owned(),
                idle_timeout: ms(idle_ms),
                expiry: if rst { Expiry::Rst } else { Expiry::Silent },
            });
            let targets: Vec<String> = (1..=servers)
                .map(|n| self.endpoint_host(&format!("server-{n}")))
                .collect();
            let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
            builder = builder.client(crate::script::ClientKind::Pool, &targets);
        }
        for scheduled in self.scheduled_faults() {
            builder = builder.fault_at(scheduled.at, scheduled.heal_after, scheduled.fault);
        }
        builder.build()
    }

    /// The case's faults in order, leaving out any that would crash or
    /// restart a server while an earlier one has it down (scripts refuse
    /// that; see `script::validate`).
    fn scheduled_faults(&self) -> Vec<ScheduledFault> {
        let mut kept: Vec<ScheduledFault> = Vec::new();
        for spec in &self.faults {
            let Some((heal_after, fault)) = self.fault(spec) else {
                continue;
            };
            let candidate = ScheduledFault {
                at: ms(spec.at_ms),
                heal_after,
                fault,
            };
            let clashes = |other: &ScheduledFault| match (candidate.downtime(), other.downtime()) {
                (Some((hosts, start, end)), Some((others, s, e))) => {
                    hosts.iter().any(|h| others.contains(h)) && start < e && s < end
                }
                _ => false,
            };
            if !kept.iter().any(clashes) {
                kept.push(candidate);
            }
        }
        kept
    }

    /// The fault `spec` stands for, and when it heals; `None` for `Nat`,
    /// which is a topology choice, not a fault.
    fn fault(&self, spec: &FaultSpec) -> Option<(Option<Duration>, Fault)> {
        let server = self.server(spec.target);
        let endpoint = self.endpoint_host(&server);
        let client = CLIENT_HOST.to_owned();
        let hold = Some(ms(spec.hold_ms));
        let p = spec.param;
        let storm = |mode| {
            Fault::GoawayStorm(GoawayStorm {
                hosts: vec![server.clone()],
                // Half the storms repeat, every 0.5 s to 2.5 s; never a
                // "too_many_pings" one: each complaint doubles keepalive
                // for good, and after a dozen no run could wait out the
                // detection of a dead connection (see `keepalive_allowance`).
                every: (!p.is_multiple_of(2) && mode != GoawayMode::TooManyPings)
                    .then(|| ms(500 + p * 2)),
                mode,
            })
        };
        let fault = match spec.kind {
            FaultKind::BlackHole => Fault::BlackHole(BlackHole {
                a: client,
                b: endpoint,
            }),
            FaultKind::Partition => Fault::Partition(Partition {
                a: vec![client],
                b: vec![endpoint],
            }),
            FaultKind::OneWayPartition if p.is_multiple_of(2) => {
                Fault::OneWayPartition(OneWayPartition {
                    from: vec![client],
                    to: vec![endpoint],
                })
            }
            FaultKind::OneWayPartition => Fault::OneWayPartition(OneWayPartition {
                from: vec![endpoint],
                to: vec![client],
            }),
            FaultKind::LossyLink => Fault::LossyLink(LossyLink {
                a: vec![client],
                b: vec![endpoint],
                latency: Some(ms(p % 50)),
                jitter: None,
                loss_permille: u16::try_from(1 + p % 200).unwrap_or(200),
            }),
            FaultKind::ServerCrash | FaultKind::SilentCrash => Fault::ServerCrash(ServerCrash {
                hosts: vec![server],
                silent: spec.kind == FaultKind::SilentCrash,
            }),
            FaultKind::SlowServer => Fault::SlowServer(SlowServer {
                hosts: vec![server],
                added_latency: ms(50 + p * 2),
            }),
            FaultKind::FailingServer => Fault::FailingServer(FailingServer {
                hosts: vec![server],
                failure_percent: u8::try_from(10 + p % 91).unwrap_or(100),
                code: [
                    StatusCode::Unavailable,
                    StatusCode::Internal,
                    StatusCode::ResourceExhausted,
                ][(p % 3) as usize],
            }),
            FaultKind::GracefulRestart => {
                return Some((
                    None,
                    Fault::GracefulRestart(GracefulRestart {
                        hosts: vec![server],
                        drain_timeout: DRAIN_TIMEOUT,
                        downtime: ms(spec.hold_ms),
                    }),
                ));
            }
            FaultKind::GoawayGraceful => storm(GoawayMode::Graceful),
            FaultKind::GoawayAbrupt => storm(GoawayMode::Abrupt),
            FaultKind::TooManyPings => storm(GoawayMode::TooManyPings),
            FaultKind::Nat => return None,
        };
        Some((hold, fault))
    }
}
