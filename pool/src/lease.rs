//! Leases: one connection pinned for a caller (a long stream, or calls that
//! must share a connection), and the watcher that reports a lease held
//! longer than `lease_leak_threshold`, with the line of code that took it.
//!
//! A lease never fails over: if its connection leaves `Ready`, calls on it
//! fail with UNAVAILABLE (`PoolError::LeaseLost`) and the caller takes a new
//! lease. It is released when dropped. Its calls share the connection's
//! capacity with every other RPC: a call that finds the connection full
//! waits for room, until its deadline.

use std::{
    collections::BTreeMap,
    panic::Location,
    pin::pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use http::{Request, Response};
use tokio::time::{Instant, timeout_at};
use tonic::{Status, body::Body};

use crate::{
    body::PoolBody,
    endpoint::EndpointId,
    error::PoolError,
    event::{ConnEvent, EventKind, PoolEvent},
    ids::ConnId,
    service::{Attempt, ResponseFuture, admit, attempt, deadline_of},
    shared::{Routed, Shared},
    wait,
};

/// Identifies a lease within its pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeaseId(pub u64);

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
        let id = shared.leases.take(conn, endpoint, site);
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
        self.shared.leases.give_back(self.id);
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

/// The pool's record of outstanding leases.
#[derive(Default)]
pub(crate) struct Leases {
    state: std::sync::Mutex<LeaseBook>,
    /// Wakes the watcher when a lease is taken or given back.
    changed: tokio::sync::Notify,
}

#[derive(Default)]
struct LeaseBook {
    next_id: u64,
    held: BTreeMap<LeaseId, Held>,
}

struct Held {
    conn: ConnId,
    endpoint: EndpointId,
    site: &'static Location<'static>,
    taken_at: Instant,
    reported: bool,
}

impl Leases {
    fn take(
        &self,
        conn: ConnId,
        endpoint: EndpointId,
        site: &'static Location<'static>,
    ) -> LeaseId {
        let mut book = self.lock();
        book.next_id += 1;
        let id = LeaseId(book.next_id);
        book.held.insert(
            id,
            Held {
                conn,
                endpoint,
                site,
                taken_at: Instant::now(),
                reported: false,
            },
        );
        drop(book);
        self.changed.notify_one();
        id
    }

    fn give_back(&self, id: LeaseId) {
        let removed = self.lock().held.remove(&id);
        debug_assert!(removed.is_some(), "a lease is given back once");
        self.changed.notify_one();
    }

    /// How many leases are held now.
    pub(crate) fn held(&self) -> usize {
        self.lock().held.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LeaseBook> {
        self.state.lock().expect("lease lock poisoned")
    }

    /// When the next unreported lease crosses `threshold`.
    fn next_overdue(&self, threshold: Duration) -> Option<Instant> {
        let book = self.lock();
        book.held
            .values()
            .filter(|h| !h.reported)
            .map(|h| h.taken_at + threshold)
            .min()
    }

    /// Marks every lease held longer than `threshold` as reported, and
    /// returns one event for each, in lease order.
    fn overdue(&self, now: Instant, threshold: Duration) -> Vec<PoolEvent> {
        let mut book = self.lock();
        let mut events = Vec::new();
        for (id, held) in book.held.iter_mut() {
            let age = now.saturating_duration_since(held.taken_at);
            if held.reported || age < threshold {
                continue;
            }
            held.reported = true;
            events.push(PoolEvent {
                at: now,
                kind: EventKind::Conn {
                    endpoint: held.endpoint,
                    conn: held.conn,
                    event: ConnEvent::LeaseHeld {
                        lease: *id,
                        age,
                        site: held.site,
                    },
                },
            });
        }
        events
    }
}

/// Reports leases held past the threshold, once each, until shutdown.
pub(crate) async fn watch_leases(shared: Arc<Shared>) {
    let threshold = shared.config.lease_leak_threshold;
    let mut shutdown = shared.shutdown_signal();
    loop {
        let mut changed = pin!(shared.leases.changed.notified());
        // Register before reading the book, so a change in between is seen.
        changed.as_mut().enable();
        let next = shared.leases.next_overdue(threshold);
        tokio::select! {
            biased;
            _ = wait::for_shutdown(&mut shutdown) => return,
            _ = changed => {}
            _ = wait::until_some(next) => {
                for event in shared.leases.overdue(Instant::now(), threshold) {
                    shared.events.emit(event);
                }
            }
        }
    }
}
