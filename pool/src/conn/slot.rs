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
    sync::{oneshot, watch},
    time::{Instant, sleep_until, timeout},
};
use tonic::body::Body;

use crate::{
    backoff::Backoff,
    conn::Replacing,
    conn::{goaway, lifecycle::Conn, retire},
    connector::BoxIo,
    endpoint::EndpointId,
    endpoints::Removed,
    event::{CloseCause, ConnectError, DrainCause},
    executor::TrackedExecutor,
    frames::Goaway,
    idle::{self, Activity, Phase},
    inflight::{InFlight, PROVISIONAL_PEER_LIMIT},
    shared::Shared,
    sniff::{FirstBytes, Sniff},
    status::Connectivity,
    wait,
};

pub(super) type Http2Connection = http2::Connection<TokioIo<BoxIo>, Body, TrackedExecutor>;

pub(crate) struct Slot {
    /// The pool's idle phase, when it has an idle timeout.
    idle: Option<watch::Receiver<Phase>>,
    shared: Arc<Shared>,
    /// Index among all the pool's slots.
    index: usize,
    endpoint: EndpointId,
    backoff: Backoff,
    shutdown: watch::Receiver<bool>,
    /// Set when the endpoint is removed: the slot drains and ends.
    removed: Arc<Removed>,
    /// An extra slot (scaling): asleep until the pool needs room, and its
    /// connection closes after `scale_down_after` without RPCs.
    extra: bool,
}

/// How serving a ready connection ended.
enum Served {
    /// The connection ended by itself (peer, keepalive, error).
    Ended(Conn),
    /// The pool is shutting down; the connection was drained and closed.
    Shutdown,
    /// The pool went idle, or an extra connection was quiet long enough;
    /// the connection was drained and closed.
    Retired,
    /// The endpoint was removed; the connection was drained and closed.
    Removed,
    /// The connection reached its age limit, or used up its stream ids
    /// (the cause says which). It is still ready, and retires once the
    /// slot has a replacement.
    Aged(Conn, Pin<Box<Http2Connection>>, DrainCause),
    /// The server sent GOAWAY. The connection is draining; in-flight RPCs
    /// finish on it while the slot dials the replacement.
    Goaway(Conn, goaway::Dispatcher),
}

/// What stopped `serve`'s wait.
enum End {
    Closed(CloseCause),
    Shutdown,
    Removed,
    Idle,
    ScaleDown,
    Aged,
    StreamIdsUsed,
    Goaway(Goaway),
}

impl Slot {
    pub(crate) fn new(
        shared: Arc<Shared>,
        index: usize,
        endpoint: EndpointId,
        extra: bool,
    ) -> Self {
        Self {
            extra,
            idle: shared.idle.as_ref().map(|idle| idle.watch()),
            index,
            backoff: Backoff::new(shared.config.backoff),
            shutdown: shared.shutdown_signal(),
            removed: shared.endpoints.removed(endpoint),
            shared,
            endpoint,
        }
    }

