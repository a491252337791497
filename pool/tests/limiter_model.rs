// Users of the pool rely on its limiter never to let more RPCs run at once
// than `max_concurrency`, never to let more than `burst + rate·W` calls start
// in any stretch of time W, and never to let more than `max_queue_len`
// callers wait. A queued caller relies on being served strictly in arrival
// order, on never being admitted after its deadline or `max_queue_wait` has
// passed (it gets a typed rejection instead), and on `next_wakeup` naming the
// moment its fate can change. This file proves those properties by driving
// the limiter with random sequences of acquire, release, cancel, poll and
// clock steps, comparing every answer with a plain reference model, and
// checking the invariants above on the real limiter after every step.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};
use squall_pool::limit::{
    Acquire, Limiter, LimiterConfig, Permit, RateLimit, Rejection, Resolved, WaiterId,
};
use tokio::time::Instant;

/// One token's worth of credit (token-nanoseconds), as in the limiter's spec.
const TOKEN: u128 = 1_000_000_000;
const MS: u64 = 1_000_000;

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
    fn limiter_matches_model(sequential 1..80 => LimiterTest);
}

/// One step of a test: what a caller or the clock does.
#[derive(Debug, Clone)]
enum Step {
    /// A call asks for a permit, with a deadline this many ms from now.
    Acquire { deadline_ms: Option<u64> },
    /// The nth call in flight finishes.
    Release(Index),
    /// The nth waiter stops waiting.
    Cancel(Index),
    /// The clock moves on this many ms, with nobody looking.
    Advance(u64),
    /// The wrapper polls at the current time.
    Poll,
    /// The wrapper sleeps until `next_wakeup` (if it is ahead), then polls.
    WakeUp,
}

/// What the limiter reports, with calls named by the test's call numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Admitted(u64),
    Queued(u64),
    Rejected(u64, Rejection),
    GaveUp(u64, Rejection),
}

#[derive(Debug, Clone)]
struct ModelWaiter {
    call: u64,
    give_up_at: u64,
    give_up: Rejection,
}

/// The reference: the limiter's rules written as directly as possible, with
/// time as nanoseconds since the test started.
#[derive(Debug, Clone)]
struct Model {
    config: LimiterConfig,
    now: u64,
    held: Vec<u64>,
    waiting: Vec<ModelWaiter>,
    credit: u128,
    credited_at: u64,
    next_call: u64,
    /// What the last step must have produced, in order.
    expected: Vec<Event>,
}

impl Model {
    fn new(config: LimiterConfig) -> Self {
        let burst = config.rate.map_or(0, |r| u128::from(r.burst));
        Model {
            config,
            now: 0,
            held: Vec::new(),
            waiting: Vec::new(),
            credit: burst * TOKEN,
            credited_at: 0,
            next_call: 0,
            expected: Vec::new(),
        }
    }

    fn credit_now(&self, rate: RateLimit) -> u128 {
        let accrued = u128::from(self.now - self.credited_at) * u128::from(rate.per_second);
        (self.credit + accrued).min(u128::from(rate.burst) * TOKEN)
    }

    fn has_capacity(&self) -> bool {
        self.held.len() < self.config.max_concurrency
            && self.config.rate.is_none_or(|r| self.credit_now(r) >= TOKEN)
    }

    fn admit(&mut self, call: u64) {
        if let Some(rate) = self.config.rate {
            self.credit = self.credit_now(rate) - TOKEN;
            self.credited_at = self.now;
        }
        self.held.push(call);
        self.expected.push(Event::Admitted(call));
    }

    fn settle(&mut self) {
        let now = self.now;
        let (expired, kept): (Vec<_>, Vec<_>) =
            self.waiting.drain(..).partition(|w| w.give_up_at <= now);
        self.waiting = kept;
        for w in expired {
            self.expected.push(Event::GaveUp(w.call, w.give_up));
        }
        while !self.waiting.is_empty() && self.has_capacity() {
            let w = self.waiting.remove(0);
            self.admit(w.call);
        }
    }

    fn acquire(&mut self, deadline_ms: Option<u64>) {
        let call = self.next_call;
        self.next_call += 1;
        let deadline = deadline_ms.map(|ms| self.now + ms * MS);
        let queue_limit = self.now + duration_ns(self.config.max_queue_wait);
        if deadline.is_some_and(|d| d <= self.now) {
            self.expected
                .push(Event::Rejected(call, Rejection::DeadlineExceeded));
        } else if self.waiting.is_empty() && self.has_capacity() {
            self.admit(call);
        } else if self.waiting.len() >= self.config.max_queue_len {
            let capacity = self.config.max_queue_len;
            self.expected
                .push(Event::Rejected(call, Rejection::QueueFull { capacity }));
        } else {
            let (give_up_at, give_up) = match deadline {
                Some(d) if d <= queue_limit => (d, Rejection::DeadlineExceeded),
                _ => (queue_limit, Rejection::QueueTimeout),
            };
            self.waiting.push(ModelWaiter {
                call,
                give_up_at,
                give_up,
            });
            self.expected.push(Event::Queued(call));
        }
    }

