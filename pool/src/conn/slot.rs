//! The task behind one connection slot: dial, serve until the connection
//! ends, then redial on gRPC's backoff schedule, until the pool shuts down.
//!
//! A slot is a position ("the second connection to server-1"), not a
//! connection: each dial makes a new [`Conn`] with a new id, so a trace shows
//! a dead connection and its replacement as two lives.
//!
//! What to do next is the slot's state machine's decision
//! (`slot_state.rs`); this task performs each action it decides on (the
//! waits, the dial, serving) and feeds back what came of it.

use std::{pin::Pin, sync::Arc, time::Duration};

use tokio::{
    sync::{oneshot, watch},
    time::{Instant, sleep_until, timeout},
};

use crate::{
    conn::{
        close::{close_cause, drain_and_close},
        dial::{self, Http2Connection},
        goaway,
        lifecycle::Conn,
        retire,
        slot_state::{Action, Ending, Outcome, Sight, SlotMachine},
    },
    deadline,
    endpoint::EndpointId,
    endpoints::Removed,
    event::{CloseCause, ConnectError, DrainCause},
    idle::{self, Activity, Phase},
    shared::{Replacing, Shared},
    status::Connectivity,
    wait,
    wire::Goaway,
};

pub(crate) struct Slot {
    // These two come first: fields drop in order, so a slot that ends
    // stops counting a replacement, then releases a retiring connection,
    // before anything else it holds goes.
    /// Held while dialling the replacement of a connection sent away:
    /// fail-fast RPCs wait for it (`Replacements::any`, which the RPC
    /// path's wait asks through `Shared`'s tracker).
    replacing: Option<Replacing>,
    /// The previous connection, retiring for its age: told when its
    /// replacement is ready, so it keeps serving until then.
    retiring: Option<oneshot::Sender<()>>,
    /// The pool's idle phase, when it has an idle timeout.
    idle: Option<watch::Receiver<Phase>>,
    shared: Arc<Shared>,
    /// Index among all the pool's slots.
    index: usize,
    endpoint: EndpointId,
    shutdown: watch::Receiver<bool>,
    /// Set when the endpoint is removed: the slot drains and ends.
    removed: Arc<Removed>,
    /// An extra slot (scaling): asleep until the pool needs room, and its
    /// connection closes after `scale_down_after` without RPCs.
    extra: bool,
}

