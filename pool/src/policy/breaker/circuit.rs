//! The circuit breaker state machine: admits or rejects calls, counts their
//! outcomes, and moves between the states drawn in `state.rs`.

use std::time::Duration;

use tokio::time::Instant;

use super::config::BreakerConfig;
use super::error::{ConfigError, Rejection};
use super::outcome::Outcome;
use super::state::{State, Transition, TransitionReason};
use super::ticket::{Admission, Permit};
use super::window::{Sample, Totals, Window};

/// A state with the data only that state needs, so that e.g. probe counts
/// cannot linger into CLOSED.
#[derive(Debug, Clone)]
enum Phase {
    Closed { window: Window },
    Open { since: Instant },
    HalfOpen { admitted: u32, probes: Totals },
}

/// One endpoint's circuit breaker, driven by the caller's clock.
///
/// Not `Clone`: a copy would accept the original's permits as its own.
#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    phase: Phase,
    /// Bumped on every transition and stamped on permits, so outcomes of
    /// calls admitted before a transition are recognised and dropped.
    epoch: u64,
}

impl CircuitBreaker {
    /// A closed breaker with an empty window.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first out-of-range field.
    pub fn new(config: BreakerConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(CircuitBreaker {
            phase: Phase::Closed {
                window: Window::new(config.sliding_window),
            },
            config,
            epoch: 0,
        })
    }

    /// The current state, as of the last call that passed a `now`.
    pub fn state(&self) -> State {
        match self.phase {
            Phase::Closed { .. } => State::Closed,
            Phase::Open { .. } => State::Open,
            Phase::HalfOpen { .. } => State::HalfOpen,
        }
    }

    /// Asks to make a call at `now`; first moves OPEN to HALF_OPEN if
    /// `wait_in_open` has elapsed.
    pub fn try_acquire(&mut self, now: Instant) -> Admission {
        let transition = self.poll(now);
        Admission {
            decision: self.admit(),
            transition,
        }
    }

    /// Records how an admitted call ended and how long it took, and returns
    /// the transition it caused, if any. Outcomes of calls admitted before
    /// the last transition are dropped.
    pub fn record(
        &mut self,
        now: Instant,
        permit: Permit,
        outcome: Outcome,
        duration: Duration,
    ) -> Option<Transition> {
        if permit.epoch() != self.epoch {
            return None;
        }
        debug_assert_ne!(self.state(), State::Open, "no permit is issued while open");
        let slow = duration >= self.config.slow_call_duration;
        let sample = match outcome {
            Outcome::Success => Sample {
                failed: false,
                slow,
            },
            Outcome::Failure => Sample { failed: true, slow },
            Outcome::Ignored => {
                self.release_probe();
                return None;
            }
        };
        match self.phase {
            Phase::Closed { .. } => self.record_closed(now, sample),
            Phase::HalfOpen { .. } => self.record_probe(now, sample),
            Phase::Open { .. } => None,
        }
    }

    /// Moves OPEN to HALF_OPEN if `wait_in_open` has elapsed at `now`. Call
    /// it at [`next_wakeup`](Self::next_wakeup) to publish the move on time
    /// rather than on the next call.
    pub fn poll(&mut self, now: Instant) -> Option<Transition> {
        let Phase::Open { since } = self.phase else {
            return None;
        };
        if now < since + self.config.wait_in_open {
            return None;
        }
        let phase = Phase::HalfOpen {
            admitted: 0,
            probes: Totals::default(),
        };
        Some(self.move_to(phase, now, TransitionReason::OpenWaitElapsed))
    }

    /// When the breaker next changes state by time alone: the end of
    /// `wait_in_open` while open, otherwise `None`.
    pub fn next_wakeup(&self) -> Option<Instant> {
        match self.phase {
            Phase::Open { since } => Some(since + self.config.wait_in_open),
            Phase::Closed { .. } | Phase::HalfOpen { .. } => None,
        }
    }

