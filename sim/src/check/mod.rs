//! Invariant checkers: each reads a finished trace and says whether a
//! property users rely on held, and if not, where it broke.

mod admission;
mod capacity;
mod detection;
mod routing;

pub use admission::{
    breaker_transitions_legal, limiter_inflight_within_limit,
    no_rpc_reaches_server_while_breaker_open,
};
pub use capacity::{CapacityWatch, streams_within_capacity};
pub use detection::{Detection, check_detection, cut_off_from_client, detections};
pub use routing::check_no_rpc_on_dead_conn;

/// The verdict of one checker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invariant {
    pub name: &'static str,
    pub ok: bool,
    /// What was checked and, on failure, the first violation.
    pub detail: String,
}