/// What one action leaves for the next, which takes it over.
enum Held {
    Nothing,
    /// A connection just dialled and ready, and hyper's dispatcher (boxed
    /// here, as `serve` polls it, so `Held` stays small): for `Serve`.
    Ready(Conn, Pin<Box<Http2Connection>>),
    /// A closed connection, kept until the backoff wait after it is over.
    /// Dropping it releases the replacement count it may still hold.
    Closed(Conn),
    /// The replacement count of a connection sent away (the connection
    /// itself went to the task that finishes it).
    SentAway(Option<Replacing>),
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
            replacing: None,
            retiring: None,
            extra,
            idle: shared.tracker.idle.as_ref().map(|idle| idle.watch()),
            index,
            shutdown: shared.shutdown_signal(),
            removed: shared.endpoints.removed(endpoint),
            shared,
            endpoint,
        }
    }

    pub(crate) async fn run(mut self) {
        let (mut machine, mut action) = SlotMachine::new(self.extra, self.shared.config.backoff);
        let mut held = Held::Nothing;
        loop {
            let outcome;
            (outcome, held) = match action {
                Action::Look { keep_replacing } => {
                    self.release(held, keep_replacing);
                    (Outcome::Looked(self.look()), Held::Nothing)
                }
                Action::WaitAwake => (self.wait_awake().await, Held::Nothing),
                Action::Sleep => (self.sleep().await, Held::Nothing),
                Action::Dial {
                    attempt,
                    delay,
                    connect_timeout,
                } => self.dial(attempt, delay, connect_timeout).await,
                Action::Serve => {
                    let Held::Ready(conn, connection) = held else {
                        unreachable!("`Serve` follows a dial that connected");
                    };
                    self.serve_ready(conn, connection).await
                }
                Action::Wait { until, announce } => {
                    self.back_off(until, announce, held).await;
                    (Outcome::Waited, Held::Nothing)
                }
                Action::EndRemoved => {
                    self.end_removed();
                    return;
                }
                Action::Stop => return,
            };
            action = match self.shared.with_rng(|rng| machine.step(outcome, rng)) {
                Ok(action) => action,
                // A bug in this driver: loud in debug builds and tests; in
                // release builds the slot ends rather than guess.
                Err(e) => {
                    debug_assert!(false, "{e}");
                    tracing::error!("{e}");
                    return;
                }
            };
        }
    }

    /// What the slot sees between connections.
    fn look(&self) -> Sight {
        Sight {
            shutting_down: self.shared.is_shutting_down(),
            removed: self.removed.is_set(),
            idle: self.is_idle(),
            retiring: self.retiring.is_some(),
        }
    }

    /// Lets go of what the last connection left before the slot looks
    /// again, except a replacement it keeps counting (`keep_replacing`).
    fn release(&mut self, held: Held, keep_replacing: bool) {
        match held {
            Held::Nothing => debug_assert!(!keep_replacing),
            Held::Closed(conn) => {
                if keep_replacing {
                    // Sent away and closed at once (an abrupt GOAWAY): the
                    // replacement is on its way.
                    self.keep_replacing(conn.frames.take_replacing());
                }
                // Releases the replacement count, unless just taken.
                drop(conn);
            }
            Held::SentAway(replacing) if keep_replacing => self.keep_replacing(replacing),
            Held::SentAway(replacing) => drop(replacing),
            Held::Ready(..) => unreachable!("a ready connection is served"),
        }
    }

    fn keep_replacing(&mut self, replacing: Option<Replacing>) {
        // The last dial ended, which released the previous one.
        debug_assert!(self.replacing.is_none());
        self.replacing = replacing;
    }

    /// Dials attempt `attempt`, within `connect_timeout`; the next attempt
    /// starts no earlier than `delay` from now.
    async fn dial(
        &mut self,
        attempt: u32,
        delay: Duration,
        connect_timeout: Duration,
    ) -> (Outcome, Held) {
        let retry_at = Instant::now() + delay;
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
                return (Outcome::Halted, Held::Nothing);
            }
            _ = self.removed.wait() => {
                conn.close(CloseCause::Retired(DrainCause::EndpointRemoved));
                return (Outcome::Halted, Held::Nothing);
            }
            dialled = timeout(
                connect_timeout,
                dial::dial(&self.shared, self.endpoint, &conn),
            ) => dialled,
        };
        // Ready or failed, the replacement is no longer on its way.
        drop(self.replacing.take());
        let error = match dialled {
            Ok(Ok((sender, connection, first))) => {
                conn.ready(sender, first);
                self.grown();
                return (
                    Outcome::Connected { retry_at },
                    Held::Ready(conn, Box::pin(connection)),
                );
            }
            Ok(Err(error)) => error,
            Err(_elapsed) => ConnectError::Timeout,
        };
        conn.close(CloseCause::ConnectFailed(error));
        self.grown();
        (Outcome::DialFailed { retry_at }, Held::Closed(conn))
    }

    /// Serves on the connection just dialled until it ends, and hands a
    /// connection that retires or was sent away to the task that finishes
    /// it.
    async fn serve_ready(
        &mut self,
        conn: Conn,
        connection: Pin<Box<Http2Connection>>,
    ) -> (Outcome, Held) {
        if let Some(replaced) = self.retiring.take() {
            // An error means the old connection already ended by itself.
            let _ = replaced.send(());
        }
        let ready_at = Instant::now();
        match self.serve(conn, connection).await {
            Served::Shutdown | Served::Removed => (Outcome::Served(Ending::Stopped), Held::Nothing),
            Served::Retired => (Outcome::Served(Ending::Retired), Held::Nothing),
            Served::Aged(old, connection, cause) => {
                let (replaced, on_replaced) = oneshot::channel();
                debug_assert!(self.retiring.is_none());
                self.retiring = Some(replaced);
                let retire = retire::run(
                    Arc::clone(&self.shared),
                    old,
                    connection,
                    on_replaced,
                    cause,
                    self.shutdown.clone(),
                );
                hyper::rt::Executor::execute(&self.shared.lifecycle.executor, retire);
                // A connection that lived its full age was healthy.
                (Outcome::Served(Ending::Retired), Held::Nothing)
            }
            Served::Goaway(old, dispatcher) => {
                let sent_away = old.frames.take_replacing();
                let ending = Ending::SentAway {
                    lived_for: ready_at.elapsed(),
                    carried_rpcs: old.in_flight.rpcs() > 0,
                };
                let finish = goaway::finish(
                    Arc::clone(&self.shared),
                    old,
                    dispatcher,
                    self.shutdown.clone(),
                );
                hyper::rt::Executor::execute(&self.shared.lifecycle.executor, finish);
                (Outcome::Served(ending), Held::SentAway(sent_away))
            }
            Served::Ended(conn) => {
                let lived_for = ready_at.elapsed();
                (
                    Outcome::Served(Ending::Closed { lived_for }),
                    Held::Closed(conn),
                )
            }
        }
    }

    /// Waits out the backoff until `until`. After a closed connection the
    /// wait is announced, and the connection kept until it is over; after
    /// one sent away, its replacement is released first.
    async fn back_off(&mut self, until: Instant, announce: bool, held: Held) {
        match held {
            Held::Closed(conn) => {
                debug_assert!(announce);
                self.wait_until(&conn, until).await;
                drop(conn);
            }
            Held::SentAway(replacing) => {
                debug_assert!(!announce);
                drop(replacing);
                self.sleep_until(until).await;
            }
            Held::Nothing | Held::Ready(..) => unreachable!("a wait follows a connection's end"),
        }
    }

    /// Drives a ready connection until it ends, the pool shuts down or goes
    /// idle, or the connection reaches its age limit.
    /// The connection comes boxed so it can move into the drain future.
    async fn serve(&mut self, mut conn: Conn, mut connection: Pin<Box<Http2Connection>>) -> Served {
        let retire_at =
            retire::age_limit(&self.shared).map(|age| deadline::after(Instant::now(), age));
        let frames = Arc::clone(&conn.frames);
        let in_flight = Arc::clone(&conn.in_flight);
        let scale_down_after = self.shared.config.scale_down_after;
        // Every other way the connection's service ends. Gated: the task
        // wakes on every RPC to drive `connection`, and these are looked at
        // only when one of them was woken (`wait::WhenWoken`).
        let other_ends = wait::WhenWoken::new(async {
            tokio::select! {
                biased;
                _ = wait::for_shutdown(&mut self.shutdown) => End::Shutdown,
                _ = self.removed.wait() => End::Removed,
                goaway = Arc::clone(&frames).goaway() => End::Goaway(goaway),
                _ = idle::until_idle(self.idle.as_mut()) => End::Idle,
                _ = quiet(in_flight.activity(), scale_down_after) => End::ScaleDown,
                _ = wait::until_some(retire_at) => End::Aged,
                _ = Arc::clone(&in_flight).stream_ids_used() => End::StreamIdsUsed,
            }
        });
        let ended = tokio::select! {
            biased;
            result = &mut connection => End::Closed(close_cause(result, conn.peer())),
            end = other_ends => end,
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
            .tracker
            .idle
            .as_ref()
            .is_some_and(|idle| idle.phase() == Phase::Idle)
    }

    /// Waits for an RPC to wake the idle pool, unless it shuts down or the
    /// endpoint is removed first.
    async fn wait_awake(&mut self) -> Outcome {
        let Some(phase) = self.idle.as_mut() else {
            return Outcome::Woken;
        };
        tokio::select! {
            biased;
            _ = wait::for_shutdown(&mut self.shutdown) => Outcome::Halted,
            _ = self.removed.wait() => {
                self.end_removed();
                Outcome::Halted
            }
            _ = idle::until_awake(phase) => Outcome::Woken,
        }
    }

    /// An extra slot sleeps until the pool asks for room, unless the pool
    /// shuts down or the endpoint is removed first.
    async fn sleep(&mut self) -> Outcome {
        let wake = self.shared.routing.scaling.sleep(self.endpoint);
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
        self.shared.routing.scaling.left(self.endpoint);
        if woken {
            self.shared
                .update_slot(self.index, |status| status.dormant = false);
        } else {
            self.end_removed();
        }
        if woken {
            Outcome::Woken
        } else {
            Outcome::Halted
        }
    }

    /// An extra slot's dial ended (ready or failed): the pool may ask for
    /// another.
    fn grown(&self) {
        if self.extra {
            self.shared.routing.scaling.grown(self.endpoint);
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
