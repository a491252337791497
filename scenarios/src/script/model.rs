//! The script model: plain data, the same whether it came from a TOML file
//! ([`Script::parse`](crate::Script::parse)) or from Rust
//! ([`Script::builder`](crate::Script::builder)).
//!
//! This is the file's schema: the sections below `Script` derive
//! `Deserialize` with `deny_unknown_fields`, so a misspelt key is an error,
//! not a silent default. What the `[pool]` overrides mean as a
//! `PoolConfig` is in `pool_config`; the world a script describes, in `world`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use squall_sim::{Call, Pace, Ramp, RampPoint, ScheduledFault, StatusCode, WeightedCall};

use crate::script::duration;

/// The seed used when neither the script nor `--seed` gives one.
pub const DEFAULT_SEED: u64 = 1;

/// A fault script: a world to build, load to drive, faults to inject, and
/// what must hold afterwards.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// The file's stem (`black-hole` for `black-hole.toml`).
    pub name: String,
    /// One line, for `squall list`.
    pub description: String,
    /// The seed to run with when none is given on the command line.
    pub seed: Option<u64>,
    /// The load runs from `load.start` until here.
    pub duration: Duration,
    /// The run is cut off here; `None`: `duration` + [`Script::SETTLE_TIME`].
    pub time_limit: Option<Duration>,
    pub topology: Topology,
    pub client: Client,
    pub pool: PoolOverrides,
    /// `[load]`: squall's load on the echo service. `None` only in a
    /// script for a user's world whose own client program replaces it.
    pub load: Option<Load>,
    pub faults: Vec<ScheduledFault>,
    pub expect: Expect,
    /// `world = "..."`: the user's world (`squall_sim::UserWorld`) the
    /// script runs in, by name; `None`: squall's echo world.
    pub world: Option<String>,
}

impl Script {
    /// Time given after `duration` for the last deadlines and the pool's
    /// shutdown, when the script sets no `time_limit`.
    pub const SETTLE_TIME: Duration = Duration::from_secs(10);

    /// The seed a run uses when none is given.
    pub fn default_seed(&self) -> u64 {
        self.seed.unwrap_or(DEFAULT_SEED)
    }

    /// When the run is cut off.
    pub fn time_limit(&self) -> Duration {
        self.time_limit.unwrap_or(self.duration + Self::SETTLE_TIME)
    }

    /// When the last fault is over: healed, or for a graceful restart,
    /// the server back after its drain and downtime. `None` if a fault
    /// never heals; no faults: time zero.
    pub fn last_fault_end(&self) -> Option<Duration> {
        self.faults
            .iter()
            .try_fold(Duration::ZERO, |last, scheduled| {
                Some(last.max(scheduled.end()?))
            })
    }
}

/// `[topology]`: the hosts besides `client`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// Echo servers `server-1..=server-N`.
    pub servers: usize,
    /// The SETTINGS_MAX_CONCURRENT_STREAMS every server announces.
    /// Default: hyper's, 200.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_streams: Option<u32>,
    /// `[[topology.middleboxes]]` (NAT and the like). Read so that scripts
    /// written for them get a clear, positioned "not supported yet" error
    /// rather than "unknown field"; typed once the simulator has them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub middleboxes: Vec<toml::Table>,
}

/// `[client]`: what the client host runs and which hosts it dials.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    #[serde(default)]
    pub kind: ClientKind,
    /// Host names; empty in the file means every server.
    #[serde(default)]
    pub targets: Vec<String>,
}

/// `client.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientKind {
    /// A squall pool (with `[pool]` overrides).
    #[default]
    Pool,
    /// One tonic `Channel` with tonic's defaults; several targets are
    /// dialled in turn, one per connection attempt.
    TonicChannel,
    /// One tonic `Channel` with HTTP/2 keepalive on (interval and timeout
    /// from `[pool.keepalive]`, the pool's defaults if unset).
    TonicChannelKeepalive,
    /// tonic's `Channel::balance_list` over every target.
    TonicBalance,
}

