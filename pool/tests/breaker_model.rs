// Users of the pool rely on each endpoint's circuit breaker to be in exactly
// the state resilience4j's rules say it should be: to open only once at least
// `minimum_calls` outcomes are in its sliding window and the failure or
// slow-call rate has reached its threshold, to admit no call at all while
// open, to let at most `permitted_in_half_open` probes run while half-open,
// and to close or re-open only once every probe has reported. They also rely
// on a late outcome from a call admitted before a state change being unable
// to skew the counts of the new state, and on every state change being
// reported, once, with the right reason and time. This file proves those
// properties by driving the breaker with random sequences of calls, outcomes
// (success, failure, slow, ignored) and clock steps, comparing every answer
// with a plain reference model, and checking the invariants above on the
// real breaker after every step.

use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};
use squall_pool::breaker::{
    BreakerConfig, CircuitBreaker, Outcome, Permit, Rejection, SlidingWindow, State, Transition,
    TransitionReason,
};
use tokio::time::Instant;

const MS: u64 = 1_000_000;
/// Buckets per time window, as the breaker's documentation specifies.
const TIME_BUCKETS: u64 = 10;

/// A fixed budget keeps CI fast; `PROPTEST_CASES` overrides it for long runs.
fn proptest_config() -> ProptestConfig {
    let default = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_some() {
        default
    } else {
        ProptestConfig {
            cases: 1024,
            ..default
        }
    }
}

prop_state_machine! {
    #![proptest_config(proptest_config())]

    #[test]
    fn breaker_matches_model(sequential 1..100 => BreakerTest);
}

/// One step of a test.
#[derive(Debug, Clone)]
enum Step {
    /// A call asks to go.
    Acquire,
    /// The nth call in flight ends with this outcome after this many ms.
    Complete {
        call: Index,
        outcome: Outcome,
        duration_ms: u64,
    },
    /// The clock moves on this many ms.
    Advance(u64),
    /// The pool polls at the current time.
    Poll,
}

/// What the breaker reports in one step.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Admitted,
    Rejected(Rejection),
    Moved {
        from: State,
        to: State,
        reason: TransitionReason,
    },
}

/// A finished call in the closed-state window.
#[derive(Debug, Clone, Copy)]
struct Record {
    at: u64,
    failed: bool,
    slow: bool,
}

#[derive(Debug, Clone)]
enum Phase {
    Closed,
    Open { since: u64 },
    HalfOpen { admitted: u32, done: Vec<Record> },
}

/// The reference: resilience4j's rules written as directly as possible,
/// with time as nanoseconds since the test started. The closed-state window
/// keeps every record since the last reset and filters on demand.
#[derive(Debug, Clone)]
struct Model {
    config: BreakerConfig,
    now: u64,
    phase: Phase,
    records: Vec<Record>,
    epoch: u64,
    /// The epoch each in-flight call was admitted in.
    held: Vec<u64>,
    expected: Vec<Event>,
}

impl Model {
    fn new(config: BreakerConfig) -> Self {
        Model {
            config,
            now: 0,
            phase: Phase::Closed,
            records: Vec::new(),
            epoch: 0,
            held: Vec::new(),
            expected: Vec::new(),
        }
    }

    fn state(&self) -> State {
        match self.phase {
            Phase::Closed => State::Closed,
            Phase::Open { .. } => State::Open,
            Phase::HalfOpen { .. } => State::HalfOpen,
        }
    }

    fn move_to(&mut self, phase: Phase, reason: TransitionReason) {
        let from = self.state();
        self.phase = phase;
        self.epoch += 1;
        if matches!(self.phase, Phase::Closed) {
            self.records.clear();
        }
        let to = self.state();
        self.expected.push(Event::Moved { from, to, reason });
    }

    fn poll(&mut self) {
        if let Phase::Open { since } = self.phase
            && self.now >= since + ns(self.config.wait_in_open)
        {
            let half_open = Phase::HalfOpen {
                admitted: 0,
                done: Vec::new(),
            };
            self.move_to(half_open, TransitionReason::OpenWaitElapsed);
        }
    }

    fn acquire(&mut self) {
        self.poll();
        let permitted = self.config.permitted_in_half_open;
        let event = match &mut self.phase {
            Phase::Closed => Event::Admitted,
            Phase::Open { .. } => Event::Rejected(Rejection::Open),
            Phase::HalfOpen { admitted, .. } if *admitted < permitted => {
                *admitted += 1;
                Event::Admitted
            }
            Phase::HalfOpen { .. } => Event::Rejected(Rejection::ProbesInFlight { permitted }),
        };
        if event == Event::Admitted {
            self.held.push(self.epoch);
        }
        self.expected.push(event);
    }

