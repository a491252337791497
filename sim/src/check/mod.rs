//! Invariant checkers: each reads a finished trace and says whether a
//! property users rely on held, and if not, where it broke. Every
//! invariant squall checks lives here; which of them a script's run gets
//! is decided by `squall_scenarios::judge`, from the script's `[expect]`
//! and its pool.
//!
//! - `detection`: connections a fault cut off, and the detection bound.
//! - `keepalive`: the keepalive bound every pool run gets.
//! - `pool`: the checks every pool run gets (connections, backoff).
//! - `liveness`: back at full capacity after the faults (`live_within`).
//! - `shutdown`: no leaks, server connections closed at the end.
//! - `rpcs`: failed RPCs, RPCs within their deadlines.
//! - `admission`: breakers and the limiter.
//! - `routing`: no RPC on a dead connection.
//! - `capacity`: streams within each connection's capacity.
//! - `hedging`: no call sent more than `max_attempts` times.
//! - `server_streams`: no server stream outlives its RPC.

mod admission;
mod capacity;
mod detection;
mod hedging;
mod keepalive;
mod liveness;
mod pool;
mod routing;
mod rpcs;
mod server_streams;
mod shutdown;

pub use admission::{
    breaker_follows_failing_server, breaker_transitions_legal, limiter_inflight_within_limit,
    no_rpc_reaches_server_while_breaker_open,
};
pub use capacity::{CapacityWatch, streams_within_capacity};
pub use detection::{Detection, check_detection, cut_off_from_client, detections};
pub use hedging::hedges_within_max_attempts;
pub use keepalive::detection_within_keepalive;
pub use liveness::live_after_faults;
pub use pool::{backoff_within_schedule, connections_within_max, pool_invariants};
pub use routing::check_no_rpc_on_dead_conn;
pub use rpcs::{failed_rpcs_at_most, rpcs_end_within_deadline};
pub use server_streams::server_streams_end_with_their_rpc;
pub use shutdown::{no_leaks, server_conns_closed};

/// The verdict of one checker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invariant {
    pub name: &'static str,
    pub ok: bool,
    /// What was checked and, on failure, the first violation.
    pub detail: String,
}

/// The verdict `name` from a check's result: `Ok` holds, `Err` fails,
/// each with its detail.
pub(crate) fn invariant(name: &'static str, result: Result<String, String>) -> Invariant {
    let (ok, detail) = match result {
        Ok(detail) => (true, detail),
        Err(detail) => (false, detail),
    };
    Invariant { name, ok, detail }
}
