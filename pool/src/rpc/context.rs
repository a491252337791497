//! [`Rpc`]: one RPC's context, the values every step of the pipeline reads
//! (the pool, the deadline, whether the call waits for a ready
//! connection), fixed when the RPC starts and borrowed by each step instead
//! of being threaded through their signatures one by one. It owns its
//! handle on the pool, so an RPC's future holds the context once, not the
//! handle beside a context that borrows it.
//!
//! What an RPC owns and hands on (its request, its limiter permit, the
//! connection it was routed to) stays out: those move from step to step,
//! and their moves are what the pipeline's signatures show.

use http::Request;
use tokio::time::Instant;
use tonic::body::Body;

use super::wait_for_ready::WaitForReady;
use crate::policy::retry::Idempotent;
use std::sync::Arc;

use crate::deadline;
use crate::shared::Shared;

/// One RPC's context, created when it starts.
pub(crate) struct Rpc {
    /// The pool.
    pub(crate) shared: Arc<Shared>,
    /// When the RPC must be done by: its `grpc-timeout`, or the pool's
    /// `default_rpc_timeout`. Every wait is bounded by it.
    pub(crate) deadline: Instant,
    /// Whether the call asked to wait for a ready connection
    /// ([`WaitForReady`]) instead of failing fast.
    pub(crate) wait_for_ready: bool,
    /// Whether the call was marked [`Idempotent`]: only such a call is
    /// retried or hedged.
    pub(crate) idempotent: bool,
}

impl Rpc {
    /// The context of `request`, starting now.
    pub(crate) fn new(shared: Arc<Shared>, request: &Request<Body>) -> Self {
        let timeout =
            deadline::grpc_timeout(request.headers()).unwrap_or(shared.config.default_rpc_timeout);
        Self {
            // Clamped: a caller's `Duration::MAX` means no deadline, not a
            // panic on `Instant` overflow.
            deadline: deadline::after(Instant::now(), timeout),
            wait_for_ready: request.extensions().get::<WaitForReady>().is_some(),
            idempotent: request.extensions().get::<Idempotent>().is_some(),
            shared,
        }
    }
}