    /// The configuration this breaker was built with.
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    fn admit(&mut self) -> Result<Permit, Rejection> {
        let permitted = self.config.permitted_in_half_open;
        match &mut self.phase {
            Phase::Closed { .. } => Ok(Permit::new(self.epoch)),
            Phase::Open { .. } => Err(Rejection::Open),
            Phase::HalfOpen { admitted, .. } if *admitted < permitted => {
                *admitted += 1;
                Ok(Permit::new(self.epoch))
            }
            Phase::HalfOpen { .. } => Err(Rejection::ProbesInFlight { permitted }),
        }
    }

    /// An ignored probe gives its slot back, or a cancelled probe would
    /// leave the breaker half-open for good.
    fn release_probe(&mut self) {
        if let Phase::HalfOpen { admitted, probes } = &mut self.phase {
            debug_assert!(
                *admitted > probes.calls,
                "released a probe that was not in flight"
            );
            *admitted -= 1;
        }
    }

    fn record_closed(&mut self, now: Instant, sample: Sample) -> Option<Transition> {
        let Phase::Closed { window } = &mut self.phase else {
            return None;
        };
        window.record(now, sample);
        let totals = window.totals(now);
        if totals.calls < self.config.minimum_calls {
            return None;
        }
        let reason = self.verdict(totals)?;
        Some(self.move_to(Phase::Open { since: now }, now, reason))
    }

    fn record_probe(&mut self, now: Instant, sample: Sample) -> Option<Transition> {
        let permitted = self.config.permitted_in_half_open;
        let Phase::HalfOpen { admitted, probes } = &mut self.phase else {
            return None;
        };
        *probes += Totals::from(sample);
        debug_assert!(probes.calls <= *admitted && *admitted <= permitted);
        if probes.calls < permitted {
            return None;
        }
        let probes = *probes;
        let (phase, reason) = match self.verdict(probes) {
            Some(reason) => (Phase::Open { since: now }, reason),
            None => (
                Phase::Closed {
                    window: Window::new(self.config.sliding_window),
                },
                TransitionReason::ProbesHealthy {
                    probes: probes.calls,
                },
            ),
        };
        Some(self.move_to(phase, now, reason))
    }

    /// Why these calls should open the breaker, if they should.
    fn verdict(&self, totals: Totals) -> Option<TransitionReason> {
        debug_assert!(totals.calls > 0, "judged an empty set of calls");
        let Totals {
            calls,
            failures,
            slow,
        } = totals;
        if reached(failures, calls, self.config.failure_rate_threshold) {
            Some(TransitionReason::FailureRate { failures, calls })
        } else if reached(slow, calls, self.config.slow_call_rate_threshold) {
            Some(TransitionReason::SlowCallRate { slow, calls })
        } else {
            None
        }
    }

    fn move_to(&mut self, phase: Phase, at: Instant, reason: TransitionReason) -> Transition {
        let from = self.state();
        self.phase = phase;
        self.epoch += 1;
        let transition = Transition {
            from,
            to: self.state(),
            at,
            reason,
        };
        debug_assert!(is_legal(&transition), "illegal transition {transition:?}");
        transition
    }
}

/// Whether `part` of `calls` is at least `percent` %, in exact integers.
fn reached(part: u32, calls: u32, percent: u8) -> bool {
    calls > 0 && u64::from(part) * 100 >= u64::from(percent) * u64::from(calls)
}