impl ClientKind {
    /// Every kind, the pool first: the clients `squall peers` compares.
    pub const ALL: [ClientKind; 4] = [
        ClientKind::Pool,
        ClientKind::TonicChannel,
        ClientKind::TonicChannelKeepalive,
        ClientKind::TonicBalance,
    ];

    /// Its name in scripts: `tonic-channel`.
    pub fn name(self) -> &'static str {
        match self {
            ClientKind::Pool => "pool",
            ClientKind::TonicChannel => "tonic-channel",
            ClientKind::TonicChannelKeepalive => "tonic-channel-keepalive",
            ClientKind::TonicBalance => "tonic-balance",
        }
    }

    /// Whether it is one of tonic's clients rather than squall's pool.
    pub fn is_tonic(self) -> bool {
        self != ClientKind::Pool
    }
}

/// `[pool]`: overrides of `squall_pool::PoolConfig::default()`, field names as in
/// `pool/src/config.rs`. Unset fields keep the pool's defaults.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PoolOverrides {
    pub connections_per_endpoint: Option<usize>,
    /// Above `connections_per_endpoint`: the pool may scale up to this.
    pub max_connections_per_endpoint: Option<usize>,
    /// The pool's own cap on RPCs per connection (the servers' limit is
    /// `[topology] max_concurrent_streams`).
    pub max_streams_per_connection: Option<usize>,
    #[serde(
        default,
        deserialize_with = "duration::optional",
        serialize_with = "duration::ser_optional"
    )]
    pub default_rpc_timeout: Option<Duration>,
    #[serde(
        default,
        deserialize_with = "duration::optional",
        serialize_with = "duration::ser_optional"
    )]
    pub shutdown_grace: Option<Duration>,
    /// `None`: the run's seed, so `--seed` also varies the pool's choices.
    pub rng_seed: Option<u64>,
    /// Replace each connection after it has been ready this long (the
    /// pool's client-side max age; unset by default).
    #[serde(
        default,
        deserialize_with = "duration::optional",
        serialize_with = "duration::ser_optional"
    )]
    pub max_connection_age: Option<Duration>,
    /// Each connection's age limit scaled by a factor drawn from
    /// `1 ± this`, in [0, 1).
    pub max_connection_age_jitter: Option<f64>,
    /// How long a connection past its age may drain its RPCs.
    #[serde(
        default,
        deserialize_with = "duration::optional",
        serialize_with = "duration::ser_optional"
    )]
    pub max_connection_age_grace: Option<Duration>,
    /// A unary request's HEADERS and DATA in one write (one segment).
    pub coalesce_request_writes: Option<bool>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub keepalive: KeepaliveOverrides,
    #[serde(default, skip_serializing_if = "is_default")]
    pub backoff: BackoffOverrides,
    /// `[pool.limiter]`: present, the limiter is on, with these overrides
    /// of `LimiterConfig::default()`.
    pub limiter: Option<LimiterOverrides>,
    /// `[pool.breaker]`: present, a breaker per endpoint is on, with these
    /// overrides of `BreakerConfig::default()`.
    pub breaker: Option<BreakerOverrides>,
    /// `[pool.hedging]`: present, idempotent calls (`load.idempotent`) are
    /// hedged, with these overrides of `HedgingConfig::default()`.
    pub hedging: Option<HedgingOverrides>,
}

/// `[pool.hedging]`: overrides of `HedgingConfig::default()`.
/// `non_fatal_status_codes` replaces the default (empty) set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HedgingOverrides {
    pub max_attempts: Option<u32>,
    #[serde(
        default,
        deserialize_with = "duration::optional",
        serialize_with = "duration::ser_optional"
    )]
    pub hedging_delay: Option<Duration>,
    pub non_fatal_status_codes: Option<Vec<StatusCode>>,
}

