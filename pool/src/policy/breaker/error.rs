//! Why the breaker refuses a call or a configuration.

use crate::code::GrpcCode;

/// A field of [`BreakerConfig`](super::BreakerConfig) is out of range.
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

    /// The offending field, e.g. `minimum_calls`.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// What is wrong with it, e.g. `must be > 0`.
    pub fn problem(&self) -> &'static str {
        self.problem
    }
}

/// Why the breaker did not let a call through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The breaker is open: the endpoint recently failed too often.
    #[error("circuit breaker is open")]
    Open,
    /// The breaker is half-open and every probe slot is taken.
    #[error("circuit breaker is half-open and all {permitted} probe calls are in flight")]
    ProbesInFlight {
        /// `permitted_in_half_open`.
        permitted: u32,
    },
}

impl Rejection {
    /// The gRPC status the call should fail with.
    ///
    /// `UNAVAILABLE`, because that is what the endpoint effectively is, and
    /// gRPC clients treat it as safe to retry elsewhere: the call never
    /// reached the network.
    pub fn code(&self) -> GrpcCode {
        GrpcCode::Unavailable
    }
}
