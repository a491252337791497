//! `Conn`: a connection's state machine bound to its side effects.
//!
//! Every transition goes through here, so every transition emits exactly one
//! `PoolEvent` and keeps the pool's ready set in step with the state: a
//! connection is in the ready set if and only if it is `Ready`.

use std::sync::Arc;

use hyper::client::conn::http2::SendRequest;
use tokio::time::Instant;
use tonic::body::Body;

use crate::{
    conn::state::{ConnState, IllegalTransition},
    endpoint::EndpointId,
    event::{CloseCause, ConnId, DrainCause, EventKind, PoolEvent},
    inflight::InFlight,
    shared::{ReadyConn, Shared},
};

pub(crate) struct Conn {
    pub(crate) id: ConnId,
    endpoint: EndpointId,
    state: ConnState,
    pub(crate) in_flight: Arc<InFlight>,
    shared: Arc<Shared>,
}

impl Conn {
    /// A new connection, in `Connecting`.
    pub(crate) fn start(shared: Arc<Shared>, endpoint: EndpointId, attempt: u32) -> Self {
        let conn = Self {
            id: shared.next_conn_id(),
            endpoint,
            state: ConnState::Connecting,
            in_flight: Arc::default(),
            shared,
        };
        conn.emit(EventKind::Connecting { attempt });
        conn
    }

    pub(crate) fn ready(&mut self, sender: SendRequest<Body>) {
        checked(self.state.on_ready());
        self.shared.insert_ready(ReadyConn {
            conn: self.id,
            endpoint: self.endpoint,
            sender,
            in_flight: Arc::clone(&self.in_flight),
        });
        self.emit(EventKind::Ready);
    }

    pub(crate) fn drain(&mut self, cause: DrainCause) {
        checked(self.state.on_drain(cause));
        let was_ready = self.shared.remove_ready(self.id);
        debug_assert!(was_ready, "a Ready connection is in the ready set");
        self.emit(EventKind::Draining { cause });
    }

    pub(crate) fn close(&mut self, cause: CloseCause) {
        checked(self.state.on_closed(cause.clone()));
        self.shared.remove_ready(self.id);
        self.emit(EventKind::Closed { cause });
    }

    pub(crate) fn emit(&self, kind: EventKind) {
        self.shared.events.emit(PoolEvent {
            at: Instant::now(),
            endpoint: self.endpoint,
            conn: self.id,
            kind,
        });
    }
}

impl Drop for Conn {
    /// A connection task can be cancelled mid-flight (its runtime shuts down,
    /// a simulated host crashes); it must still leave the ready set.
    fn drop(&mut self) {
        if !matches!(self.state, ConnState::Closed(_)) {
            self.shared.remove_ready(self.id);
        }
    }
}

/// An illegal transition is a bug in the driver: loud in debug builds and
/// tests, logged (and survived) in release builds.
fn checked(result: Result<(), IllegalTransition>) {
    if let Err(e) = result {
        debug_assert!(false, "{e}");
        tracing::error!("{e}");
    }
}