/// Leaves an all-default section out of a written script.
fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// `[pool.keepalive]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeepaliveOverrides {
    #[serde(
        default,
        deserialize_with = "duration::optional",
        serialize_with = "duration::ser_optional"
    )]
    pub interval: Option<Duration>,
    #[serde(
        default,
        deserialize_with = "duration::optional",
        serialize_with = "duration::ser_optional"
    )]
    pub timeout: Option<Duration>,
    pub while_idle: Option<bool>,
}

/// `[pool.backoff]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BackoffOverrides {
    #[serde(
        default,
        deserialize_with = "duration::optional",
        serialize_with = "duration::ser_optional"
    )]
    pub initial: Option<Duration>,
    pub multiplier: Option<f64>,
    pub jitter: Option<f64>,
    #[serde(
        default,
        deserialize_with = "duration::optional",
        serialize_with = "duration::ser_optional"
    )]
    pub max: Option<Duration>,
    #[serde(
        default,
        deserialize_with = "duration::optional",
        serialize_with = "duration::ser_optional"
    )]
    pub min_connect_timeout: Option<Duration>,
}

/// `[pool.limiter]`: overrides of `squall_pool::limit::LimiterConfig`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LimiterOverrides {
    pub max_concurrency: Option<usize>,
    /// `rate = { per_second = 100, burst = 20 }`; default: no rate limit.
    pub rate: Option<RateOverride>,
    pub max_queue_len: Option<usize>,
    #[serde(
        default,
        deserialize_with = "duration::optional",
        serialize_with = "duration::ser_optional"
    )]
    pub max_queue_wait: Option<Duration>,
}

/// `pool.limiter.rate`: a token bucket; both fields are required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateOverride {
    pub per_second: u32,
    pub burst: u32,
}

/// `[pool.breaker]`: overrides of `squall_pool::breaker::BreakerConfig`.
/// `failure_codes` and `ignored_codes` replace the default sets (of the
/// breaker's `failure_predicate`) rather than adding to them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerOverrides {
    pub failure_rate_threshold: Option<u8>,
    pub slow_call_rate_threshold: Option<u8>,
    #[serde(
        default,
        deserialize_with = "duration::optional",
        serialize_with = "duration::ser_optional"
    )]
    pub slow_call_duration: Option<Duration>,
    pub minimum_calls: Option<u32>,
    /// `{ count = 20 }` (the last 20 calls) or `{ time = "10s" }`.
    pub sliding_window: Option<WindowOverride>,
    #[serde(
        default,
        deserialize_with = "duration::optional",
        serialize_with = "duration::ser_optional"
    )]
    pub wait_in_open: Option<Duration>,
    pub permitted_in_half_open: Option<u32>,
    /// Status names as in gRPC's spec: `["UNAVAILABLE", "DEADLINE_EXCEEDED"]`.
    pub failure_codes: Option<Vec<StatusCode>>,
    pub ignored_codes: Option<Vec<StatusCode>>,
}

/// `pool.breaker.sliding_window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowOverride {
    /// The last `n` calls.
    Count(u32),
    /// The calls of the last `d`.
    Time(
        #[serde(
            deserialize_with = "duration::required",
            serialize_with = "duration::ser"
        )]
        Duration,
    ),
}

