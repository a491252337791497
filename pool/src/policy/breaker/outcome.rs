//! How a finished call counts: success, failure, or not at all.

use std::collections::BTreeSet;

use crate::code::GrpcCode;

/// What a finished call tells the breaker about the endpoint's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// The endpoint served the call (whatever the application-level answer).
    Success,
    /// The endpoint failed the call.
    Failure,
    /// The call says nothing about the endpoint (e.g. the client cancelled
    /// it). It is not counted, and a half-open probe slot it held is freed.
    Ignored,
}

/// How a call ended, in terms the core understands without tonic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CallResult {
    /// The call ended with this gRPC status (`OK` included).
    Status(GrpcCode),
    /// No status arrived: the connection failed or broke mid-call.
    TransportError,
}

/// Which results count as failures and which are ignored; everything else
/// is a success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailurePredicate {
    /// Statuses that mean the endpoint is unhealthy. Default `UNAVAILABLE`,
    /// `DEADLINE_EXCEEDED` and `INTERNAL`: the codes a sick or overloaded
    /// server produces, as opposed to codes about the request itself.
    /// Transport errors are always failures.
    pub failure_codes: BTreeSet<GrpcCode>,
    /// Statuses that are not counted at all. Default `CANCELLED`: a call the
    /// client gave up on says nothing about the server.
    pub ignored_codes: BTreeSet<GrpcCode>,
}

impl Default for FailurePredicate {
    fn default() -> Self {
        FailurePredicate {
            failure_codes: BTreeSet::from([
                GrpcCode::Unavailable,
                GrpcCode::DeadlineExceeded,
                GrpcCode::Internal,
            ]),
            ignored_codes: BTreeSet::from([GrpcCode::Cancelled]),
        }
    }
}

impl FailurePredicate {
    /// Classifies a finished call.
    pub fn classify(&self, result: CallResult) -> Outcome {
        match result {
            CallResult::TransportError => Outcome::Failure,
            CallResult::Status(code) if self.failure_codes.contains(&code) => Outcome::Failure,
            CallResult::Status(code) if self.ignored_codes.contains(&code) => Outcome::Ignored,
            CallResult::Status(_) => Outcome::Success,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_classification() {
        let p = FailurePredicate::default();
        assert_eq!(p.classify(CallResult::TransportError), Outcome::Failure);
        assert_eq!(
            p.classify(CallResult::Status(GrpcCode::Unavailable)),
            Outcome::Failure
        );
        assert_eq!(
            p.classify(CallResult::Status(GrpcCode::NotFound)),
            Outcome::Success
        );
        assert_eq!(
            p.classify(CallResult::Status(GrpcCode::Ok)),
            Outcome::Success
        );
        assert_eq!(
            p.classify(CallResult::Status(GrpcCode::Cancelled)),
            Outcome::Ignored
        );
    }
}
