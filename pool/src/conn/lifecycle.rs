//! `Conn`: a connection's state machine bound to its side effects.
//!
//! Every transition goes through here, so every transition emits exactly one
//! `PoolEvent`, updates its slot's status (`status.rs`), and keeps the
//! pool's ready set in step with the state: a connection is in the ready set
//! if and only if it is `Ready`.
//!
//! A slot's status describes its newest connection. A connection retired
//! for its age drains after its replacement has started, so it no longer
//! owns the slot's status and its last transitions leave that status alone.

use std::{sync::Arc, time::Duration};

use hyper::client::conn::http2::SendRequest;
use tokio::time::Instant;
use tonic::body::Body;

use crate::{
    conn::frames::PeerFrames,
    conn::state::{ConnState, IllegalTransition},
    endpoint::EndpointId,
    event::{CloseCause, ConnEvent, DrainCause, EventKind, PoolEvent},
    ids::ConnId,
    inflight::InFlight,
    shared::{Link, ReadyConn, Shared},
    status::{Connectivity, LiveConn, SlotStatus},
    wire::FirstBytes,
};

pub(crate) struct Conn {
    pub(crate) id: ConnId,
    slot: usize,
    pub(crate) endpoint: EndpointId,
    state: ConnState,
    pub(crate) in_flight: Arc<InFlight>,
    /// What the server's frames said (GOAWAY, its stream limit).
    pub(crate) frames: Arc<PeerFrames>,
    /// The HTTP/2 keepalive interval it is dialled with: the configured
    /// one, doubled after each "too_many_pings" from its server.
    pub(crate) keepalive_interval: Duration,
    /// The peer's first bytes, once the connection is up.
    peer: Option<Arc<FirstBytes>>,
    shared: Arc<Shared>,
}

impl Conn {
    /// A new connection of `slot`, in `Connecting`.
    pub(crate) fn start(
        shared: Arc<Shared>,
        slot: usize,
        endpoint: EndpointId,
        attempt: u32,
        extra: bool,
    ) -> Self {
        let in_flight = shared.new_in_flight(extra);
        let keepalive_interval = shared
            .endpoints
            .keepalive_interval(endpoint, shared.config.keepalive.interval);
        let conn = Self {
            keepalive_interval,
            id: shared.next_conn_id(),
            slot,
            endpoint,
            state: ConnState::Connecting,
            frames: Arc::new(PeerFrames::new(
                Arc::clone(&in_flight),
                Arc::clone(&shared.tracker.replacements),
            )),
            in_flight,
            peer: None,
            shared,
        };
        conn.shared.update_slot(slot, |status| {
            status.state = match status.state {
                // Sticky TRANSIENT_FAILURE, as gRPC's load balancers keep it
                // (gRFC A62): a slot whose last dial failed is failing
                // while it dials again, until a connection is ready. So a
                // fail-fast RPC fails at once against a server that is down,
                // rather than waiting on every redial.
                Connectivity::TransientFailure => Connectivity::TransientFailure,
                _ => Connectivity::Connecting,
            };
            status.dials += 1;
            status.conn = Some(LiveConn {
                id: conn.id,
                state: ConnState::Connecting,
                dialled_at: Instant::now(),
                in_flight: Arc::clone(&conn.in_flight),
            });
        });
        conn.emit(ConnEvent::Connecting { attempt });
        conn
    }

    pub(crate) fn ready(&mut self, sender: SendRequest<Body>, peer: Arc<FirstBytes>) {
        checked(self.state.on_ready());
        self.peer = Some(Arc::clone(&peer));
        self.shared.insert_ready(ReadyConn {
            conn: self.id,
            endpoint: self.endpoint,
            sender: Link { send: sender, peer },
            in_flight: Arc::clone(&self.in_flight),
        });
        self.publish(Connectivity::Ready);
        self.emit(ConnEvent::Ready);
    }

    pub(crate) fn peer(&self) -> Option<&FirstBytes> {
        self.peer.as_deref()
    }

