//! Outlier detection as a synchronous core: every endpoint's failure
//! counts, who is ejected until when, and how many may be at once.
//!
//! Like the breaker, it reads no clock and never sleeps: `now` is passed
//! in, each change comes back as a value for the pool to publish, and
//! `next_wakeup` says when the next ejection ends.
//!
//! ```text
//!            n failures in a row, or the failure rate reached,
//!            and fewer than the cap ejected
//!   ACTIVE -------------------------------------------------> EJECTED
//!     ^        for min(base · times ejected, max)                |
//!     '-------------------------------------------------------- '
//!            the time passed (counts and window reset)
//! ```
//!
//! The multiplier decays: every `base_ejection_time` an endpoint spends
//! active takes one off its count of ejections, so an endpoint that
//! recovered for good starts again from the base time.

use std::time::Duration;

use tokio::time::Instant;

use super::{OutlierConfig, window::RateWindow};
use crate::policy::breaker::Outcome;

/// Why an endpoint was ejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EjectReason {
    /// `failures` calls in a row failed.
    ConsecutiveFailures { failures: u32 },
    /// `failures` of the window's `calls` failed.
    FailureRate { failures: u32, calls: u32 },
}

/// A change of one endpoint's ejection state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutlierChange {
    /// Taken out of rotation for `duration`; its `times`-th ejection
    /// (after decay).
    Ejected {
        reason: EjectReason,
        times: u32,
        duration: Duration,
    },
    /// Its ejection time has passed: it takes RPCs again.
    Returned,
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// In rotation; `since` is when it last returned (for the decay).
    Active {
        since: Option<Instant>,
    },
    Ejected {
        until: Instant,
    },
}

#[derive(Debug, Clone)]
struct Endpoint {
    state: State,
    consecutive: u32,
    window: Option<RateWindow>,
    /// Ejections counted for the multiplier.
    times: u32,
}

/// Every endpoint's outlier state.
#[derive(Debug, Clone)]
pub struct OutlierDetector {
    config: OutlierConfig,
    endpoints: Vec<Endpoint>,
}

impl OutlierDetector {
    /// `config` must have passed `OutlierConfig::validate`.
    pub fn new(config: OutlierConfig, endpoints: usize) -> Self {
        let mut detector = Self {
            endpoints: Vec::new(),
            config,
        };
        detector.grow_to(endpoints);
        detector
    }

    /// Watches `endpoints` endpoints in all: new ones start active with no
    /// history (endpoints added to a running pool). Never shrinks.
    pub fn grow_to(&mut self, endpoints: usize) {
        let window = self.config.failure_rate.map(|r| r.window);
        let fresh = || Endpoint {
            state: State::Active { since: None },
            consecutive: 0,
            window: window.map(RateWindow::new),
            times: 0,
        };
        let len = self.endpoints.len().max(endpoints);
        self.endpoints.resize_with(len, fresh);
    }

    pub fn config(&self) -> &OutlierConfig {
        &self.config
    }

    /// How many endpoints it watches.
    pub fn len(&self) -> usize {
        self.endpoints.len()
    }

    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    /// Most endpoints ejected at once: `max_ejection_percent` of them,
    /// rounded down, but at least one, and never all of them.
    pub fn max_ejected(&self) -> usize {
        let n = self.endpoints.len();
        let share = n * usize::from(self.config.max_ejection_percent) / 100;
        share.max(1).min(n.saturating_sub(1))
    }

    /// Whether `endpoint` is out of rotation at `now`.
    pub fn is_ejected(&self, endpoint: usize, now: Instant) -> bool {
        matches!(self.endpoints[endpoint].state, State::Ejected { until } if until > now)
    }

    pub fn ejected_count(&self) -> usize {
        self.endpoints
            .iter()
            .filter(|e| matches!(e.state, State::Ejected { .. }))
            .count()
    }

