//! The slot's loop as a state machine: where a slot is, and what it does
//! next. Pure: the slot task (`slot.rs`) performs each [`Action`] and
//! reports its [`Outcome`]; [`SlotMachine::step`] decides the next action,
//! and owns the attempt count and the backoff schedule.
//!
//! ```text
//!             shutting down, removed              halted, or stopped serving
//!   Between ───────────────────────▶ Stopped ◀─── (Asleep, Dormant, Dialing, Serving)
//!    │ ▲ ▲
//!    │ │ └─────── waited ──────── BackingOff ◀── failed ──── Dialing
//!    │ │                              ▲                       ▲   │ connected
//!    │ │                              └─── died young ───┐    │   ▼
//!    │ └── retired, lived, carried RPCs; extra: any end ──── Serving
//!    │
//!    ├── idle ───────────────────▶ Asleep ── woken ───────────────▶ Dialing
//!    │                               └── woken, extra ─▶ Dormant
//!    ├── extra, none retiring ─────────────────────────▶ Dormant ── woken ─▶ Dialing
//!    └── otherwise ────────────────────────────────────────────────────────▶ Dialing
//! ```
//!
//! "Extra" is an extra slot (scaling); it goes dormant only while no
//! connection retiring for its age waits for it. "Died young" includes a
//! connection sent away before it proved itself. Every way into `Dialing` from `Asleep` or `Dormant` restarts
//! the attempts.
//!
//! | state | outcome | next state | action |
//! | --- | --- | --- | --- |
//! | `Between` | looked: shutting down | `Stopped` | `Stop` |
//! | `Between` | looked: endpoint removed | `Stopped` | `EndRemoved` |
//! | `Between` | looked: pool idle | `Asleep` | `WaitAwake` |
//! | `Between` | looked: extra slot, no connection retiring | `Dormant` | `Sleep` |
//! | `Between` | looked: otherwise | `Dialing` | `Dial` (attempt + 1) |
//! | `Asleep` | woken: extra slot, no connection retiring | `Dormant` | `Sleep` |
//! | `Asleep` | woken: otherwise | `Dialing` | `Dial` (attempt 1) |
//! | `Dormant` | woken | `Dialing` | `Dial` (attempt 1) |
//! | `Asleep`, `Dormant`, `Dialing` | halted | `Stopped` | `Stop` |
//! | `Dialing` | dial failed | `BackingOff` | `Wait`, announced |
//! | `Dialing` | connected | `Serving` | `Serve` |
//! | `Serving` | stopped | `Stopped` | `Stop` |
//! | `Serving` | retired | `Between` (attempt 0) | `Look` |
//! | `Serving` | sent away or closed, extra slot | `Between` | `Look` |
//! | `Serving` | sent away, lived or carried RPCs | `Between` (attempt 0) | `Look`, keeping the replacement |
//! | `Serving` | sent away otherwise | `BackingOff` | `Wait`, silent |
//! | `Serving` | closed, lived | `Between` (attempt 0) | `Look`, keeping the replacement |
//! | `Serving` | closed, died young | `BackingOff` | `Wait`, announced |
//! | `BackingOff` | waited | `Between` | `Look` |
//!
//! Any other pair is an [`IllegalOutcome`]: a bug in the driver.
//!
//! "Lived" means up for at least the backoff's `initial` delay: a connection
//! that stayed up that long proves the endpoint healthy, so the slot redials
//! at once from the start of the schedule. One that died younger counts as a
//! failed attempt, so a server that accepts and immediately drops (or sends
//! away) connections is not redialled in a hot loop.

use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use crate::{config::BackoffConfig, conn::backoff::Backoff};