    pub(crate) async fn run(mut self) {
        // Consecutive attempts since this slot last had a healthy connection.
        let mut attempt: u32 = 0;
        // The previous connection, retiring for its age: told when its
        // replacement is ready, so it keeps serving until then.
        let mut retiring: Option<oneshot::Sender<()>> = None;
        // Held while dialling the replacement of a connection sent away:
        // fail-fast RPCs wait for it (`Shared::is_replacing`).
        let mut replacing: Option<Replacing> = None;
        while !self.shared.is_shutting_down() {
            if self.removed.is_set() {
                self.end_removed();
                return;
            }
            if self.is_idle() {
                if !self.wait_awake().await {
                    return;
                }
                self.backoff.reset();
                attempt = 0;
            }
            // A retiring connection waits for this slot's replacement.
            if self.extra && retiring.is_none() {
                if !self.sleep().await {
                    return;
                }
                self.backoff.reset();
                attempt = 0;
            }
            attempt = attempt.saturating_add(1);
            let started = Instant::now();
            let delay = self.shared.with_rng(|rng| self.backoff.next_delay(rng));
            // gRPC: an attempt gets at least min_connect_timeout, and the next
            // attempt starts no earlier than `delay` after this one started.
            let connect_timeout = delay.max(self.shared.config.backoff.min_connect_timeout);
            let retry_at = started + delay;

            let mut conn = Conn::start(
                Arc::clone(&self.shared),
                self.index,
                self.endpoint,
                attempt,
                self.extra,
            );
            let dialled = tokio::select! {
                biased;
                _ = wait::for_shutdown(&mut self.shutdown) => {
                    conn.close(CloseCause::Shutdown);
                    return;
                }
                _ = self.removed.wait() => {
                    conn.close(CloseCause::Retired(DrainCause::EndpointRemoved));
                    return;
                }
                dialled = timeout(
                    connect_timeout,
                    dial(&self.shared, self.endpoint, &conn),
                ) => dialled,
            };
            // Ready or failed, the replacement is no longer on its way.
            drop(replacing.take());
            let (sender, connection, first) = match dialled {
                Ok(Ok(session)) => session,
                Ok(Err(error)) => {
                    conn.close(CloseCause::ConnectFailed(error));
                    self.grown();
                    self.wait_until(&conn, retry_at).await;
                    continue;
                }
                Err(_elapsed) => {
                    conn.close(CloseCause::ConnectFailed(ConnectError::Timeout));
                    self.grown();
                    self.wait_until(&conn, retry_at).await;
                    continue;
                }
            };

            conn.ready(sender, first);
            self.grown();
            if let Some(replaced) = retiring.take() {
                // An error means the old connection already ended by itself.
                let _ = replaced.send(());
            }
            let ready_at = Instant::now();
            let conn = match self.serve(conn, connection).await {
                Served::Shutdown | Served::Removed => return,
                Served::Aged(old, connection, cause) => {
                    let (replaced, on_replaced) = oneshot::channel();
                    retiring = Some(replaced);
                    let retire = retire::run(
                        Arc::clone(&self.shared),
                        old,
                        connection,
                        on_replaced,
                        cause,
                        self.shutdown.clone(),
                    );
                    hyper::rt::Executor::execute(&self.shared.executor, retire);
                    // A connection that lived its full age was healthy.
                    self.backoff.reset();
                    attempt = 0;
                    continue;
                }
                Served::Retired => {
                    self.backoff.reset();
                    attempt = 0;
                    continue;
                }
                Served::Goaway(old, dispatcher) => {
                    let sent_away = old.frames.take_replacing();
                    // A connection that carried RPCs proved the endpoint
                    // healthy, however short its life; one sent away
                    // before any RPC is the accept-then-GOAWAY loop.
                    let proven = ready_at.elapsed() >= self.shared.config.backoff.initial
                        || old.in_flight.rpcs() > 0;
                    let finish = goaway::finish(
                        Arc::clone(&self.shared),
                        old,
                        dispatcher,
                        self.shutdown.clone(),
                    );
                    hyper::rt::Executor::execute(&self.shared.executor, finish);
                    // A server that sends every connection away before it
                    // carries anything is redialled on the backoff
                    // schedule, like one that closes them at once; a
                    // healthy one is replaced at once.
                    if self.extra {
                        continue;
                    }
                    if proven {
                        self.backoff.reset();
                        attempt = 0;
                        replacing = sent_away;
                        continue;
                    }
                    drop(sent_away);
                    self.sleep_until(retry_at).await;
                    continue;
                }
                // An extra slot sleeps until it is needed again.
                Served::Ended(_) if self.extra => continue,
                Served::Ended(conn) => conn,
            };
            // A connection that stayed up proves the endpoint healthy: redial
            // at once, from the start of the schedule. One that died young
            // counts as a failed attempt, so a server that accepts and
            // immediately drops connections is not redialled in a hot loop.
            if ready_at.elapsed() >= self.shared.config.backoff.initial {
                self.backoff.reset();
                attempt = 0;
                // Sent away and closed at once (an abrupt GOAWAY): the
                // replacement is on its way.
                replacing = conn.frames.take_replacing();
            } else {
                self.wait_until(&conn, retry_at).await;
            }
        }
    }

