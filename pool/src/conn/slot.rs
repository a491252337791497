//! The task behind one connection slot: dial, serve until the connection
//! ends, then redial on gRPC's backoff schedule, until the pool shuts down.
//!
//! A slot is a position ("the second connection to server-1"), not a
//! connection: each dial makes a new [`Conn`] with a new id, so a trace shows
//! a dead connection and its replacement as two lives.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use futures_util::FutureExt;
use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    sync::watch,
    time::{Instant, sleep_until, timeout},
};
use tonic::body::Body;

use crate::{
    backoff::Backoff,
    conn::lifecycle::Conn,
    connector::BoxIo,
    endpoint::EndpointId,
    event::{CloseCause, ConnectError, DrainCause},
    executor::TrackedExecutor,
    inflight::InFlight,
    shared::Shared,
    wait,
};

type Http2Connection = http2::Connection<TokioIo<BoxIo>, Body, TrackedExecutor>;

pub(crate) struct Slot {
    shared: Arc<Shared>,
    /// Index among all the pool's slots.
    index: usize,
    endpoint: EndpointId,
    backoff: Backoff,
    shutdown: watch::Receiver<bool>,
}

/// How serving a ready connection ended.
enum Served {
    /// The connection ended by itself (peer, keepalive, error).
    Ended,
    /// The pool is shutting down; the connection was drained and closed.
    Shutdown,
}

impl Slot {
    pub(crate) fn new(shared: Arc<Shared>, index: usize, endpoint: EndpointId) -> Self {
        Self {
            index,
            backoff: Backoff::new(shared.config.backoff),
            shutdown: shared.shutdown_signal(),
            shared,
            endpoint,
        }
    }

    pub(crate) async fn run(mut self) {
        // Consecutive attempts since this slot last had a healthy connection.
        let mut attempt: u32 = 0;
        while !self.shared.is_shutting_down() {
            attempt = attempt.saturating_add(1);
            let started = Instant::now();
            let delay = self.shared.with_rng(|rng| self.backoff.next_delay(rng));
            // gRPC: an attempt gets at least min_connect_timeout, and the next
            // attempt starts no earlier than `delay` after this one started.
            let connect_timeout = delay.max(self.shared.config.backoff.min_connect_timeout);
            let retry_at = started + delay;

            let mut conn =
                Conn::start(Arc::clone(&self.shared), self.index, self.endpoint, attempt);
            let dialled = tokio::select! {
                biased;
                _ = wait::for_shutdown(&mut self.shutdown) => {
                    conn.close(CloseCause::Shutdown);
                    return;
                }
                dialled = timeout(connect_timeout, dial(&self.shared, self.endpoint)) => dialled,
            };
            let (sender, connection) = match dialled {
                Ok(Ok(session)) => session,
                Ok(Err(error)) => {
                    conn.close(CloseCause::ConnectFailed(error));
                    self.wait_until(&conn, retry_at).await;
                    continue;
                }
                Err(_elapsed) => {
                    conn.close(CloseCause::ConnectFailed(ConnectError::Timeout));
                    self.wait_until(&conn, retry_at).await;
                    continue;
                }
            };

            conn.ready(sender);
            let ready_at = Instant::now();
            if let Served::Shutdown = self.serve(&mut conn, connection).await {
                return;
            }
            // A connection that stayed up proves the endpoint healthy: redial
            // at once, from the start of the schedule. One that died young
            // counts as a failed attempt, so a server that accepts and
            // immediately drops connections is not redialled in a hot loop.
            if ready_at.elapsed() >= self.shared.config.backoff.initial {
                self.backoff.reset();
                attempt = 0;
            } else {
                self.wait_until(&conn, retry_at).await;
            }
        }
    }

    /// Drives a ready connection until it ends or the pool shuts down.
    async fn serve(&mut self, conn: &mut Conn, connection: Http2Connection) -> Served {
        // Boxed so it can move into the drain future below.
        let mut connection = Box::pin(connection);
        let ended = tokio::select! {
            biased;
            result = &mut connection => Some(close_cause(result)),
            _ = wait::for_shutdown(&mut self.shutdown) => None,
        };
        if let Some(cause) = ended {
            conn.close(cause);
            return Served::Ended;
        }

        conn.drain(DrainCause::Shutdown);
        // Draining dropped the pool's last request handle, so the dispatcher
        // ends once in-flight RPCs are handed off; hyper's connection task
        // then closes the socket when their streams finish. Both are bounded
        // by the grace period.
        let drained = drain(connection, Arc::clone(&conn.in_flight));
        let _ = timeout(self.shared.config.shutdown_grace, drained).await;
        conn.close(CloseCause::Shutdown);
        Served::Shutdown
    }

    /// Waits out the backoff until `retry_at`, unless the pool shuts down.
    async fn wait_until(&mut self, conn: &Conn, retry_at: Instant) {
        let delay = retry_at.saturating_duration_since(Instant::now());
        if delay > Duration::ZERO {
            conn.backing_off(delay);
        }
        tokio::select! {
            biased;
            _ = wait::for_shutdown(&mut self.shutdown) => {}
            _ = sleep_until(retry_at) => {}
        }
    }
}

/// Opens the byte stream and performs the HTTP/2 handshake.
async fn dial(
    shared: &Shared,
    endpoint: EndpointId,
) -> Result<(SendRequest<Body>, Http2Connection), ConnectError> {
    let endpoint = &shared.endpoints[endpoint.0 as usize];
    let io = shared
        .connector
        .connect(endpoint)
        .await
        .map_err(|e| ConnectError::Io(e.kind()))?;
    let keepalive = &shared.config.keepalive;
    http2::Builder::new(shared.executor.clone())
        .timer(TokioTimer::new())
        .keep_alive_interval(keepalive.interval)
        .keep_alive_timeout(keepalive.timeout)
        .keep_alive_while_idle(keepalive.while_idle)
        .handshake(TokioIo::new(io))
        .await
        .map_err(|_| ConnectError::Handshake)
}

/// Waits for in-flight RPCs while driving the dispatcher to its end.
fn drain(
    connection: Pin<Box<Http2Connection>>,
    in_flight: Arc<InFlight>,
) -> impl Future<Output = ()> + Send {
    // `future::join` rather than `tokio::join!`, whose internal closures
    // trip rustc's `Send` inference on hyper's higher-ranked executor bounds.
    futures_util::future::join(in_flight.wait_idle(), connection).map(drop)
}

/// Why a ready connection ended, from what hyper's dispatcher returned.
fn close_cause(result: hyper::Result<()>) -> CloseCause {
    match result {
        Ok(()) => CloseCause::PeerClosed,
        // The only timer on an established HTTP/2 client connection is the
        // keepalive PING timeout.
        Err(e) if e.is_timeout() => CloseCause::KeepaliveTimeout,
        Err(e) => CloseCause::Transport(e.to_string()),
    }
}