/// Where a slot is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SlotState {
    /// Between connections, after `attempt` consecutive attempts without a
    /// healthy connection: the slot looks at the pool before it dials.
    Between { attempt: u32 },
    /// The pool is idle: the slot waits for an RPC to wake it. `retiring`:
    /// a connection retiring for its age waits for this slot's next one.
    Asleep { retiring: bool },
    /// An extra slot (scaling), asleep until the pool needs room.
    Dormant,
    /// Dialling the `attempt`th consecutive attempt.
    Dialing { attempt: u32 },
    /// Serving RPCs on a ready connection; should it die young, the next
    /// attempt starts no earlier than `retry_at`.
    Serving { attempt: u32, retry_at: Instant },
    /// Waiting out the backoff until `until`.
    BackingOff { attempt: u32, until: Instant },
    /// The slot's task has ended: the pool shut down or the endpoint was
    /// removed.
    Stopped,
}

/// What the slot saw, or what came of its last action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// What the slot saw when it looked at the pool (from `Between`).
    Looked(Sight),
    /// An RPC woke the idle pool, or the pool asked an extra slot for room
    /// (from `Asleep`, `Dormant`).
    Woken,
    /// The pool shut down or the endpoint was removed while the slot waited
    /// or dialled (from `Asleep`, `Dormant`, `Dialing`).
    Halted,
    /// The dial failed or timed out; the next attempt starts no earlier
    /// than `retry_at` (from `Dialing`).
    DialFailed { retry_at: Instant },
    /// The connection is ready (from `Dialing`).
    Connected { retry_at: Instant },
    /// Serving ended (from `Serving`).
    Served(Ending),
    /// The backoff wait is over, or was cut short by shutdown, removal or
    /// the pool going idle (from `BackingOff`).
    Waited,
}

/// What the slot sees when it looks at the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Sight {
    pub(super) shutting_down: bool,
    pub(super) removed: bool,
    /// The pool is idle (it has an idle timeout, and it expired).
    pub(super) idle: bool,
    /// A connection retiring for its age waits for this slot's next one.
    pub(super) retiring: bool,
}

/// How serving a ready connection ended, as far as the slot's next move
/// is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ending {
    /// Drained and closed for shutdown or the endpoint's removal.
    Stopped,
    /// Retired healthy: drained because the pool went idle or an extra
    /// connection was quiet, or left serving until its replacement is ready
    /// (age limit, stream ids used).
    Retired,
    /// The server sent it away (GOAWAY) `lived_for` after it became ready;
    /// `carried_rpcs`: it carried at least one RPC.
    SentAway {
        lived_for: Duration,
        carried_rpcs: bool,
    },
    /// It closed by itself (peer, keepalive, error) `lived_for` after it
    /// became ready.
    Closed { lived_for: Duration },
}

/// What the slot does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    /// Release what the last connection left, then look at the pool
    /// ([`Outcome::Looked`]). `keep_replacing`: the last connection was
    /// sent away and proved healthy, so its replacement stays counted
    /// (fail-fast RPCs wait for it) until the next dial ends.
    Look { keep_replacing: bool },
    /// Wait for an RPC to wake the idle pool.
    WaitAwake,
    /// Sleep until the pool asks this extra slot for room.
    Sleep,
    /// Dial attempt `attempt`, giving it `connect_timeout`; the next
    /// attempt starts no earlier than `delay` after this one starts.
    Dial {
        attempt: u32,
        delay: Duration,
        connect_timeout: Duration,
    },
    /// Serve RPCs on the connection just dialled.
    Serve,
    /// Wait until `until`. `announce`: emit a `Backoff` event first; a
    /// connection sent away is still draining, so its wait is silent.
    Wait { until: Instant, announce: bool },
    /// The endpoint was removed while the slot had no connection: publish
    /// the slot as shut down, then end.
    EndRemoved,
    /// End the slot's task.
    Stop,
}

/// An outcome arrived in a state where it cannot happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("illegal slot transition: {outcome:?} in state {state:?}")]
pub(super) struct IllegalOutcome {
    pub(super) state: SlotState,
    pub(super) outcome: Outcome,
}