    /// Drives a ready connection until it ends, the pool shuts down or goes
    /// idle, or the connection reaches its age limit.
    async fn serve(&mut self, mut conn: Conn, connection: Http2Connection) -> Served {
        // Boxed so it can move into the drain future below.
        let mut connection = Box::pin(connection);
        let retire_at = retire::age_limit(&self.shared).map(|age| Instant::now() + age);
        let frames = Arc::clone(&conn.frames);
        let in_flight = Arc::clone(&conn.in_flight);
        let scale_down_after = self.shared.config.scale_down_after;
        let ended = tokio::select! {
            biased;
            result = &mut connection => End::Closed(close_cause(result, conn.peer())),
            _ = wait::for_shutdown(&mut self.shutdown) => End::Shutdown,
            _ = self.removed.wait() => End::Removed,
            goaway = Arc::clone(&frames).goaway() => End::Goaway(goaway),
            _ = idle::until_idle(self.idle.as_mut()) => End::Idle,
            _ = quiet(in_flight.activity(), scale_down_after) => End::ScaleDown,
            _ = wait::until_some(retire_at) => End::Aged,
            _ = Arc::clone(&in_flight).stream_ids_used() => End::StreamIdsUsed,
        };
        let grace = self.shared.config.shutdown_grace;
        match ended {
            End::Closed(cause) => {
                // hyper's dispatcher ends once it sees a GOAWAY, and with
                // the connection when the server closed right after it:
                // either way the connection was sent away, and RPCs still
                // in flight on it finish first.
                if let Some(goaway) = conn.frames.received_goaway() {
                    goaway::sent_away(&self.shared, &mut conn, &goaway);
                    return Served::Goaway(conn, goaway::Dispatcher::Ended(cause));
                }
                conn.close(cause);
                Served::Ended(conn)
            }
            End::Shutdown => {
                drain_and_close(&mut conn, connection, DrainCause::Shutdown, grace).await;
                Served::Shutdown
            }
            // No RPC is in flight, unless one raced the idle decision: the
            // shutdown grace bounds that rare wait.
            End::Idle => {
                drain_and_close(&mut conn, connection, DrainCause::Idle, grace).await;
                Served::Retired
            }
            End::ScaleDown => {
                drain_and_close(&mut conn, connection, DrainCause::ScaleDown, grace).await;
                Served::Retired
            }
            End::Removed => {
                let cause = DrainCause::EndpointRemoved;
                drain_and_close(&mut conn, connection, cause, grace).await;
                Served::Removed
            }
            End::Aged => Served::Aged(conn, connection, DrainCause::MaxAge),
            End::StreamIdsUsed => Served::Aged(conn, connection, DrainCause::StreamIdsUsed),
            End::Goaway(goaway) => {
                goaway::sent_away(&self.shared, &mut conn, &goaway);
                Served::Goaway(conn, goaway::Dispatcher::Running(connection))
            }
        }
    }

    fn is_idle(&self) -> bool {
        self.shared
            .idle
            .as_ref()
            .is_some_and(|idle| idle.phase() == Phase::Idle)
    }

    /// Waits for an RPC to wake the idle pool; false if it shut down first.
    async fn wait_awake(&mut self) -> bool {
        let Some(phase) = self.idle.as_mut() else {
            return true;
        };
        tokio::select! {
            biased;
            _ = wait::for_shutdown(&mut self.shutdown) => false,
            _ = self.removed.wait() => {
                self.end_removed();
                false
            }
            _ = idle::until_awake(phase) => true,
        }
    }

    /// An extra slot sleeps until the pool asks for room; false if the
    /// pool shut down or the endpoint was removed first.
    async fn sleep(&mut self) -> bool {
        let wake = self.shared.scaling.sleep(self.endpoint);
        self.shared.update_slot(self.index, |status| {
            status.dormant = true;
            status.state = Connectivity::Idle;
        });
        let woken = tokio::select! {
            biased;
            _ = wait::for_shutdown(&mut self.shutdown) => false,
            _ = self.removed.wait() => false,
            _ = wake.notified() => true,
        };
        self.shared.scaling.left(self.endpoint);
        if woken {
            self.shared
                .update_slot(self.index, |status| status.dormant = false);
        } else {
            self.end_removed();
        }
        woken
    }

    /// An extra slot's dial ended (ready or failed): the pool may ask for
    /// another.
    fn grown(&self) {
        if self.extra {
            self.shared.scaling.grown(self.endpoint);
        }
    }

    /// The endpoint was removed while this slot had no connection.
    fn end_removed(&self) {
        self.shared.update_slot(self.index, |status| {
            status.state = Connectivity::Shutdown;
        });
    }

    /// Waits out the backoff until `retry_at`, unless the pool shuts down
    /// or goes idle.
    async fn wait_until(&mut self, conn: &Conn, retry_at: Instant) {
        let delay = retry_at.saturating_duration_since(Instant::now());
        if delay > Duration::ZERO {
            conn.backing_off(delay);
        }
        self.sleep_until(retry_at).await;
    }