    pub(crate) fn drain(&mut self, cause: DrainCause) {
        checked(self.state.on_drain(cause));
        let was_ready = self.shared.remove_ready(self.id);
        // `Pool::remove_endpoint` takes its connections out of the ready
        // set itself, before their slots drain them.
        debug_assert!(
            was_ready || cause == DrainCause::EndpointRemoved,
            "a Ready connection is in the ready set"
        );
        let slot_state = match cause {
            // The slot will not redial.
            DrainCause::Shutdown | DrainCause::EndpointRemoved => Connectivity::Shutdown,
            // The slot waits for the next RPC (or for the pool to need
            // room) before it redials.
            DrainCause::Idle | DrainCause::ScaleDown => Connectivity::Idle,
            // Its replacement owns the slot by now; `publish` leaves it be.
            DrainCause::MaxAge | DrainCause::StreamIdsUsed => Connectivity::Ready,
            // gRPC: a connection sent away leaves its subchannel IDLE; the
            // slot redials at once.
            DrainCause::Goaway(_) => Connectivity::Idle,
        };
        self.publish(slot_state);
        self.emit(ConnEvent::Draining { cause });
    }

    pub(crate) fn close(&mut self, cause: CloseCause) {
        checked(self.state.on_closed(cause.clone()));
        // The injected bug of `inject-bug-dead-conn-stays-ready` (Cargo.toml):
        // off in every real build, it exists to measure the shrinker.
        let injected_bug = cfg!(feature = "inject-bug-dead-conn-stays-ready")
            && matches!(
                cause,
                CloseCause::Transport { .. } | CloseCause::UserTimeout
            );
        if !injected_bug {
            self.shared.remove_ready(self.id);
        }
        // gRPC: a failed attempt is TRANSIENT_FAILURE; a lost connection
        // leaves the slot IDLE until it redials.
        let next = match cause {
            CloseCause::ConnectFailed(_) => Connectivity::TransientFailure,
            CloseCause::Shutdown | CloseCause::Retired(DrainCause::EndpointRemoved) => {
                Connectivity::Shutdown
            }
            CloseCause::KeepaliveTimeout
            | CloseCause::UserTimeout
            | CloseCause::PeerClosed
            | CloseCause::PeerGoaway(_)
            | CloseCause::Transport { .. }
            | CloseCause::NotHttp2 { .. }
            | CloseCause::Retired(_) => Connectivity::Idle,
        };
        if matches!(cause, CloseCause::ConnectFailed(_)) {
            // A waking pool that cannot connect is failing, not idle.
            self.shared.connect_failed();
        }
        let id = self.id;
        self.shared.update_slot(self.slot, |status| {
            if owns(status, id) {
                status.state = next;
                status.conn = None;
            }
        });
        self.emit(ConnEvent::Closed { cause });
    }

    /// The slot is waiting out its backoff.
    pub(crate) fn backing_off(&self, delay: Duration) {
        debug_assert!(matches!(self.state, ConnState::Closed(_)));
        self.shared.update_slot(self.slot, |status| {
            status.state = Connectivity::TransientFailure
        });
        self.emit(ConnEvent::Backoff { delay });
    }

    /// Records the new state of this (still live) connection and its slot.
    fn publish(&self, slot_state: Connectivity) {
        let conn_state = self.state.clone();
        let id = self.id;
        self.shared.update_slot(self.slot, |status| {
            if let Some(live) = &mut status.conn
                && live.id == id
            {
                status.state = slot_state;
                live.state = conn_state;
            }
        });
    }

    fn emit(&self, event: ConnEvent) {
        self.shared.events.emit(PoolEvent {
            at: Instant::now(),
            kind: EventKind::Conn {
                endpoint: self.endpoint,
                conn: self.id,
                event,
            },
        });
    }
}

impl Drop for Conn {
    /// A connection task can be cancelled mid-flight (its runtime shuts down,
    /// a simulated host crashes); it must still leave the ready set.
    fn drop(&mut self) {
        // A replacement the slot did not take is not coming.
        drop(self.frames.take_replacing());
        if !matches!(self.state, ConnState::Closed(_)) {
            self.shared.remove_ready(self.id);
            let id = self.id;
            self.shared.update_slot(self.slot, |status| {
                if owns(status, id) {
                    status.state = Connectivity::Shutdown;
                    status.conn = None;
                }
            });
        }
    }
}

/// Whether `conn` is the connection `status` describes (a retiring
/// connection no longer is).
fn owns(status: &SlotStatus, conn: ConnId) -> bool {
    status.conn.as_ref().is_some_and(|live| live.id == conn)
}

/// An illegal transition is a bug in the driver: loud in debug builds and
/// tests, logged (and survived) in release builds.
fn checked(result: Result<(), IllegalTransition>) {
    if let Err(e) = result {
        debug_assert!(false, "{e}");
        tracing::error!("{e}");
    }
}
