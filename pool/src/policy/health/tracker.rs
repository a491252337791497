//! One endpoint's health as its checks report it: two states, and the
//! streak of results that disagree with the current one.
//!
//! ```text
//!            unhealthy_threshold failed checks in a row
//!   HEALTHY ------------------------------------------> UNHEALTHY
//!      ^                                                   |
//!      '---------------------------------------------------'
//!            healthy_threshold passed checks in a row
//! ```
//!
//! Endpoints start HEALTHY, so turning health checks on never holds back
//! the first RPCs.

use std::fmt;

/// An endpoint's health, from its active checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HealthState {
    Healthy,
    Unhealthy,
}

impl fmt::Display for HealthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HealthState::Healthy => "healthy",
            HealthState::Unhealthy => "unhealthy",
        })
    }
}

/// One endpoint's state and streak.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tracker {
    state: HealthState,
    /// Results in a row that disagree with `state`.
    streak: u32,
}

impl Default for Tracker {
    fn default() -> Self {
        Self {
            state: HealthState::Healthy,
            streak: 0,
        }
    }
}

impl Tracker {
    pub(crate) fn state(&self) -> HealthState {
        self.state
    }

    /// Records one check; returns the new state and the streak that moved
    /// it there, if it changed.
    pub(crate) fn record(
        &mut self,
        passed: bool,
        unhealthy_threshold: u32,
        healthy_threshold: u32,
    ) -> Option<(HealthState, u32)> {
        let agrees = passed == (self.state == HealthState::Healthy);
        if agrees {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let (needed, next) = match self.state {
            HealthState::Healthy => (unhealthy_threshold, HealthState::Unhealthy),
            HealthState::Unhealthy => (healthy_threshold, HealthState::Healthy),
        };
        if self.streak < needed {
            return None;
        }
        let streak = std::mem::take(&mut self.streak);
        self.state = next;
        Some((next, streak))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_in_a_row_move_the_state_and_a_contrary_result_resets() {
        let mut t = Tracker::default();
        let mut record = |passed| t.record(passed, 3, 2);
        assert_eq!(record(false), None);
        assert_eq!(record(false), None);
        assert_eq!(record(true), None, "resets the streak");
        assert_eq!(record(false), None);
        assert_eq!(record(false), None);
        assert_eq!(record(false), Some((HealthState::Unhealthy, 3)));
        assert_eq!(record(false), None);
        assert_eq!(record(true), None);
        assert_eq!(record(false), None, "resets the streak");
        assert_eq!(record(true), None);
        assert_eq!(record(true), Some((HealthState::Healthy, 2)));
    }
}