/// One slot's state, with what it needs to decide.
#[derive(Debug, Clone)]
pub(super) struct SlotMachine {
    state: SlotState,
    /// An extra slot (scaling): dormant between connections.
    extra: bool,
    backoff: Backoff,
    /// gRPC: every attempt gets at least this long to connect.
    min_connect_timeout: Duration,
    /// A connection up at least this long proved the endpoint healthy
    /// (the backoff's `initial` delay).
    healthy_after: Duration,
}

impl SlotMachine {
    /// A new slot's machine, and its first action.
    pub(super) fn new(extra: bool, config: BackoffConfig) -> (Self, Action) {
        let machine = Self {
            state: SlotState::Between { attempt: 0 },
            extra,
            backoff: Backoff::new(config),
            min_connect_timeout: config.min_connect_timeout,
            healthy_after: config.initial,
        };
        (
            machine,
            Action::Look {
                keep_replacing: false,
            },
        )
    }

    /// The transition function: moves to the next state for `outcome` and
    /// returns the action to perform. `rng` jitters the backoff delay of a
    /// new dial (the only draw). An illegal outcome leaves the state as it
    /// was.
    pub(super) fn step(
        &mut self,
        outcome: Outcome,
        rng: &mut impl Rng,
    ) -> Result<Action, IllegalOutcome> {
        use {Outcome as O, SlotState as S};
        let (next, action) = match (self.state, outcome) {
            (S::Between { attempt }, O::Looked(sight)) => self.look(attempt, sight, rng),
            (S::Asleep { retiring }, O::Woken) => self.dormant_or_dial(0, retiring, rng),
            (S::Dormant, O::Woken) => self.dial(0, rng),
            (S::Asleep { .. } | S::Dormant | S::Dialing { .. }, O::Halted) => {
                (S::Stopped, Action::Stop)
            }
            (S::Dialing { attempt }, O::DialFailed { retry_at }) => {
                back_off(attempt, retry_at, true)
            }
            (S::Dialing { attempt }, O::Connected { retry_at }) => {
                (S::Serving { attempt, retry_at }, Action::Serve)
            }
            (S::Serving { attempt, retry_at }, O::Served(ending)) => {
                self.served(attempt, retry_at, ending)
            }
            (S::BackingOff { attempt, .. }, O::Waited) => between(attempt, false),
            (state, outcome) => return Err(IllegalOutcome { state, outcome }),
        };
        self.state = next;
        Ok(action)
    }

    /// Between connections: stop, sleep, or dial the next attempt.
    fn look(&mut self, attempt: u32, sight: Sight, rng: &mut impl Rng) -> (SlotState, Action) {
        if sight.shutting_down {
            (SlotState::Stopped, Action::Stop)
        } else if sight.removed {
            (SlotState::Stopped, Action::EndRemoved)
        } else if sight.idle {
            let retiring = sight.retiring;
            (SlotState::Asleep { retiring }, Action::WaitAwake)
        } else {
            self.dormant_or_dial(attempt, sight.retiring, rng)
        }
    }

    /// An extra slot sleeps until the pool needs room, unless a retiring
    /// connection waits for its replacement; any other slot dials.
    fn dormant_or_dial(
        &mut self,
        attempt: u32,
        retiring: bool,
        rng: &mut impl Rng,
    ) -> (SlotState, Action) {
        if self.extra && !retiring {
            (SlotState::Dormant, Action::Sleep)
        } else {
            self.dial(attempt, rng)
        }
    }

    /// The attempt after `attempt` consecutive ones, and its backoff delay.
    fn dial(&mut self, attempt: u32, rng: &mut impl Rng) -> (SlotState, Action) {
        if attempt == 0 {
            // The one place the schedule restarts: with the attempt count,
            // which is back to zero after a healthy connection or a wake-up.
            self.backoff.reset();
        }
        let attempt = attempt.saturating_add(1);
        let delay = self.backoff.next_delay(rng);
        // gRPC: an attempt gets at least min_connect_timeout, and the next
        // attempt starts no earlier than `delay` after this one started.
        let connect_timeout = delay.max(self.min_connect_timeout);
        debug_assert!(connect_timeout >= delay);
        let dial = Action::Dial {
            attempt,
            delay,
            connect_timeout,
        };
        (SlotState::Dialing { attempt }, dial)
    }