/// `[load]`: RPCs at a rate (open loop) or from a fixed number of callers
/// (closed loop), plain unary echoes or a weighted mix of calls.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    /// First RPC at this simulated time.
    #[serde(
        default,
        deserialize_with = "duration::required",
        serialize_with = "duration::ser"
    )]
    pub start: Duration,
    /// RPCs per second, 1..=[`Load::MAX_RATE`]. Exactly one of `rate`,
    /// `interval` and `concurrency` is given.
    #[serde(default)]
    pub rate: Option<u32>,
    /// Time between two RPCs, for loads slower than one per second (e.g.
    /// `"20s"`, so a NAT flow idles between calls).
    #[serde(
        default,
        deserialize_with = "duration::optional",
        serialize_with = "duration::ser_optional"
    )]
    pub interval: Option<Duration>,
    /// Closed loop: this many callers (1..=1024), each sending its next RPC
    /// `think` after its previous one ended.
    #[serde(default)]
    pub concurrency: Option<u32>,
    /// A closed-loop caller's pause between two RPCs; required with
    /// `concurrency`, and at least [`Load::min_think`] so that the callers
    /// together can never exceed [`Load::MAX_RATE`].
    #[serde(
        default,
        deserialize_with = "duration::optional",
        serialize_with = "duration::ser_optional"
    )]
    pub think: Option<Duration>,
    /// Each RPC's deadline (unless its mix entry sets one).
    #[serde(
        deserialize_with = "duration::required",
        serialize_with = "duration::ser"
    )]
    pub deadline: Duration,
    /// `[[load.mix]]`: which calls, by weight. Empty: plain unary echoes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mix: Vec<MixEntry>,
    /// `[[load.ramp]]`: an open loop whose rate follows these points
    /// (linear between them), instead of `rate`, `interval` or
    /// `concurrency`. Empty: no ramp.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ramp: Vec<RampEntry>,
    /// Every RPC is marked idempotent (`squall_pool::Idempotent`), so
    /// `[pool.hedging]` may send it more than once. Default false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub idempotent: bool,
}

/// One `[[load.ramp]]` point: at this simulated time, this many RPCs per
/// second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RampEntry {
    #[serde(
        deserialize_with = "duration::required",
        serialize_with = "duration::ser"
    )]
    pub at: Duration,
    /// RPCs per second, 1..=[`Load::MAX_RATE`].
    pub rate: u32,
}

/// One `[[load.mix]]` entry. Which of `delay`, `code`, `count` and
/// `interval` it needs depends on `call`; validation says.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MixEntry {
    pub call: CallName,
    /// Relative weight, 1..=1000.
    pub weight: u32,
    /// This call's deadline; default: `load.deadline`.
    #[serde(
        default,
        deserialize_with = "duration::optional",
        serialize_with = "duration::ser_optional"
    )]
    pub deadline: Option<Duration>,
    /// `slow-echo`: how long the server waits before answering.
    #[serde(
        default,
        deserialize_with = "duration::optional",
        serialize_with = "duration::ser_optional"
    )]
    pub delay: Option<Duration>,
    /// `failing-echo`: the status the server fails the call with.
    pub code: Option<StatusCode>,
    /// `echo-stream`: how many replies.
    pub count: Option<u32>,
    /// `echo-stream`: time between two replies.
    #[serde(
        default,
        deserialize_with = "duration::optional",
        serialize_with = "duration::ser_optional"
    )]
    pub interval: Option<Duration>,
}

/// `load.mix[].call`: the echo server's calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallName {
    /// Unary `Echo`, answered at once.
    Echo,
    /// Unary `Echo` the server answers after `delay`.
    SlowEcho,
    /// Unary `Echo` the server fails with `code`.
    FailingEcho,
    /// Server-streaming `EchoStream`: `count` replies `interval` apart.
    EchoStream,
    /// `grpc.health.v1.Health/Check` of the echo service.
    HealthCheck,
}

impl CallName {
    /// As written in scripts.
    pub fn name(self) -> &'static str {
        match self {
            CallName::Echo => "echo",
            CallName::SlowEcho => "slow-echo",
            CallName::FailingEcho => "failing-echo",
            CallName::EchoStream => "echo-stream",
            CallName::HealthCheck => "health-check",
        }
    }

    /// The optional entry fields this call takes (besides `call`,
    /// `weight`, `deadline`); all of them are required for it.
    pub(crate) fn fields(self) -> &'static [&'static str] {
        match self {
            CallName::Echo | CallName::HealthCheck => &[],
            CallName::SlowEcho => &["delay"],
            CallName::FailingEcho => &["code"],
            CallName::EchoStream => &["count", "interval"],
        }
    }
}