    /// Sleeps until `retry_at`, unless the pool shuts down, goes idle or
    /// the endpoint is removed. After a connection sent away too young it
    /// is the whole backoff wait (no `Backoff` event: that connection is
    /// still draining).
    async fn sleep_until(&mut self, retry_at: Instant) {
        tokio::select! {
            biased;
            _ = wait::for_shutdown(&mut self.shutdown) => {}
            _ = self.removed.wait() => {}
            _ = idle::until_idle(self.idle.as_mut()) => {}
            _ = sleep_until(retry_at) => {}
        }
    }
}

/// Resolves once an extra connection has had nothing in flight for
/// `after` (never for other connections).
async fn quiet(activity: Option<&Arc<Activity>>, after: Duration) {
    match activity {
        Some(activity) => activity.quiet_for(after).await,
        None => std::future::pending().await,
    }
}

/// Drains `conn` for `cause`, lets in-flight RPCs finish within `grace`
/// while driving the connection, then closes it.
pub(super) async fn drain_and_close(
    conn: &mut Conn,
    connection: Pin<Box<Http2Connection>>,
    cause: DrainCause,
    grace: Duration,
) {
    conn.drain(cause);
    // Draining dropped the pool's last request handle, so the dispatcher
    // ends once in-flight RPCs are handed off; hyper's connection task
    // then closes the socket when their streams finish. Both are bounded
    // by the grace period.
    let drained = drain(connection, Arc::clone(&conn.in_flight));
    let _ = timeout(grace, drained).await;
    conn.close(match cause {
        DrainCause::Shutdown => CloseCause::Shutdown,
        other => CloseCause::Retired(other),
    });
}

/// Opens the byte stream and performs the HTTP/2 handshake.
/// The stream is wrapped to keep the peer's first bytes and to show its
/// frames to `frames` (`sniff.rs`).
async fn dial(shared: &Shared, id: EndpointId, conn: &Conn) -> Result<Session, ConnectError> {
    let endpoint = shared.endpoints.get(id);
    let io = shared
        .connector
        .connect(&endpoint)
        .await
        .map_err(|e| ConnectError::Io(e.kind()))?;
    let (io, first) = Sniff::new(io, Arc::clone(&conn.frames));
    let io: BoxIo = Box::new(io);
    let keepalive = &shared.config.keepalive;
    let (sender, connection) = http2::Builder::new(shared.executor.clone())
        .timer(TokioTimer::new())
        .keep_alive_interval(conn.keepalive_interval)
        .keep_alive_timeout(keepalive.timeout)
        .keep_alive_while_idle(keepalive.while_idle)
        .initial_max_send_streams(PROVISIONAL_PEER_LIMIT)
        .handshake(TokioIo::new(io))
        .await
        .map_err(|_| ConnectError::Handshake)?;
    Ok((sender, connection, first))
}

/// A dialled connection: its request handle, hyper's dispatcher, and the
/// peer's first bytes.
type Session = (SendRequest<Body>, Http2Connection, Arc<FirstBytes>);

/// Waits for in-flight RPCs while driving the dispatcher to its end.
pub(super) fn drain(
    connection: Pin<Box<Http2Connection>>,
    in_flight: Arc<InFlight>,
) -> impl Future<Output = ()> + Send {
    // `future::join` rather than `tokio::join!`, whose internal closures
    // trip rustc's `Send` inference on hyper's higher-ranked executor bounds.
    futures_util::future::join(in_flight.wait_idle(), connection).map(drop)
}

/// Why a ready connection ended, from what hyper's dispatcher returned and
/// the first bytes the peer sent.
pub(super) fn close_cause(result: hyper::Result<()>, first: Option<&FirstBytes>) -> CloseCause {
    let timeout = matches!(&result, Err(e) if e.is_timeout());
    if !timeout && let Some(first_bytes) = first.and_then(FirstBytes::not_http2) {
        return CloseCause::NotHttp2 { first_bytes };
    }
    match result {
        Ok(()) => CloseCause::PeerClosed,
        // The only timer on an established HTTP/2 client connection is the
        // keepalive PING timeout.
        Err(e) if e.is_timeout() => CloseCause::KeepaliveTimeout,
        Err(e) => CloseCause::Transport(e.to_string()),
    }
}