    fn complete(&mut self, call: &Index, outcome: Outcome, duration_ms: u64) {
        let epoch = self.held.remove(call.index(self.held.len()));
        if epoch != self.epoch {
            return;
        }
        let record = Record {
            at: self.now,
            failed: outcome == Outcome::Failure,
            slow: Duration::from_millis(duration_ms) >= self.config.slow_call_duration,
        };
        match (&mut self.phase, outcome) {
            (Phase::HalfOpen { admitted, .. }, Outcome::Ignored) => *admitted -= 1,
            (_, Outcome::Ignored) => {}
            (Phase::Closed, _) => self.record_closed(record),
            (Phase::HalfOpen { done, .. }, _) => {
                done.push(record);
                self.judge_probes();
            }
            (Phase::Open { .. }, _) => unreachable!("no call is admitted while open"),
        }
    }

    fn record_closed(&mut self, record: Record) {
        self.records.push(record);
        let window = self.window();
        if window.len() < self.config.minimum_calls as usize {
            return;
        }
        if let Some(reason) = self.verdict(&window) {
            self.move_to(Phase::Open { since: self.now }, reason);
        }
    }

    fn judge_probes(&mut self) {
        let Phase::HalfOpen { done, .. } = &self.phase else {
            return;
        };
        if done.len() < self.config.permitted_in_half_open as usize {
            return;
        }
        let done = done.clone();
        match self.verdict(&done) {
            Some(reason) => self.move_to(Phase::Open { since: self.now }, reason),
            None => {
                let probes = count(&done);
                self.move_to(Phase::Closed, TransitionReason::ProbesHealthy { probes });
            }
        }
    }

    /// The records still inside the sliding window at `now`.
    fn window(&self) -> Vec<Record> {
        match self.config.sliding_window {
            SlidingWindow::Count(n) => {
                let skip = self.records.len().saturating_sub(n as usize);
                self.records[skip..].to_vec()
            }
            SlidingWindow::Time(span) => {
                let Some(origin) = self.records.first().map(|r| r.at) else {
                    return Vec::new();
                };
                let width = ns(span) / TIME_BUCKETS;
                let current = (self.now - origin) / width;
                let recent = |r: &&Record| (r.at - origin) / width + TIME_BUCKETS > current;
                self.records.iter().filter(recent).copied().collect()
            }
        }
    }

    fn verdict(&self, records: &[Record]) -> Option<TransitionReason> {
        let calls = count(records);
        let failures = count(records.iter().filter(|r| r.failed));
        let slow = count(records.iter().filter(|r| r.slow));
        let reached = |part: u32, percent: u8| part * 100 >= u32::from(percent) * calls;
        if reached(failures, self.config.failure_rate_threshold) {
            Some(TransitionReason::FailureRate { failures, calls })
        } else if reached(slow, self.config.slow_call_rate_threshold) {
            Some(TransitionReason::SlowCallRate { slow, calls })
        } else {
            None
        }
    }
}

fn count<T>(items: impl IntoIterator<Item = T>) -> u32 {
    u32::try_from(items.into_iter().count()).expect("test counts fit in u32")
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).expect("test durations fit in u64")
}

fn config_strategy() -> impl Strategy<Value = BreakerConfig> {
    let minimum_calls = 1u32..=5;
    let window = prop_oneof![
        (0u32..=4).prop_map(|extra| (extra, None)),
        (10u64..=100).prop_map(|ms| (0, Some(Duration::from_millis(ms)))),
    ];
    let rates = (1u8..=100, 1u8..=100);
    let durations = (5u64..=20, 1u64..=50);
    (minimum_calls, window, rates, durations, 1u32..=4).prop_map(
        |(minimum_calls, (extra, span), (failure, slow), (slow_ms, open_ms), permitted)| {
            BreakerConfig {
                failure_rate_threshold: failure,
                slow_call_rate_threshold: slow,
                slow_call_duration: Duration::from_millis(slow_ms),
                minimum_calls,
                sliding_window: span.map_or(
                    SlidingWindow::Count(minimum_calls + extra),
                    SlidingWindow::Time,
                ),
                wait_in_open: Duration::from_millis(open_ms),
                permitted_in_half_open: permitted,
                ..BreakerConfig::default()
            }
        },
    )
}

struct BreakerModel;

impl ReferenceStateMachine for BreakerModel {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        config_strategy().prop_map(Model::new).boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Step> {
        // Completions are only offered when a call is in flight, so no
        // generated case is thrown away by the preconditions.
        let complete = if state.held.is_empty() { 0 } else { 5 };
        let outcome = prop_oneof![
            3 => Just(Outcome::Success),
            3 => Just(Outcome::Failure),
            1 => Just(Outcome::Ignored),
        ];
        prop_oneof![
            4 => Just(Step::Acquire),
            complete => (any::<Index>(), outcome, 0u64..=30).prop_map(
                |(call, outcome, duration_ms)| Step::Complete { call, outcome, duration_ms }
            ),
            2 => (0u64..=30).prop_map(Step::Advance),
            1 => Just(Step::Poll),
        ]
        .boxed()
    }

    fn preconditions(state: &Model, step: &Step) -> bool {
        !matches!(step, Step::Complete { .. }) || !state.held.is_empty()
    }

    fn apply(mut state: Model, step: &Step) -> Model {
        state.expected.clear();
        match step {
            Step::Acquire => state.acquire(),
            Step::Complete {
                call,
                outcome,
                duration_ms,
            } => state.complete(call, *outcome, *duration_ms),
            Step::Advance(ms) => state.now += ms * MS,
            Step::Poll => state.poll(),
        }
        state
    }
}