impl MixEntry {
    /// An entry of `call` with `weight` and no call fields.
    pub fn new(call: CallName, weight: u32) -> Self {
        Self {
            call,
            weight,
            deadline: None,
            delay: None,
            code: None,
            count: None,
            interval: None,
        }
    }

    pub fn echo(weight: u32) -> Self {
        Self::new(CallName::Echo, weight)
    }

    pub fn slow_echo(weight: u32, delay: Duration) -> Self {
        Self {
            delay: Some(delay),
            ..Self::new(CallName::SlowEcho, weight)
        }
    }

    pub fn failing_echo(weight: u32, code: StatusCode) -> Self {
        Self {
            code: Some(code),
            ..Self::new(CallName::FailingEcho, weight)
        }
    }

    pub fn echo_stream(weight: u32, count: u32, interval: Duration) -> Self {
        Self {
            count: Some(count),
            interval: Some(interval),
            ..Self::new(CallName::EchoStream, weight)
        }
    }

    pub fn health_check(weight: u32) -> Self {
        Self::new(CallName::HealthCheck, weight)
    }

    /// This entry with its own deadline.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Names of the call fields this entry sets.
    pub(crate) fn fields_set(&self) -> Vec<&'static str> {
        [
            ("delay", self.delay.is_some()),
            ("code", self.code.is_some()),
            ("count", self.count.is_some()),
            ("interval", self.interval.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }

    /// The simulator's call. Expects a validated entry; a missing field
    /// takes a zero value, which the simulator rejects where it matters.
    pub fn weighted_call(&self) -> WeightedCall {
        let call = match self.call {
            CallName::Echo => Call::Echo,
            CallName::SlowEcho => Call::SlowEcho {
                delay: self.delay.unwrap_or_default(),
            },
            CallName::FailingEcho => Call::FailingEcho {
                code: self.code.unwrap_or(StatusCode::Unknown),
            },
            CallName::EchoStream => Call::EchoStream {
                count: self.count.unwrap_or(0),
                interval: self.interval.unwrap_or_default(),
            },
            CallName::HealthCheck => Call::HealthCheck,
        };
        WeightedCall {
            weight: self.weight,
            call,
            deadline: self.deadline,
        }
    }
}

/// The builder's load: from 1 s, 10 echoes a second, 1 s deadlines.
impl Default for Load {
    fn default() -> Self {
        Self {
            start: Duration::from_secs(1),
            rate: Some(10),
            interval: None,
            concurrency: None,
            think: None,
            deadline: Duration::from_secs(1),
            mix: Vec::new(),
            ramp: Vec::new(),
            idempotent: false,
        }
    }
}

impl Load {
    /// Highest rate a script may ask for: bounds a run's trace and time.
    /// A closed loop is held to it too (see [`Load::min_think`]).
    pub const MAX_RATE: u32 = 10_000;
    /// Most closed-loop callers.
    pub const MAX_CONCURRENCY: u32 = squall_sim::LoadConfig::MAX_CALLERS;

    /// The shortest `think` for `concurrency` callers: each caller sends at
    /// most once per `think`, so `concurrency / think` RPCs per second at
    /// most, which must not exceed [`Load::MAX_RATE`]. Never below 1 ms, the
    /// simulation's tick.
    pub fn min_think(concurrency: u32) -> Duration {
        let per_caller = Duration::from_nanos(1_000_000_000 / u64::from(Self::MAX_RATE));
        (per_caller * concurrency).max(Duration::from_millis(1))
    }

