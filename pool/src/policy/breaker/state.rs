//! The breaker's states and the transitions it reports.
//!
//! ```text
//!                 a rate >= threshold, with
//!                 >= minimum_calls in the window
//!   +--------+ --------------------------------------> +------+
//!   | CLOSED |                                         | OPEN |  rejects every call
//!   +--------+                                         +------+
//!       ^                                                |  ^
//!       | all probes done,         wait_in_open elapsed  |  | all probes done,
//!       | both rates below         (next try_acquire     |  | a rate >= threshold
//!       | threshold                or poll)              |  |
//!       | (window reset)      +-----------+              |  |
//!       +---------------------| HALF_OPEN |<-------------+  |
//!                             |           |-----------------+
//!                             +-----------+
//!                       admits only permitted_in_half_open
//!                       probes; rejects the rest
//! ```
//!
//! No other move exists: OPEN is only left for HALF_OPEN, and only by time;
//! CLOSED is only entered from HALF_OPEN, and only by probe outcomes.

use tokio::time::Instant;

/// Where a breaker is in its cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    /// Calls flow; outcomes fill the sliding window.
    Closed,
    /// Calls are rejected without touching the network.
    Open,
    /// A limited number of probe calls decide whether to close or re-open.
    HalfOpen,
}

/// A state change, returned to the caller so the pool can publish it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// The `now` of the call that caused it.
    pub at: Instant,
    /// Why.
    pub reason: TransitionReason,
}

/// Why a [`Transition`] happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionReason {
    /// `failures` of `calls` failed, reaching `failure_rate_threshold`
    /// (over the window when closed, over the probes when half-open).
    FailureRate {
        /// Failed calls counted.
        failures: u32,
        /// Calls counted.
        calls: u32,
    },
    /// `slow` of `calls` were slow, reaching `slow_call_rate_threshold`.
    SlowCallRate {
        /// Slow calls counted.
        slow: u32,
        /// Calls counted.
        calls: u32,
    },
    /// The breaker had been open for `wait_in_open`.
    OpenWaitElapsed,
    /// All `probes` half-open calls finished with both rates below threshold.
    ProbesHealthy {
        /// Probe calls counted.
        probes: u32,
    },
}
