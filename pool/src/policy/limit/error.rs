//! Why the limiter refuses a call or a configuration.

use crate::code::GrpcCode;

/// A field of [`LimiterConfig`](super::LimiterConfig) is out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {problem}")]
pub struct ConfigError {
    field: &'static str,
    problem: &'static str,
}

impl ConfigError {
    pub(super) fn new(field: &'static str, problem: &'static str) -> Self {
        ConfigError { field, problem }
    }

    /// The offending field, e.g. `max_concurrency`.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// What is wrong with it, e.g. `must be > 0`.
    pub fn problem(&self) -> &'static str {
        self.problem
    }
}

/// Why a call did not get a permit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The wait queue already held `capacity` callers.
    #[error("limiter wait queue is full ({capacity} callers waiting)")]
    QueueFull {
        /// The queue bound, `max_queue_len`.
        capacity: usize,
    },
    /// The caller waited `max_queue_wait` without getting a permit.
    #[error("no limiter permit within the maximum queue wait")]
    QueueTimeout,
    /// The caller's own deadline passed before it got a permit.
    #[error("deadline passed while waiting for a limiter permit")]
    DeadlineExceeded,
}

impl Rejection {
    /// The gRPC status the call should fail with.
    ///
    /// Both queue outcomes are `RESOURCE_EXHAUSTED`: the client ran out of
    /// its own capacity, which tells the caller to back off rather than to
    /// blame the server.
    pub fn code(&self) -> GrpcCode {
        match self {
            Rejection::QueueFull { .. } | Rejection::QueueTimeout => GrpcCode::ResourceExhausted,
            Rejection::DeadlineExceeded => GrpcCode::DeadlineExceeded,
        }
    }
}