    /// Records how a call to `endpoint` ended; returns the ejection it caused.
    pub fn record(
        &mut self,
        now: Instant,
        endpoint: usize,
        outcome: Outcome,
    ) -> Option<OutlierChange> {
        let failed = match outcome {
            Outcome::Success => false,
            Outcome::Failure => true,
            Outcome::Ignored => return None,
        };
        let room = self.ejected_count() < self.max_ejected();
        let config = &self.config;
        let record = &mut self.endpoints[endpoint];
        if matches!(record.state, State::Ejected { .. }) {
            // A call that was in flight when the endpoint was ejected.
            return None;
        }
        record.consecutive = if failed { record.consecutive + 1 } else { 0 };
        let rate = record.window.as_mut().map(|w| w.record(now, failed));
        let reason = if record.consecutive >= config.consecutive_failures {
            EjectReason::ConsecutiveFailures {
                failures: record.consecutive,
            }
        } else {
            match (rate, config.failure_rate) {
                (Some((failures, calls)), Some(limit))
                    if calls >= limit.minimum_calls
                        && u64::from(failures) * 100
                            >= u64::from(limit.threshold_percent) * u64::from(calls) =>
                {
                    EjectReason::FailureRate { failures, calls }
                }
                _ => return None,
            }
        };
        if !room {
            // Envoy's rule: the failures are noted, the ejection skipped;
            // the next failure tries again.
            return None;
        }
        Some(self.eject(now, endpoint, reason))
    }

    fn eject(&mut self, now: Instant, endpoint: usize, reason: EjectReason) -> OutlierChange {
        let base = self.config.base_ejection_time;
        let record = &mut self.endpoints[endpoint];
        if let State::Active { since: Some(since) } = record.state {
            let healthy_periods = now.saturating_duration_since(since).as_nanos() / base.as_nanos();
            let decay = u32::try_from(healthy_periods).unwrap_or(u32::MAX);
            record.times = record.times.saturating_sub(decay);
        }
        record.times = record.times.saturating_add(1);
        let duration = base
            .checked_mul(record.times)
            .map_or(self.config.max_ejection_time, |d| {
                d.min(self.config.max_ejection_time)
            });
        record.state = State::Ejected {
            until: now + duration,
        };
        debug_assert!(self.ejected_count() <= self.max_ejected());
        OutlierChange::Ejected {
            reason,
            times: self.endpoints[endpoint].times,
            duration,
        }
    }

    /// Returns every endpoint whose ejection has ended by `now`.
    pub fn poll(&mut self, now: Instant) -> Vec<(usize, OutlierChange)> {
        let mut returned = Vec::new();
        for (index, record) in self.endpoints.iter_mut().enumerate() {
            if let State::Ejected { until } = record.state
                && until <= now
            {
                record.state = State::Active { since: Some(until) };
                record.consecutive = 0;
                if let Some(window) = &mut record.window {
                    window.clear();
                }
                returned.push((index, OutlierChange::Returned));
            }
        }
        returned
    }