/// When an in-flight call was admitted, as far as the harness can tell
/// without asking the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spell {
    /// In the current closed spell.
    Closed,
    /// As a probe in the current half-open spell.
    Probe,
    /// Before the last transition.
    Stale,
}

/// The real breaker plus the bookkeeping needed to judge it.
struct Harness {
    breaker: CircuitBreaker,
    start: Instant,
    now: u64,
    /// Calls in flight, with the spell each was admitted in.
    held: Vec<(Permit, Spell)>,
    /// Outcomes recorded since the breaker last closed (or was built).
    recorded_while_closed: u32,
    /// Probes of the current half-open spell that hold or held a slot.
    live_probes: u32,
    /// Probes of the current half-open spell that reported.
    finished_probes: u32,
    events: Vec<Event>,
}

impl Harness {
    fn at(&self) -> Instant {
        self.start + Duration::from_nanos(self.now)
    }

    fn acquire(&mut self) {
        let admission = self.breaker.try_acquire(self.at());
        if let Some(t) = admission.transition {
            self.on_transition(t);
        }
        match admission.decision {
            Ok(permit) => {
                let state = self.breaker.state();
                assert_ne!(state, State::Open, "admitted a call while open");
                let spell = if state == State::HalfOpen {
                    self.live_probes += 1;
                    Spell::Probe
                } else {
                    Spell::Closed
                };
                self.held.push((permit, spell));
                self.events.push(Event::Admitted);
            }
            Err(rejection) => self.events.push(Event::Rejected(rejection)),
        }
    }

    fn complete(&mut self, call: Index, outcome: Outcome, duration_ms: u64) {
        let (permit, spell) = self.held.remove(call.index(self.held.len()));
        match (spell, outcome) {
            (Spell::Stale, _) | (Spell::Closed, Outcome::Ignored) => {}
            (Spell::Closed, _) => self.recorded_while_closed += 1,
            (Spell::Probe, Outcome::Ignored) => self.live_probes -= 1,
            (Spell::Probe, _) => self.finished_probes += 1,
        }
        let duration = Duration::from_millis(duration_ms);
        if let Some(t) = self.breaker.record(self.at(), permit, outcome, duration) {
            self.on_transition(t);
        }
    }

    fn on_transition(&mut self, t: Transition) {
        assert_eq!(t.at, self.at(), "transition stamped with the wrong time");
        let permitted = self.breaker.config().permitted_in_half_open;
        let minimum = self.breaker.config().minimum_calls;
        match (t.from, t.to) {
            (State::Closed, State::Open) => assert!(
                self.recorded_while_closed >= minimum,
                "opened after {} calls, minimum is {minimum}",
                self.recorded_while_closed
            ),
            (State::HalfOpen, _) => assert_eq!(
                self.finished_probes, permitted,
                "left half-open before every probe reported"
            ),
            _ => {}
        }
        // Calls still in flight belong to the old state from now on.
        for (_, spell) in &mut self.held {
            *spell = Spell::Stale;
        }
        self.recorded_while_closed = 0;
        self.live_probes = 0;
        self.finished_probes = 0;
        self.events.push(Event::Moved {
            from: t.from,
            to: t.to,
            reason: t.reason,
        });
    }
}

struct BreakerTest;

impl StateMachineTest for BreakerTest {
    type SystemUnderTest = Harness;
    type Reference = BreakerModel;

    fn init_test(model: &Model) -> Harness {
        Harness {
            breaker: CircuitBreaker::new(model.config.clone())
                .expect("generated configs are valid"),
            // Only offsets from this instant matter.
            start: Instant::now(),
            now: 0,
            held: Vec::new(),
            recorded_while_closed: 0,
            live_probes: 0,
            finished_probes: 0,
            events: Vec::new(),
        }
    }

    fn apply(mut h: Harness, model: &Model, step: Step) -> Harness {
        h.events.clear();
        match step {
            Step::Acquire => h.acquire(),
            Step::Complete {
                call,
                outcome,
                duration_ms,
            } => h.complete(call, outcome, duration_ms),
            Step::Advance(ms) => h.now += ms * MS,
            Step::Poll => {
                if let Some(t) = h.breaker.poll(h.at()) {
                    h.on_transition(t);
                }
            }
        }
        assert_eq!(h.events, model.expected, "breaker and model disagree");
        h
    }

    fn check_invariants(h: &Harness, model: &Model) {
        assert_eq!(h.breaker.state(), model.state());
        assert!(h.live_probes <= h.breaker.config().permitted_in_half_open);
        let wake = h.breaker.next_wakeup();
        let expected = match model.phase {
            Phase::Open { since } => Some(since + ns(model.config.wait_in_open)),
            Phase::Closed | Phase::HalfOpen { .. } => None,
        };
        let actual = wake.map(|at| ns(at.saturating_duration_since(h.start)));
        assert_eq!(actual, expected, "next_wakeup");
    }
}