    /// After serving: stop, look again at once, or back off first.
    fn served(&self, attempt: u32, retry_at: Instant, ending: Ending) -> (SlotState, Action) {
        let lived = |lived_for: Duration| lived_for >= self.healthy_after;
        match ending {
            Ending::Stopped => (SlotState::Stopped, Action::Stop),
            Ending::Retired => between(0, false),
            // It goes dormant next, and waking restarts its attempts.
            Ending::SentAway { .. } | Ending::Closed { .. } if self.extra => {
                between(attempt, false)
            }
            // A connection that carried RPCs proved the endpoint healthy,
            // however short its life, and is replaced at once; one sent
            // away before any RPC is the accept-then-GOAWAY loop, redialled
            // on the backoff schedule like one that closes at once.
            Ending::SentAway {
                lived_for,
                carried_rpcs,
            } if lived(lived_for) || carried_rpcs => between(0, true),
            Ending::SentAway { .. } => back_off(attempt, retry_at, false),
            // Closed after a GOAWAY that came with the close (an abrupt
            // one): the replacement is on its way.
            Ending::Closed { lived_for } if lived(lived_for) => between(0, true),
            Ending::Closed { .. } => back_off(attempt, retry_at, true),
        }
    }
}

/// Back between connections after `attempt` attempts (0: the last
/// connection was healthy, and the attempts restart).
fn between(attempt: u32, keep_replacing: bool) -> (SlotState, Action) {
    (
        SlotState::Between { attempt },
        Action::Look { keep_replacing },
    )
}