    /// When the next ejection ends.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.endpoints
            .iter()
            .filter_map(|e| match e.state {
                State::Ejected { until } => Some(until),
                State::Active { .. } => None,
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::outlier::FailureRateConfig;

    const S: Duration = Duration::from_secs(1);

    fn config(percent: u8) -> OutlierConfig {
        OutlierConfig {
            consecutive_failures: 3,
            base_ejection_time: S,
            max_ejection_time: 3 * S,
            max_ejection_percent: percent,
            ..OutlierConfig::default()
        }
    }

    fn fail(
        d: &mut OutlierDetector,
        now: Instant,
        endpoint: usize,
        n: u32,
    ) -> Option<OutlierChange> {
        let mut last = None;
        for _ in 0..n {
            last = d.record(now, endpoint, Outcome::Failure);
        }
        last
    }

    fn ejected_for(change: Option<OutlierChange>) -> Option<(u32, Duration)> {
        match change? {
            OutlierChange::Ejected {
                times, duration, ..
            } => Some((times, duration)),
            OutlierChange::Returned => None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn consecutive_failures_eject_for_a_growing_capped_time() {
        let t = Instant::now();
        let mut d = OutlierDetector::new(config(50), 2);
        assert_eq!(fail(&mut d, t, 0, 2), None);
        d.record(t, 0, Outcome::Success);
        assert_eq!(fail(&mut d, t, 0, 2), None, "a success resets the run");
        let change = d.record(t, 0, Outcome::Failure);
        assert_eq!(
            change,
            Some(OutlierChange::Ejected {
                reason: EjectReason::ConsecutiveFailures { failures: 3 },
                times: 1,
                duration: S,
            })
        );
        assert!(d.is_ejected(0, t) && !d.is_ejected(1, t));
        assert_eq!(d.next_wakeup(), Some(t + S));
        assert_eq!(d.poll(t + S / 2), vec![]);
        assert_eq!(d.poll(t + S), vec![(0, OutlierChange::Returned)]);
        assert!(!d.is_ejected(0, t + S));
        // Failing again at once: 2 s, then 3 s, then capped at 3 s.
        let mut now = t + S;
        for (times, secs) in [(2, 2), (3, 3), (4, 3)] {
            assert_eq!(
                ejected_for(fail(&mut d, now, 0, 3)),
                Some((times, secs * S))
            );
            now += secs * S;
            assert_eq!(d.poll(now), vec![(0, OutlierChange::Returned)]);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn time_in_rotation_decays_the_multiplier() {
        let t = Instant::now();
        let mut d = OutlierDetector::new(config(50), 2);
        assert_eq!(ejected_for(fail(&mut d, t, 0, 3)), Some((1, S)));
        d.poll(t + S);
        assert_eq!(ejected_for(fail(&mut d, t + S, 0, 3)), Some((2, 2 * S)));
        d.poll(t + 3 * S);
        // Two base periods healthy: the count drops from 2 to 0.
        let later = t + 5 * S;
        assert_eq!(ejected_for(fail(&mut d, later, 0, 3)), Some((1, S)));
    }

    #[tokio::test(start_paused = true)]
    async fn the_cap_holds_and_never_ejects_every_endpoint() {
        let t = Instant::now();
        // 4 endpoints at 25 %: one at a time.
        let mut d = OutlierDetector::new(config(25), 4);
        assert_eq!(d.max_ejected(), 1);
        assert!(ejected_for(fail(&mut d, t, 0, 3)).is_some());
        assert_eq!(fail(&mut d, t, 1, 10), None, "no room");
        d.poll(t + S);
        // Endpoint 1's failures were counted: its next one ejects it.
        assert!(ejected_for(fail(&mut d, t + S, 1, 1)).is_some());

        // 10 % of 4 rounds to 0: still one. 100 % of 3: two, never three.
        assert_eq!(OutlierDetector::new(config(10), 4).max_ejected(), 1);
        assert_eq!(OutlierDetector::new(config(100), 3).max_ejected(), 2);
        let mut lone = OutlierDetector::new(config(100), 1);
        assert_eq!(lone.max_ejected(), 0);
        assert_eq!(fail(&mut lone, t, 0, 10), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_rate_ejects_once_the_window_has_enough_calls() {
        let t = Instant::now();
        let mut d = OutlierDetector::new(
            OutlierConfig {
                consecutive_failures: 100,
                failure_rate: Some(FailureRateConfig {
                    threshold_percent: 50,
                    minimum_calls: 6,
                    window: 10 * S,
                }),
                ..config(50)
            },
            2,
        );
        for _ in 0..2 {
            assert_eq!(d.record(t, 0, Outcome::Failure), None);
            assert_eq!(d.record(t, 0, Outcome::Success), None);
        }
        assert_eq!(d.record(t, 0, Outcome::Success), None, "2 of 5");
        assert_eq!(
            d.record(t, 0, Outcome::Failure),
            Some(OutlierChange::Ejected {
                reason: EjectReason::FailureRate {
                    failures: 3,
                    calls: 6
                },
                times: 1,
                duration: S,
            })
        );
        assert_eq!(
            d.record(t, 0, Outcome::Failure),
            None,
            "ignored while ejected"
        );
    }
}
