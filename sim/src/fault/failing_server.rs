//! Failing server: a chosen share of calls fails with a chosen gRPC status.
//!
//! **Real-world event.** A server whose dependency is down (`UNAVAILABLE`),
//! that sheds load (`RESOURCE_EXHAUSTED`), or has a bug (`INTERNAL`). The
//! network and HTTP/2 are healthy; the failures are application-level
//! statuses in the response trailers. This is what drives a circuit breaker.
//!
//! **Turmoil mechanism.** None: this is ours. The driver sets a
//! [`Failure`](crate::server::Failure) on each server's control channel; the
//! echo service counts the calls it sees while failing and fails call `n`
//! when `floor((n + 1) * p / 100)` passes a whole number. No RNG: exactly
//! `failure_percent` of every 100 consecutive calls fail, evenly spread
//! (50 %: every second call). The heal clears the failure.
//!
//! **What a real network does differently.** Nothing at the network level.
//! Real failures cluster in time and by request; here they are spread
//! evenly, so rates seen by a breaker window are exact.

use std::fmt;

use serde::{Deserialize, Serialize};
use tonic::Code;

use super::{Controls, FaultClass, HostField, Kind};
use crate::server::Failure;

/// Fails `failure_percent` (0..=100) of calls to `hosts` with `code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailingServer {
    pub hosts: Vec<String>,
    pub failure_percent: u8,
    pub code: StatusCode,
}

/// A gRPC status code other than OK, written as in the gRPC spec
/// (`"UNAVAILABLE"`, `"DEADLINE_EXCEEDED"`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StatusCode {
    Cancelled,
    Unknown,
    InvalidArgument,
    DeadlineExceeded,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    ResourceExhausted,
    FailedPrecondition,
    Aborted,
    OutOfRange,
    Unimplemented,
    Internal,
    Unavailable,
    DataLoss,
    Unauthenticated,
}

impl StatusCode {
    pub fn code(self) -> Code {
        match self {
            StatusCode::Cancelled => Code::Cancelled,
            StatusCode::Unknown => Code::Unknown,
            StatusCode::InvalidArgument => Code::InvalidArgument,
            StatusCode::DeadlineExceeded => Code::DeadlineExceeded,
            StatusCode::NotFound => Code::NotFound,
            StatusCode::AlreadyExists => Code::AlreadyExists,
            StatusCode::PermissionDenied => Code::PermissionDenied,
            StatusCode::ResourceExhausted => Code::ResourceExhausted,
            StatusCode::FailedPrecondition => Code::FailedPrecondition,
            StatusCode::Aborted => Code::Aborted,
            StatusCode::OutOfRange => Code::OutOfRange,
            StatusCode::Unimplemented => Code::Unimplemented,
            StatusCode::Internal => Code::Internal,
            StatusCode::Unavailable => Code::Unavailable,
            StatusCode::DataLoss => Code::DataLoss,
            StatusCode::Unauthenticated => Code::Unauthenticated,
        }
    }
}

impl FailingServer {
    pub(crate) fn inject(&self, ctx: &Controls<'_>) {
        debug_assert!(self.failure_percent <= 100, "validated with the world");
        let failure = Failure {
            percent: self.failure_percent.min(100),
            code: self.code.code(),
        };
        ctx.control(&self.hosts, |c| {
            c.set_behaviour(|b| b.failure = Some(failure))
        });
    }

    pub(crate) fn heal(&self, ctx: &Controls<'_>) {
        ctx.control(&self.hosts, |c| c.set_behaviour(|b| b.failure = None));
    }
}

impl Kind for FailingServer {
    fn name(&self) -> &'static str {
        "failing_server"
    }

    fn class(&self) -> FaultClass {
        FaultClass::Software
    }

    fn title(&self) -> String {
        format!(
            "failing server {} ({}% {:?})",
            self.hosts.join(","),
            self.failure_percent,
            self.code.code()
        )
    }

    fn host_fields(&self) -> Vec<HostField<'_>> {
        vec![HostField::set("hosts", &self.hosts)]
    }

    fn check_fields(&self) -> Result<(), String> {
        if self.failure_percent > 100 {
            return Err("failure_percent must be at most 100".to_owned());
        }
        Ok(())
    }

    fn write_fields(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            " hosts={} failure_percent={} code={:?}",
            self.hosts.join(","),
            self.failure_percent,
            self.code.code()
        )
    }
}
