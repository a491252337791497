//! Waiting for a ready connection: gRPC's per-call wait-for-ready, and the
//! wait of any RPC that finds the pool IDLE (after `idle_timeout`).
//!
//! By default an RPC fails fast with UNAVAILABLE when no connection is
//! ready, rather than queueing behind a reconnect. Two cases wait instead,
//! each only until the RPC's deadline:
//! - the call opted in with the [`WaitForReady`] request extension;
//! - the pool is IDLE or waking from it: IDLE is not a failure, so the RPC
//!   wakes the pool and waits for its first connection. If that first dial
//!   fails the pool is failing, and a fail-fast RPC fails.
//! - every ready connection is at `max_streams_per_connection`: the RPC
//!   asks for an extra connection (when the endpoint may grow) and waits
//!   for room.

use tokio::time::{Instant, timeout_at};

use crate::{error::PoolError, event::ConnId, shared::Routed, shared::Shared};

/// Per-call opt-in to wait for a ready connection (until the RPC's
/// deadline) instead of failing fast with UNAVAILABLE. Insert it in a
/// request's extensions:
///
/// ```
/// let mut request = tonic::Request::new(());
/// request.extensions_mut().insert(squall_pool::WaitForReady);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WaitForReady;

/// Picks a ready connection, waiting for one (until `deadline`) when the
/// call asked to or the pool is idle.
pub(crate) async fn pick(
    shared: &Shared,
    deadline: Instant,
    avoid: &[ConnId],
    wait_for_ready: bool,
) -> Result<Routed, PoolError> {
    let mut changes = shared.watch_ready_changes();
    loop {
        // Marked seen before picking, so a connection that becomes ready
        // between the pick and the wait wakes the wait.
        changes.borrow_and_update();
        match shared.pick(Instant::now(), avoid) {
            Err(PoolError::NoReadyConnection) => {}
            routed => return routed,
        }
        if shared.is_shutting_down() {
            return Err(PoolError::Shutdown);
        }
        // Every ready connection is full: wait for room, or for the extra
        // connection this asks for.
        let saturated = shared.saturated(avoid);
        if saturated {
            shared.grow();
        }
        let waking = shared.idle.as_ref().is_some_and(|idle| idle.wake());
        if !(wait_for_ready || waking || saturated) {
            return Err(PoolError::NoReadyConnection);
        }
        match timeout_at(deadline, changes.changed()).await {
            Ok(Ok(())) => {}
            // The sender lives in `Shared`, which outlives this borrow.
            Ok(Err(_)) => return Err(PoolError::Shutdown),
            Err(_elapsed) => return Err(PoolError::NoConnectionBeforeDeadline),
        }
    }
}