    /// When RPCs are sent: closed loop with `concurrency`, else open loop.
    /// Expects a validated load.
    pub fn pace(&self) -> Pace {
        if !self.ramp.is_empty() {
            let points = self
                .ramp
                .iter()
                .map(|p| RampPoint {
                    at: p.at,
                    rate: p.rate,
                })
                .collect();
            // Validation has checked the points; were they wrong, a zero
            // interval makes the simulator reject the world, not panic.
            return Ramp::new(points).map_or(
                Pace::Open {
                    interval: Duration::ZERO,
                },
                Pace::Ramp,
            );
        }
        match self.concurrency {
            Some(callers) => Pace::Closed {
                callers,
                think: self.think.unwrap_or_default(),
            },
            None => Pace::Open {
                interval: self.period(),
            },
        }
    }

    /// Time between two RPCs of an open loop. Expects a validated load
    /// (exactly one of `rate` and `interval`, non-zero).
    pub fn period(&self) -> Duration {
        match (self.rate, self.interval) {
            (_, Some(interval)) => interval,
            (rate, None) => {
                Duration::from_nanos(1_000_000_000 / u64::from(rate.unwrap_or(1).max(1)))
            }
        }
    }
}

/// `[expect]`: what the run must show, beyond the checks every run gets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Every connection a black hole cuts off is closed within this.
    #[serde(
        default,
        deserialize_with = "duration::optional",
        serialize_with = "duration::ser_optional"
    )]
    pub detection_within: Option<Duration>,
    /// At most this many RPCs fail.
    pub max_failed_rpcs: Option<u64>,
    /// The pool's shutdown leaves no task running and every connection it
    /// opened reaches Closed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_leaks: bool,
    /// Every server a failing-server fault hits has its breaker OPEN within
    /// this of the fault's start. Needs `[pool.breaker]`.
    #[serde(
        default,
        deserialize_with = "duration::optional",
        serialize_with = "duration::ser_optional"
    )]
    pub breaker_opens_within: Option<Duration>,
    /// ... and CLOSED again, through HALF_OPEN, within this of its heal.
    #[serde(
        default,
        deserialize_with = "duration::optional",
        serialize_with = "duration::ser_optional"
    )]
    pub breaker_closes_within: Option<Duration>,
    /// Within this of the last fault's end, every endpoint is back at full
    /// capacity and every RPC sent from then on succeeds. Needs every fault
    /// to heal.
    #[serde(
        default,
        deserialize_with = "duration::optional",
        serialize_with = "duration::ser_optional"
    )]
    pub live_within: Option<Duration>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `concurrency / min_think` never exceeds `MAX_RATE`, and the floor is
    /// the simulation's 1 ms tick.
    #[test]
    fn min_think_bounds_the_closed_loop_rate() {
        assert_eq!(Load::min_think(1), Duration::from_millis(1));
        assert_eq!(Load::min_think(10), Duration::from_millis(1));
        assert_eq!(Load::min_think(100), Duration::from_millis(10));
        assert_eq!(Load::min_think(1024), Duration::from_micros(102_400));
        for n in [1, 7, 10, 11, 333, 1024] {
            let rate = f64::from(n) / Load::min_think(n).as_secs_f64();
            assert!(rate <= f64::from(Load::MAX_RATE) + 1e-6, "{n}: {rate}");
        }
    }

    #[test]
    fn mix_entries_become_the_simulators_calls() {
        let entry = MixEntry::echo_stream(3, 5, Duration::from_millis(10))
            .with_deadline(Duration::from_secs(2));
        assert_eq!(
            entry.weighted_call(),
            WeightedCall {
                weight: 3,
                call: Call::EchoStream {
                    count: 5,
                    interval: Duration::from_millis(10)
                },
                deadline: Some(Duration::from_secs(2)),
            }
        );
        assert_eq!(entry.fields_set(), ["count", "interval"]);
        assert_eq!(
            MixEntry::failing_echo(1, StatusCode::Internal)
                .weighted_call()
                .call,
            Call::FailingEcho {
                code: StatusCode::Internal
            }
        );
    }
}