fn back_off(attempt: u32, until: Instant, announce: bool) -> (SlotState, Action) {
    let wait = Action::Wait { until, announce };
    (SlotState::BackingOff { attempt, until }, wait)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    const SEED: u64 = 7;
    const SECOND: Duration = Duration::from_secs(1);

    /// A machine and the RNG it draws from, with helpers that feed it
    /// outcomes and expect them to be legal.
    struct Harness {
        machine: SlotMachine,
        rng: ChaCha8Rng,
        /// When the test's "now" is.
        now: Instant,
    }

    impl Harness {
        fn new(extra: bool) -> (Self, Action) {
            let (machine, first) = SlotMachine::new(extra, BackoffConfig::default());
            let harness = Self {
                machine,
                rng: ChaCha8Rng::seed_from_u64(SEED),
                now: Instant::now(),
            };
            (harness, first)
        }

        fn step(&mut self, outcome: Outcome) -> Action {
            self.machine.step(outcome, &mut self.rng).unwrap()
        }

        fn look(&mut self) -> Action {
            self.step(Outcome::Looked(Sight::default()))
        }

        fn retry_at(&self) -> Instant {
            self.now + SECOND
        }

        /// Looks, dials and connects; returns the dial's attempt number.
        fn connect(&mut self) -> u32 {
            let Action::Dial { attempt, .. } = self.look() else {
                panic!("expected a dial");
            };
            let retry_at = self.retry_at();
            assert_eq!(self.step(Outcome::Connected { retry_at }), Action::Serve);
            attempt
        }
    }

    /// The delays the slot should draw: the plain backoff schedule, from the
    /// same seed.
    fn schedule(n: usize) -> Vec<Duration> {
        let mut rng = ChaCha8Rng::seed_from_u64(SEED);
        let mut backoff = Backoff::new(BackoffConfig::default());
        (0..n).map(|_| backoff.next_delay(&mut rng)).collect()
    }

    fn dial_delay(action: Action) -> (u32, Duration) {
        match action {
            Action::Dial { attempt, delay, .. } => (attempt, delay),
            other => panic!("expected a dial, got {other:?}"),
        }
    }

    /// Failed dials count up and follow the backoff schedule, each waited
    /// out with a `Backoff` event; a connection that stayed up restarts the
    /// count and the schedule, which is what keeps a flapping endpoint from
    /// being redialled in a hot loop while a healthy one is redialled at once.
    #[test]
    fn failures_follow_the_schedule_and_a_healthy_connection_restarts_it() {
        let (mut h, first) = Harness::new(false);
        assert_eq!(
            first,
            Action::Look {
                keep_replacing: false
            }
        );
        let expected = schedule(4);
        for (n, want) in expected.iter().enumerate() {
            let (attempt, delay) = dial_delay(h.look());
            assert_eq!((attempt, delay), (n as u32 + 1, *want));
            let retry_at = h.retry_at();
            let wait = h.step(Outcome::DialFailed { retry_at });
            assert_eq!(
                wait,
                Action::Wait {
                    until: retry_at,
                    announce: true
                }
            );
            assert_eq!(
                h.step(Outcome::Waited),
                Action::Look {
                    keep_replacing: false
                }
            );
        }
        assert_eq!(h.machine.state, SlotState::Between { attempt: 4 });

        assert_eq!(h.connect(), 5);
        let lived = Ending::Closed { lived_for: SECOND };
        assert_eq!(
            h.step(Outcome::Served(lived)),
            Action::Look {
                keep_replacing: true
            }
        );
        assert_eq!(h.machine.state, SlotState::Between { attempt: 0 });
        // Unjittered: the first delay of a fresh schedule draws nothing.
        assert_eq!(dial_delay(h.look()), (1, SECOND));
    }

    /// gRPC gives every attempt at least `min_connect_timeout`, and longer
    /// when the backoff delay is longer.
    #[test]
    fn connect_timeout_is_at_least_the_minimum() {
        let config = BackoffConfig {
            min_connect_timeout: Duration::from_secs(2),
            ..BackoffConfig::default()
        };
        let (mut machine, _) = SlotMachine::new(false, config);
        let mut rng = ChaCha8Rng::seed_from_u64(SEED);
        let mut timeouts = Vec::new();
        for _ in 0..4 {
            let action = machine.step(Outcome::Looked(Sight::default()), &mut rng);
            let Ok(Action::Dial {
                delay,
                connect_timeout,
                ..
            }) = action
            else {
                panic!("expected a dial, got {action:?}");
            };
            assert_eq!(connect_timeout, delay.max(Duration::from_secs(2)));
            timeouts.push(connect_timeout);
            let retry_at = Instant::now();
            machine
                .step(Outcome::DialFailed { retry_at }, &mut rng)
                .unwrap();
            machine.step(Outcome::Waited, &mut rng).unwrap();
        }
        assert_eq!(
            timeouts[0],
            Duration::from_secs(2),
            "1 s delay, 2 s minimum"
        );
        assert!(
            timeouts[3] > Duration::from_secs(3),
            "grown past the minimum"
        );
    }

    /// A connection that died younger than `initial` counts as a failed
    /// attempt: the slot waits until the attempt's `retry_at`, announced,
    /// and the next dial is the next attempt on the schedule.
    #[test]
    fn a_connection_that_died_young_is_a_failed_attempt() {
        let (mut h, _) = Harness::new(false);
        assert_eq!(h.connect(), 1);
        let young = Ending::Closed {
            lived_for: SECOND - Duration::from_millis(1),
        };
        let until = h.retry_at();
        assert_eq!(
            h.step(Outcome::Served(young)),
            Action::Wait {
                until,
                announce: true
            }
        );
        assert_eq!(h.machine.state, SlotState::BackingOff { attempt: 1, until });
        h.step(Outcome::Waited);
        assert_eq!(dial_delay(h.look()), (2, schedule(2)[1]));
    }

    /// A connection sent away is replaced at once if it proved itself, by
    /// age or by carrying an RPC, and its replacement stays counted; one sent
    /// away before either waits out the backoff silently (it is still
    /// draining) and its replacement is not counted.
    #[test]
    fn a_connection_sent_away_is_replaced_at_once_only_if_it_proved_itself() {
        let young = Duration::from_millis(10);
        let cases = [
            (SECOND, false, true),
            (young, true, true),
            (young, false, false),
        ];
        for (lived_for, carried_rpcs, proven) in cases {
            let (mut h, _) = Harness::new(false);
            h.connect();
            let ending = Ending::SentAway {
                lived_for,
                carried_rpcs,
            };
            let action = h.step(Outcome::Served(ending));
            if proven {
                assert_eq!(
                    action,
                    Action::Look {
                        keep_replacing: true
                    }
                );
                assert_eq!(h.machine.state, SlotState::Between { attempt: 0 });
            } else {
                let until = h.retry_at();
                let silent = Action::Wait {
                    until,
                    announce: false,
                };
                assert_eq!(action, silent, "{ending:?}");
                assert_eq!(h.machine.state, SlotState::BackingOff { attempt: 1, until });
            }
        }
    }

    /// Retiring a healthy connection (idle, scale-down, age limit) restarts
    /// the attempts, even after a run of failures.
    #[test]
    fn retiring_restarts_the_attempts() {
        let (mut h, _) = Harness::new(false);
        let retry_at = h.retry_at();
        h.look();
        h.step(Outcome::DialFailed { retry_at });
        h.step(Outcome::Waited);
        assert_eq!(h.connect(), 2);
        let action = h.step(Outcome::Served(Ending::Retired));
        assert_eq!(
            action,
            Action::Look {
                keep_replacing: false
            }
        );
        assert_eq!(dial_delay(h.look()), (1, SECOND));
    }

    /// Shutdown wins over removal, removal over idleness, idleness over
    /// dialling; only a removal seen between connections publishes the
    /// slot as shut down (every other way out has closed a connection,
    /// which did).
    #[test]
    fn looking_stops_sleeps_or_dials_in_order() {
        let all = Sight {
            shutting_down: true,
            removed: true,
            idle: true,
            retiring: false,
        };
        let cases = [
            (all, SlotState::Stopped, Action::Stop),
            (
                Sight {
                    shutting_down: false,
                    ..all
                },
                SlotState::Stopped,
                Action::EndRemoved,
            ),
            (
                Sight {
                    idle: true,
                    ..Sight::default()
                },
                SlotState::Asleep { retiring: false },
                Action::WaitAwake,
            ),
        ];
        for (sight, state, action) in cases {
            let (mut h, _) = Harness::new(false);
            assert_eq!(h.step(Outcome::Looked(sight)), action, "{sight:?}");
            assert_eq!(h.machine.state, state);
        }
    }

    /// An idle pool's slot waits to be woken, and waking restarts its
    /// attempts: the pool was idle, not failing.
    #[test]
    fn waking_restarts_the_attempts() {
        let (mut h, _) = Harness::new(false);
        let retry_at = h.retry_at();
        h.look();
        h.step(Outcome::DialFailed { retry_at });
        h.step(Outcome::Waited);
        let idle = Sight {
            idle: true,
            ..Sight::default()
        };
        assert_eq!(h.step(Outcome::Looked(idle)), Action::WaitAwake);
        assert_eq!(dial_delay(h.step(Outcome::Woken)), (1, SECOND));
    }

    /// An extra slot is dormant between connections, unless a connection
    /// retiring for its age waits for its replacement; whatever ends its
    /// connection, it goes back to sleep rather than backing off.
    #[test]
    fn an_extra_slot_sleeps_between_connections() {
        let (mut h, _) = Harness::new(true);
        assert_eq!(h.look(), Action::Sleep);
        assert_eq!(h.machine.state, SlotState::Dormant);
        assert_eq!(dial_delay(h.step(Outcome::Woken)), (1, SECOND));
        let retry_at = h.retry_at();
        h.step(Outcome::Connected { retry_at });
        let young = Ending::SentAway {
            lived_for: Duration::ZERO,
            carried_rpcs: false,
        };
        let action = h.step(Outcome::Served(young));
        assert_eq!(
            action,
            Action::Look {
                keep_replacing: false
            }
        );
        assert_eq!(h.machine.state, SlotState::Between { attempt: 1 });
        assert_eq!(h.look(), Action::Sleep);

        // Idle first: woken, it still goes dormant.
        let (mut h, _) = Harness::new(true);
        let idle = Sight {
            idle: true,
            ..Sight::default()
        };
        h.step(Outcome::Looked(idle));
        assert_eq!(h.step(Outcome::Woken), Action::Sleep);

        // A retiring connection waits for this slot: it dials at once.
        let (mut h, _) = Harness::new(true);
        let retiring = Sight {
            retiring: true,
            ..Sight::default()
        };
        assert!(matches!(
            h.step(Outcome::Looked(retiring)),
            Action::Dial { attempt: 1, .. }
        ));
        let (mut h, _) = Harness::new(true);
        let idle_retiring = Sight {
            idle: true,
            ..retiring
        };
        h.step(Outcome::Looked(idle_retiring));
        assert!(matches!(
            h.step(Outcome::Woken),
            Action::Dial { attempt: 1, .. }
        ));
    }

    /// Every wait and the dial end the slot when the pool shuts down or the
    /// endpoint is removed, as does a connection drained for either.
    #[test]
    fn halting_and_stopped_serving_end_the_slot() {
        let (mut h, _) = Harness::new(true);
        h.look();
        assert_eq!(h.step(Outcome::Halted), Action::Stop, "dormant");

        let (mut h, _) = Harness::new(false);
        h.look();
        assert_eq!(h.step(Outcome::Halted), Action::Stop, "dialling");

        let (mut h, _) = Harness::new(false);
        let idle = Sight {
            idle: true,
            ..Sight::default()
        };
        h.step(Outcome::Looked(idle));
        assert_eq!(h.step(Outcome::Halted), Action::Stop, "asleep");

        let (mut h, _) = Harness::new(false);
        h.connect();
        assert_eq!(h.step(Outcome::Served(Ending::Stopped)), Action::Stop);
        assert_eq!(h.machine.state, SlotState::Stopped);
    }

    /// The legal (state, outcome) pairs are exactly the table's; anything
    /// else is an error that leaves the state alone, and `Stopped` takes
    /// no outcome at all.
    #[test]
    fn only_the_tables_pairs_are_legal() {
        let at = Instant::now();
        let states = [
            SlotState::Between { attempt: 2 },
            SlotState::Asleep { retiring: false },
            SlotState::Dormant,
            SlotState::Dialing { attempt: 2 },
            SlotState::Serving {
                attempt: 2,
                retry_at: at,
            },
            SlotState::BackingOff {
                attempt: 2,
                until: at,
            },
            SlotState::Stopped,
        ];
        let outcomes = [
            Outcome::Looked(Sight::default()),
            Outcome::Woken,
            Outcome::Halted,
            Outcome::DialFailed { retry_at: at },
            Outcome::Connected { retry_at: at },
            Outcome::Served(Ending::Retired),
            Outcome::Waited,
        ];
        // Rows: states; columns: outcomes, in the order above.
        let legal = [
            [true, false, false, false, false, false, false],
            [false, true, true, false, false, false, false],
            [false, true, true, false, false, false, false],
            [false, false, true, true, true, false, false],
            [false, false, false, false, false, true, false],
            [false, false, false, false, false, false, true],
            [false, false, false, false, false, false, false],
        ];
        let mut rng = ChaCha8Rng::seed_from_u64(SEED);
        for (state, row) in states.iter().zip(legal) {
            for (outcome, want) in outcomes.iter().zip(row) {
                let (mut machine, _) = SlotMachine::new(false, BackoffConfig::default());
                machine.state = *state;
                let result = machine.step(*outcome, &mut rng);
                assert_eq!(result.is_ok(), want, "{outcome:?} in {state:?}");
                if let Err(e) = result {
                    assert_eq!((e.state, e.outcome), (*state, *outcome));
                    assert_eq!(machine.state, *state, "an illegal outcome moves nothing");
                }
            }
        }
    }
}