    /// When the model's queue can next change by time alone.
    fn next_wakeup(&self) -> Option<u64> {
        let give_up = self.waiting.iter().map(|w| w.give_up_at).min();
        let token = match self.config.rate {
            Some(rate)
                if !self.waiting.is_empty() && self.held.len() < self.config.max_concurrency =>
            {
                let missing = TOKEN.saturating_sub(self.credit_now(rate));
                let wait = missing.div_ceil(u128::from(rate.per_second));
                Some(self.now + u64::try_from(wait).expect("wait fits in u64"))
            }
            _ => None,
        };
        give_up.into_iter().chain(token).min()
    }
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).expect("test durations fit in u64")
}

fn config_strategy() -> impl Strategy<Value = LimiterConfig> {
    let rate = prop::option::of((1u32..=200, 1u32..=3))
        .prop_map(|rate| rate.map(|(per_second, burst)| RateLimit { per_second, burst }));
    (1usize..=3, 0usize..=3, 1u64..=60, rate).prop_map(
        |(max_concurrency, max_queue_len, wait_ms, rate)| LimiterConfig {
            max_concurrency,
            rate,
            max_queue_len,
            max_queue_wait: Duration::from_millis(wait_ms),
        },
    )
}

struct LimiterModel;

impl ReferenceStateMachine for LimiterModel {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        config_strategy().prop_map(Model::new).boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Step> {
        // Releases and cancels are only offered when they have a target, so
        // no generated case is thrown away by the preconditions.
        let release = if state.held.is_empty() { 0 } else { 3 };
        let cancel = if state.waiting.is_empty() { 0 } else { 1 };
        prop_oneof![
            4 => prop::option::of(0u64..=80).prop_map(|deadline_ms| Step::Acquire { deadline_ms }),
            release => any::<Index>().prop_map(Step::Release),
            cancel => any::<Index>().prop_map(Step::Cancel),
            3 => (0u64..=40).prop_map(Step::Advance),
            1 => Just(Step::Poll),
            1 => Just(Step::WakeUp),
        ]
        .boxed()
    }

    fn preconditions(state: &Model, step: &Step) -> bool {
        match step {
            Step::Release(_) => !state.held.is_empty(),
            Step::Cancel(_) => !state.waiting.is_empty(),
            _ => true,
        }
    }

    fn apply(mut state: Model, step: &Step) -> Model {
        state.expected.clear();
        match step {
            Step::Acquire { deadline_ms } => state.acquire(*deadline_ms),
            Step::Release(i) => {
                state.held.remove(i.index(state.held.len()));
                state.settle();
            }
            Step::Cancel(i) => {
                state.waiting.remove(i.index(state.waiting.len()));
            }
            Step::Advance(ms) => state.now += ms * MS,
            Step::Poll => state.settle(),
            Step::WakeUp => {
                if let Some(at) = state.next_wakeup() {
                    state.now = state.now.max(at);
                }
                state.settle();
            }
        }
        state
    }
}

/// A queued call as the harness sees it, with its give-up time computed
/// from what the caller asked for, independently of the limiter.
#[derive(Debug)]
struct Waiting {
    call: u64,
    give_up_at: u64,
}

/// The real limiter plus the bookkeeping needed to judge it.
struct Harness {
    limiter: Limiter,
    start: Instant,
    now: u64,
    held: Vec<(u64, Permit)>,
    waiting: BTreeMap<WaiterId, Waiting>,
    /// When each admission happened, in order, for the rate check.
    admissions: Vec<u64>,
    next_call: u64,
    events: Vec<Event>,
}

impl Harness {
    fn instant(&self, ns: u64) -> Instant {
        self.start + Duration::from_nanos(ns)
    }

    fn acquire(&mut self, deadline_ms: Option<u64>) {
        let call = self.next_call;
        self.next_call += 1;
        let deadline = deadline_ms.map(|ms| self.now + ms * MS);
        let now = self.instant(self.now);
        let answer = self
            .limiter
            .try_acquire(now, deadline.map(|d| self.instant(d)));
        match answer {
            Acquire::Admitted(permit) => {
                assert!(
                    self.waiting.is_empty(),
                    "call {call} overtook {:?}",
                    self.waiting
                );
                self.on_admitted(call, permit);
            }
            Acquire::Queued(id) => {
                let queue_limit = self.now + duration_ns(self.limiter.config().max_queue_wait);
                let give_up_at = deadline.map_or(queue_limit, |d| d.min(queue_limit));
                self.waiting.insert(id, Waiting { call, give_up_at });
                self.events.push(Event::Queued(call));
            }
            Acquire::Rejected(rejection) => self.events.push(Event::Rejected(call, rejection)),
        }
    }

