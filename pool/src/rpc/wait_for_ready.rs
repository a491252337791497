//! Waiting for a ready connection: gRPC's per-call wait-for-ready, and the
//! wait of any RPC that finds the pool IDLE (after `idle_timeout`).
//!
//! By default an RPC fails fast with UNAVAILABLE when no connection it
//! could use is ready and none is on its way: gRPC's TRANSIENT_FAILURE
//! (every slot's last dial failed; a slot stays failing while it redials
//! until a connection is ready, as gRPC's sticky TRANSIENT_FAILURE), or
//! every endpoint out of rotation or behind an open breaker. Five cases
//! wait instead, each only until the RPC's deadline:
//! - the call opted in with the [`WaitForReady`] request extension;
//! - the pool is IDLE or waking from it: IDLE is not a failure, so the RPC
//!   wakes the pool and waits for its first connection. If that first dial
//!   fails the pool is failing, and a fail-fast RPC fails.
//! - every ready connection is at its capacity (`max_streams_per_connection`
//!   or the server's SETTINGS_MAX_CONCURRENT_STREAMS): the RPC asks for an
//!   extra connection (when the endpoint may grow) and waits for room,
//!   rather than letting h2 queue it silently;
//! - a slot is dialling the replacement of a connection its server sent
//!   away (GOAWAY): as in gRPC, the pool is CONNECTING, not failing, so
//!   a GOAWAY storm on every server fails no RPC;
//! - a slot is CONNECTING (its first dial after `build()`, or a redial
//!   after its connection was lost) to an endpoint in rotation whose
//!   breaker is not open: gRPC queues a fail-fast RPC while its channel
//!   is CONNECTING, so the first RPC after `build()` succeeds. When that
//!   dial fails the slot is TRANSIENT_FAILURE, the waiters look again
//!   and fail.
//!
//! Policy retries (`retry.rs`) and transparent resends (`resend.rs`) pick
//! through here too, so they never exceed the stream cap either and wait
//! for room like a first attempt. Endpoints out of rotation (ejected,
//! failing health checks) are never picked; a wait-for-ready call that
//! finds only those waits for one to return.

use tokio::time::{Instant, timeout_at};

use super::Rpc;
use crate::{
    error::PoolError,
    ids::{ConnId, RoutedTo},
    route::{self, RouteError},
    shared::Routed,
};

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

impl Rpc {
    /// Picks a ready connection, skipping `avoid`, waiting for one (until
    /// the deadline) when the call asked to or the pool's state says so.
    pub(crate) async fn pick(&self, avoid: &[ConnId]) -> Result<Routed, PoolError> {
        self.pick_by(avoid, |now| self.shared.pick(now, avoid))
            .await
    }

    /// Like [`pick`](Self::pick), for a retry of an RPC that already went
    /// to `tried` (`Shared::pick_elsewhere`, whose last choice avoids
    /// nothing).
    pub(crate) async fn pick_elsewhere(&self, tried: &[RoutedTo]) -> Result<Routed, PoolError> {
        self.pick_by(&[], |now| self.shared.pick_elsewhere(now, tried))
            .await
    }

    /// Runs `pick` until it routes the RPC, waiting between tries while the
    /// RPC may wait; `avoid` is what `pick` skips at the least, for judging
    /// whether the pool is only full.
    async fn pick_by(
        &self,
        avoid: &[ConnId],
        pick: impl Fn(Instant) -> Result<Routed, RouteError>,
    ) -> Result<Routed, PoolError> {
        let shared = &*self.shared;
        let mut changes = shared.watch_ready_changes();
        // Whether the RPC looked once more before failing fast (below).
        let mut looked_again = false;
        loop {
            // Marked seen before picking, so a connection that becomes ready
            // between the pick and the wait wakes the wait.
            changes.borrow_and_update();
            let now = Instant::now();
            match pick(now) {
                Ok(routed) => return Ok(routed),
                Err(error) if route::worth_another_look(error, self.wait_for_ready) => {}
                Err(error) => return Err(error.into()),
            }
            if shared.is_shutting_down() {
                return Err(PoolError::Shutdown);
            }
            // Every ready connection is full: wait for room, or for the extra
            // connection this asks for (not while a server has yet to say how
            // many streams it takes: it will most likely take more).
            let saturated = shared.saturated(now, avoid);
            if saturated.is_some_and(|s| s.asks_to_grow()) {
                shared.grow(now);
            }
            let saturated = saturated.is_some();
            let waking = shared.tracker.idle.as_ref().is_some_and(|idle| idle.wake());
            let may_wait = self.wait_for_ready
                || waking
                || saturated
                || shared.tracker.replacements.any()
                || shared.connecting(now);
            if !may_wait {
                // The pick and the looks since each took the ready set's
                // lock on their own: an RPC that ended on another thread
                // in between may have made room the pick did not see (the
                // pool was full, and is not saturated now). Look once more
                // before failing fast; once, so that this cannot spin.
                if !looked_again {
                    looked_again = true;
                    continue;
                }
                return Err(PoolError::NoReadyConnection);
            }
            match timeout_at(self.deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                // The sender lives in `Shared`, which outlives this borrow.
                Ok(Err(_)) => return Err(PoolError::Shutdown),
                Err(_elapsed) => return Err(PoolError::NoConnectionBeforeDeadline),
            }
        }
    }
}