/// The arrows of the diagram in `state.rs`, with the reasons each may carry.
fn is_legal(t: &Transition) -> bool {
    use TransitionReason as R;
    matches!(
        (t.from, t.to, t.reason),
        (
            State::Closed | State::HalfOpen,
            State::Open,
            R::FailureRate { .. } | R::SlowCallRate { .. }
        ) | (State::Open, State::HalfOpen, R::OpenWaitElapsed)
            | (State::HalfOpen, State::Closed, R::ProbesHealthy { .. })
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::breaker::SlidingWindow;

    const MS: Duration = Duration::from_millis(1);

    fn config() -> BreakerConfig {
        BreakerConfig {
            minimum_calls: 4,
            sliding_window: SlidingWindow::Count(4),
            wait_in_open: 100 * MS,
            permitted_in_half_open: 2,
            slow_call_duration: 50 * MS,
            ..BreakerConfig::default()
        }
    }

    /// Admits one call at `now` and records `outcome` for it.
    fn call(b: &mut CircuitBreaker, now: Instant, outcome: Outcome) -> Option<Transition> {
        let permit = b.try_acquire(now).decision.expect("call admitted");
        b.record(now, permit, outcome, MS)
    }

    fn open(b: &mut CircuitBreaker, now: Instant) {
        for _ in 0..4 {
            let _ = call(b, now, Outcome::Failure);
        }
        assert_eq!(b.state(), State::Open);
    }

    #[test]
    fn opens_after_minimum_calls_failures_and_not_before() {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(config()).unwrap();
        for _ in 0..3 {
            assert_eq!(call(&mut b, t0, Outcome::Failure), None);
        }
        let t = call(&mut b, t0, Outcome::Failure).expect("opens on the 4th failure");
        assert_eq!((t.from, t.to), (State::Closed, State::Open));
        assert_eq!(
            t.reason,
            TransitionReason::FailureRate {
                failures: 4,
                calls: 4
            }
        );
        assert_eq!(b.try_acquire(t0).decision, Err(Rejection::Open));
    }

    #[test]
    fn opens_on_slow_calls() {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(config()).unwrap();
        let mut last = None;
        for _ in 0..4 {
            let permit = b.try_acquire(t0).decision.unwrap();
            last = b.record(t0, permit, Outcome::Success, 50 * MS);
        }
        let reason = last.map(|t| t.reason);
        assert_eq!(
            reason,
            Some(TransitionReason::SlowCallRate { slow: 4, calls: 4 })
        );
    }

    #[test]
    fn half_open_closes_after_successful_probes() {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(config()).unwrap();
        open(&mut b, t0);
        let later = t0 + 100 * MS;
        let admission = b.try_acquire(later);
        assert_eq!(admission.transition.map(|t| t.to), Some(State::HalfOpen));
        let first = admission.decision.unwrap();
        let second = b.try_acquire(later).decision.unwrap();
        let third = b.try_acquire(later).decision;
        assert_eq!(third, Err(Rejection::ProbesInFlight { permitted: 2 }));
        assert_eq!(b.record(later, first, Outcome::Success, MS), None);
        let closed = b.record(later, second, Outcome::Success, MS).unwrap();
        assert_eq!(closed.to, State::Closed);
        assert_eq!(closed.reason, TransitionReason::ProbesHealthy { probes: 2 });
    }

    #[test]
    fn half_open_reopens_when_probes_fail() {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(config()).unwrap();
        open(&mut b, t0);
        let later = t0 + 100 * MS;
        assert_eq!(b.poll(later).map(|t| t.to), Some(State::HalfOpen));
        assert_eq!(call(&mut b, later, Outcome::Success), None);
        let reopened = call(&mut b, later, Outcome::Failure).unwrap();
        assert_eq!((reopened.from, reopened.to), (State::HalfOpen, State::Open));
        assert_eq!(b.next_wakeup(), Some(later + 100 * MS));
    }

    #[test]
    fn outcomes_from_an_earlier_state_are_dropped() {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(config()).unwrap();
        let straggler = b.try_acquire(t0).decision.unwrap();
        open(&mut b, t0);
        let later = t0 + 100 * MS;
        assert!(b.poll(later).is_some());
        assert_eq!(b.record(later, straggler, Outcome::Failure, MS), None);
        assert_eq!(b.state(), State::HalfOpen);
    }

    #[test]
    fn an_ignored_probe_frees_its_slot() {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(config()).unwrap();
        open(&mut b, t0);
        let later = t0 + 100 * MS;
        let first = b.try_acquire(later).decision.unwrap();
        let _second = b.try_acquire(later).decision.unwrap();
        assert_eq!(b.record(later, first, Outcome::Ignored, MS), None);
        assert!(b.try_acquire(later).decision.is_ok());
    }
}