    fn resolve(&mut self, resolved: Vec<Resolved>) {
        for r in resolved {
            let waiter = r.waiter();
            let w = self
                .waiting
                .remove(&waiter)
                .expect("resolved a known waiter");
            match r {
                Resolved::Admitted { permit, .. } => {
                    assert!(
                        self.now < w.give_up_at,
                        "call {} admitted after giving up",
                        w.call
                    );
                    let earlier = self.waiting.range(..waiter).next();
                    assert!(earlier.is_none(), "call {} overtook {earlier:?}", w.call);
                    self.on_admitted(w.call, permit);
                }
                Resolved::GaveUp { rejection, .. } => {
                    assert!(self.now >= w.give_up_at, "call {} gave up early", w.call);
                    self.events.push(Event::GaveUp(w.call, rejection));
                }
            }
        }
    }

    fn on_admitted(&mut self, call: u64, permit: Permit) {
        self.held.push((call, permit));
        self.admissions.push(self.now);
        self.events.push(Event::Admitted(call));
        self.check_rate();
    }

    /// Every stretch of time that ends at the newest admission and starts at
    /// an earlier one holds at most `burst + rate·W` admissions; checking at
    /// each admission covers every stretch.
    fn check_rate(&self) {
        let Some(rate) = self.limiter.config().rate else {
            return;
        };
        let newest = *self.admissions.last().expect("just admitted");
        for (count, &start) in (1u128..).zip(self.admissions.iter().rev()) {
            let span = u128::from(newest - start);
            let allowed = u128::from(rate.burst) * TOKEN + u128::from(rate.per_second) * span;
            assert!(
                count * TOKEN <= allowed,
                "{count} admissions in {span} ns exceed {rate:?}"
            );
        }
    }

    fn poll(&mut self) {
        let resolved = self.limiter.poll(self.instant(self.now));
        self.resolve(resolved);
    }
}

struct LimiterTest;

impl StateMachineTest for LimiterTest {
    type SystemUnderTest = Harness;
    type Reference = LimiterModel;

    fn init_test(model: &Model) -> Harness {
        Harness {
            limiter: Limiter::new(model.config.clone()).expect("generated configs are valid"),
            // Only offsets from this instant matter.
            start: Instant::now(),
            now: 0,
            held: Vec::new(),
            waiting: BTreeMap::new(),
            admissions: Vec::new(),
            next_call: 0,
            events: Vec::new(),
        }
    }

    fn apply(mut h: Harness, model: &Model, step: Step) -> Harness {
        h.events.clear();
        match step {
            Step::Acquire { deadline_ms } => h.acquire(deadline_ms),
            Step::Release(i) => {
                let (_, permit) = h.held.remove(i.index(h.held.len()));
                let resolved = h.limiter.release(h.instant(h.now), permit);
                h.resolve(resolved);
            }
            Step::Cancel(i) => {
                let id = *h
                    .waiting
                    .keys()
                    .nth(i.index(h.waiting.len()))
                    .expect("in range");
                assert!(h.limiter.cancel(id), "waiter {id:?} was still queued");
                h.waiting.remove(&id);
            }
            Step::Advance(ms) => h.now += ms * MS,
            Step::Poll => h.poll(),
            Step::WakeUp => {
                if let Some(at) = h.limiter.next_wakeup() {
                    let at = duration_ns(at.saturating_duration_since(h.start));
                    h.now = h.now.max(at);
                }
                h.poll();
            }
        }
        assert_eq!(h.events, model.expected, "limiter and model disagree");
        h
    }

    fn check_invariants(h: &Harness, model: &Model) {
        let config = h.limiter.config();
        assert!(h.limiter.in_flight() <= config.max_concurrency);
        assert_eq!(h.limiter.in_flight(), h.held.len());
        assert!(h.limiter.queue_len() <= config.max_queue_len);
        assert_eq!(h.limiter.queue_len(), h.waiting.len());
        assert_eq!(h.now, model.now);
        check_wakeup(h, model);
    }
}

/// `next_wakeup` names the model's wake-up exactly, except that any instant
/// already reached means "poll now".
fn check_wakeup(h: &Harness, model: &Model) {
    let actual = h
        .limiter
        .next_wakeup()
        .map(|at| duration_ns(at.saturating_duration_since(h.start)));
    match (actual, model.next_wakeup()) {
        (Some(a), Some(m)) if m <= model.now => assert!(a <= model.now, "wake-up {a} is late"),
        (a, m) => assert_eq!(a, m, "next_wakeup"),
    }
}
