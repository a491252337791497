//! [`Rpc`]: one RPC's context, the values every step of the pipeline reads
//! (the pool, the deadline, whether the call waits for a ready
//! connection), fixed when the RPC starts and borrowed by each step instead
//! of being threaded through their signatures one by one.
//!
//! What an RPC owns and hands on (its request, its limiter permit, the
//! connection it was routed to) stays out: those move from step to step,
//! and their moves are what the pipeline's signatures show.

use http::Request;
use tokio::time::Instant;
use tonic::body::Body;

use super::wait_for_ready::WaitForReady;
use crate::deadline;
use crate::shared::Shared;

/// One RPC's context, created when it starts.
#[derive(Clone, Copy)]
pub(crate) struct Rpc<'a> {
    /// The pool.
    pub(crate) shared: &'a Shared,
    /// When the RPC must be done by: its `grpc-timeout`, or the pool's
    /// `default_rpc_timeout`. Every wait is bounded by it.
    pub(crate) deadline: Instant,
    /// Whether the call asked to wait for a ready connection
    /// ([`WaitForReady`]) instead of failing fast.
    pub(crate) wait_for_ready: bool,
}

impl<'a> Rpc<'a> {
    /// The context of `request`, starting now.
    pub(crate) fn new(shared: &'a Shared, request: &Request<Body>) -> Self {
        let timeout =
            deadline::grpc_timeout(request.headers()).unwrap_or(shared.config.default_rpc_timeout);
        Self {
            shared,
            // Clamped: a caller's `Duration::MAX` means no deadline, not a
            // panic on `Instant` overflow.
            deadline: deadline::after(Instant::now(), timeout),
            wait_for_ready: request.extensions().get::<WaitForReady>().is_some(),
        }
    }

    /// What the context holds besides the pool: its deadline and whether
    /// it waits for a ready connection.
    pub(crate) fn terms(self) -> (Instant, bool) {
        (self.deadline, self.wait_for_ready)
    }

    /// The context [`terms`](Self::terms) gave, on `shared` again.
    pub(crate) fn with_terms(shared: &'a Shared, deadline: Instant, wait_for_ready: bool) -> Self {
        Self {
            shared,
            deadline,
            wait_for_ready,
        }
    }
}
