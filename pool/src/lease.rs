//! Leases: one connection pinned for a caller (a long stream, or calls that
//! must share a connection), and the watcher that reports a lease held
//! longer than `lease_leak_threshold`, with the line of code that took it
//! (its book of leases held is `lease_book.rs`, below the RPC path).
//!
//! A lease never fails over: if its connection leaves `Ready`, calls on it
//! fail with UNAVAILABLE (`PoolError::LeaseLost`) and the caller takes a new
//! lease. It is released when dropped. Its calls share the connection's
//! capacity with every other RPC: a call that finds the connection full
//! waits for room, until its deadline.

use std::{
    panic::Location,
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};
use tokio::time::{Instant, timeout_at};
use tonic::{Status, body::Body};

use crate::{
    body::PoolBody,
    endpoint::EndpointId,
    error::PoolError,
    ids::ConnId,
    service::{Attempt, ResponseFuture, admit, attempt, deadline_of},
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
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.shared.lifecycle.leases.give_back(self.id);
    }
}

impl tower::Service<Request<Body>> for Lease {
    type Response = Response<PoolBody>;
    type Error = Status;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> ResponseFuture {
        let shared = Arc::clone(&self.shared);
        let (conn, endpoint) = (self.conn, self.endpoint);
        ResponseFuture::new(async move {
            send_pinned(&shared, conn, endpoint, request)
                .await
                .map_err(PoolError::into_status)
        })
    }
}

/// One RPC on the leased connection: the same path as the pool's, without
/// picking and without failing over.
async fn send_pinned(
    shared: &Shared,
    conn: ConnId,
    endpoint: EndpointId,
    request: Request<Body>,
) -> Result<Response<PoolBody>, PoolError> {
    let deadline = deadline_of(shared, &request);
    let limit = admit(shared, deadline).await?;
    let routed = pinned_with_room(shared, conn, endpoint, deadline).await?;
    match attempt(shared, routed, request, limit, deadline).await {
        Attempt::Done(result) => result,
        // A lease pins one connection: there is nowhere else to go.
        Attempt::Unsent { error, .. } | Attempt::Refused { error, .. } => Err(error),
    }
}

/// Routes a call to the leased connection, waiting (until `deadline`) while
/// it is at its capacity.
async fn pinned_with_room(
    shared: &Shared,
    conn: ConnId,
    endpoint: EndpointId,
    deadline: Instant,
) -> Result<Routed, PoolError> {
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
        match timeout_at(deadline, changes.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(PoolError::Shutdown),
            Err(_elapsed) => return Err(PoolError::NoConnectionBeforeDeadline),
        }
    }
}
