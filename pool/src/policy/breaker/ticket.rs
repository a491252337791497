//! What the breaker hands out: probe and call permits, and admission answers.

use super::error::Rejection;
use super::state::Transition;

/// Leave to make one call; pass it back to
/// [`CircuitBreaker::record`](super::CircuitBreaker::record) with the outcome.
///
/// It carries the breaker's epoch (bumped on every transition), so that a
/// call admitted before a state change cannot skew the counters of the
/// state after it. It is not `Clone`, so one call is recorded once.
#[must_use = "a permit must be returned with the call's outcome (Outcome::Ignored if it was cancelled)"]
#[derive(Debug, PartialEq, Eq)]
pub struct Permit {
    epoch: u64,
}

impl Permit {
    pub(super) fn new(epoch: u64) -> Self {
        Permit { epoch }
    }

    pub(super) fn epoch(&self) -> u64 {
        self.epoch
    }
}

/// The answer to [`CircuitBreaker::try_acquire`](super::CircuitBreaker::try_acquire).
#[must_use = "an admitted permit must be recorded, and a transition published"]
#[derive(Debug, PartialEq, Eq)]
pub struct Admission {
    /// Whether the call may go.
    pub decision: Result<Permit, Rejection>,
    /// The OPEN -> HALF_OPEN move this call noticed, if it was the first
    /// after `wait_in_open` elapsed.
    pub transition: Option<Transition>,
}
