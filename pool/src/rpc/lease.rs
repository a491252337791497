//! Leases: one connection pinned for a caller (a long stream, or calls that
//! must share a connection), and a lease's own short pipeline: the RPC's
//! context and admission as for any RPC, a wait for room on its one
//! connection, one attempt. The book of leases held (and the watcher that
//! reports a lease held longer than `lease_leak_threshold`, with the line
//! of code that took it) is `lease_book.rs`, below the RPC path.
//!
//! A lease never fails over: if its connection leaves `Ready`, calls on it
//! fail with UNAVAILABLE (`PoolError::LeaseLost`) and the caller takes a new
//! lease. It is released when dropped. Its calls share the connection's
//! capacity with every other RPC: a call that finds the connection full
//! waits for room, until its deadline.

use std::{panic::Location, sync::Arc};

use http::{Request, Response};
use hyper::client::conn::http2::SendRequest;
use tokio::time::{Instant, timeout_at};
use tonic::body::Body;

use super::{
    Rpc, admit,
    attempt::{Attempt, attempt},
    body::PoolBody,
};
use crate::{
    endpoint::EndpointId,
    error::PoolError,
    ids::ConnId,
    shared::{Routed, Shared},
};

pub use crate::ids::LeaseId;

/// A connection pinned for one caller. A `tower::Service` like [`Pool`]
/// itself, so tonic clients take it directly: `EchoClient::new(lease)`.
///
/// [`Pool`]: crate::Pool
pub struct Lease {
    shared: Arc<Shared>,
    id: LeaseId,
    conn: ConnId,
    endpoint: EndpointId,
}

impl Lease {
    pub(crate) fn new(
        shared: Arc<Shared>,
        conn: ConnId,
        endpoint: EndpointId,
        site: &'static Location<'static>,
    ) -> Self {
        let id = shared.lifecycle.leases.take(conn, endpoint, site);
        Self {
            shared,
            id,
            conn,
            endpoint,
        }
    }

    pub fn id(&self) -> LeaseId {
        self.id
    }

    /// The pinned connection.
    pub fn conn(&self) -> ConnId {
        self.conn
    }

    pub fn endpoint(&self) -> EndpointId {
        self.endpoint
    }

    /// The pool, for the lease's `tower::Service` (`service.rs`).
    pub(super) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.shared.lifecycle.leases.give_back(self.id);
    }
}

/// One RPC on the leased connection: the same pipeline as the pool's,
/// without picking and without failing over.
pub(super) async fn send(
    shared: Arc<Shared>,
    conn: ConnId,
    endpoint: EndpointId,
    request: Request<Body>,
) -> Result<Response<PoolBody>, PoolError> {
    let rpc = Rpc::new(shared, &request);
    let limit = admit::admit(&rpc).await?;
    let routed = pinned_with_room(&rpc, conn, endpoint).await?;
    // Nothing is resent, so hyper need not hand the request back.
    match attempt(&rpc, routed, request, limit, SendRequest::send_request).await {
        Attempt::Done(result) => result,
        // A lease pins one connection: there is nowhere else to go.
        Attempt::Unsent { error, .. } | Attempt::Refused { error, .. } => Err(error),
    }
}

/// Routes a call to the leased connection, waiting (until the RPC's
/// deadline) while it is at its capacity.
async fn pinned_with_room(
    rpc: &Rpc,
    conn: ConnId,
    endpoint: EndpointId,
) -> Result<Routed, PoolError> {
    let shared = &*rpc.shared;
    let mut changes = shared.watch_ready_changes();
    loop {
        // Marked seen before looking, so room freed in between wakes the wait.
        changes.borrow_and_update();
        if let Some(routed) = shared.pinned(Instant::now(), conn, endpoint)? {
            return Ok(routed);
        }
        if shared.is_shutting_down() {
            return Err(PoolError::Shutdown);
        }
        match timeout_at(rpc.deadline, changes.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(PoolError::Shutdown),
            Err(_elapsed) => return Err(PoolError::NoConnectionBeforeDeadline),
        }
    }
}
