//! A gRPC server host: accepts TCP connections (turmoil's in the
//! simulation, the kernel's in kernel mode: see [`net`]) and serves the echo
//! and health services over HTTP/2 with hyper, one task per connection,
//! recording each connection's opening and end.
//!
//! The accept loop is ours (not tonic's `Server`) so the simulator sees and
//! can act on every server-side connection: faults reach it through a
//! [`ServerControl`] (see [`control`]) to send GOAWAY on every connection
//! (a GOAWAY storm) or to restart gracefully (GOAWAY, stop accepting, drain,
//! close, come back after a downtime).

mod conn;
pub mod control;
mod frames;
mod health;
pub mod net;
mod rpc_lines;

use std::{sync::Arc, time::Duration};

use futures_util::{StreamExt, future::BoxFuture, stream::FuturesUnordered};
use tokio::{
    sync::watch,
    time::{Instant, sleep_until},
};

pub use control::{Behaviour, Failure, GoawayMode, Process, RestartPlan, ServerControl};
use control::{Commands, Crashes};
pub use net::{ServerNet, Turmoil};

use crate::{
    echo::EchoService,
    trace::{Recorder, TraceEvent},
    user::{Faulted, Software},
};

/// The port every simulated server listens on.
pub const ECHO_PORT: u16 = 50051;

/// Most connections one server keeps open; more are closed on accept, so a
/// runaway client cannot grow the server's task set without bound.
pub const MAX_SERVER_CONNECTIONS: usize = 1024;

/// Runs server `name` on turmoil until the host is crashed or the
/// simulation ends.
pub async fn serve(name: String, recorder: Recorder, control: ServerControl) -> turmoil::Result {
    serve_on(Turmoil, name, recorder, control).await
}

/// Runs server `name` on `net` until its future is dropped (a crash) or
/// listening fails.
pub async fn serve_on<N: ServerNet>(
    net: N,
    name: String,
    recorder: Recorder,
    control: ServerControl,
) -> Result<(), Box<dyn std::error::Error>> {
    let (routes, behaviour) = match control.software() {
        Software::Echo => {
            let echo = EchoService::with_behaviour(name.as_str(), control.behaviour());
            (
                health::echo_with_health(echo, control.behaviour()).await,
                None,
            )
        }
        Software::User(service) => {
            let routes = service.routes(&name);
            let routes = if service.needs_health() {
                health::add_health(routes, control.behaviour()).await
            } else {
                routes
            };
            // The faults that act on the echo service through its calls
            // act on a user's service in front of it.
            (routes, Some(control.behaviour()))
        }
    };
    let mut server = Server {
        service: Faulted {
            inner: routes,
            behaviour,
            failing_calls: Arc::default(),
        },
        commands: control.commands(),
        seen: Commands::default(),
        conns: FuturesUnordered::new(),
        goaway: watch::Sender::new(GoawayMode::Graceful),
        trace_rpcs: control.traces_rpcs(),
        max_streams: control.max_streams(),
        crashes: control.crashes(),
        name,
        recorder,
    };
    // Commands given before this incarnation started (e.g. before a crash)
    // are history: only later ones are acted on.
    server.seen = *server.commands.borrow_and_update();
    // A crashed process restarts only when its fault heals; meanwhile its
    // host's kernel refuses connects (nothing listens).
    control.running().await;
    loop {
        let listener = net.bind(ECHO_PORT).await?;
        server.record(TraceEvent::ServerListening);
        let plan = server.accept_until_restart(&net, listener).await?;
        // The listener is gone: new connections are refused from here on.
        server.drain(plan.drain_timeout).await;
        tokio::time::sleep(plan.downtime).await;
    }
}

/// One incarnation of a server's software.
struct Server {
    name: String,
    recorder: Recorder,
    /// The routes every connection serves, behind the server's faults.
    service: Faulted<tonic::service::Routes>,
    commands: watch::Receiver<Commands>,
    /// The last commands acted on.
    seen: Commands,
    /// Connection futures, polled by this (the host's main) future rather
    /// than spawned: a crash then drops them, and so closes their sockets,
    /// in an order fixed by the run (tokio drops spawned tasks in an order
    /// set by process-wide task ids, which earlier runs in the same test
    /// process change).
    conns: FuturesUnordered<BoxFuture<'static, ()>>,
    /// Set (and so announced) once per GOAWAY round, with the round's kind;
    /// every connection task watches it.
    goaway: watch::Sender<GoawayMode>,
    /// Record a `server_rpc` line for every request received.
    trace_rpcs: bool,
    /// SETTINGS_MAX_CONCURRENT_STREAMS, if not hyper's default.
    max_streams: Option<u32>,
    crashes: Crashes,
}

impl Server {
    fn record(&self, event: TraceEvent) {
        self.recorder.record(&self.name, event);
    }

    /// Serves connections until a graceful restart is commanded, and
    /// returns its plan. Consumes (and so closes) the listener.
    async fn accept_until_restart<N: ServerNet>(
        &mut self,
        net: &N,
        listener: N::Listener,
    ) -> Result<RestartPlan, Box<dyn std::error::Error>> {
        let mut commands_open = true;
        let mut next_round: Option<Instant> = None;
        loop {
            let repeat = async {
                match next_round {
                    Some(at) => sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                changed = self.commands.changed(), if commands_open => {
                    if changed.is_err() {
                        // The driver is gone; serve on without commands.
                        commands_open = false;
                        continue;
                    }
                    let now = *self.commands.borrow_and_update();
                    let seen = std::mem::replace(&mut self.seen, now);
                    if now.restart_epoch != seen.restart_epoch {
                        return Ok(now.restart);
                    }
                    if now.goaway_epoch != seen.goaway_epoch {
                        self.goaway_round(now.goaway_mode);
                    }
                    next_round = now.goaway_every.map(|every| Instant::now() + every);
                }
                () = repeat => {
                    self.goaway_round(self.seen.goaway_mode);
                    next_round = self.seen.goaway_every.map(|every| Instant::now() + every);
                }
                Some(()) = self.conns.next() => {
                    // Drives the connections; a finished one leaves the set.
                }
                accepted = N::accept(&listener) => {
                    let (stream, peer) = accepted?;
                    self.spawn_conn(N::split(stream), net.peer_name(peer));
                }
            }
        }
    }

    fn spawn_conn<R, W>(&mut self, socket: (R, W), peer: String)
    where
        R: tokio::io::AsyncRead + Unpin + Send + 'static,
        W: tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        if self.conns.len() >= MAX_SERVER_CONNECTIONS {
            // Dropping the stream closes it: the client sees EOF at once.
            self.record(TraceEvent::ServerConnRefused { peer });
            return;
        }
        self.record(TraceEvent::ServerConnOpen { peer: peer.clone() });
        let task = conn::Task {
            server: self.name.clone(),
            peer,
            recorder: self.recorder.clone(),
            goaway: self.goaway.subscribe(),
            trace_rpcs: self.trace_rpcs,
            max_streams: self.max_streams,
            crashes: self.crashes.clone(),
        };
        self.conns
            .push(Box::pin(task.run(socket, self.service.clone())));
    }

    /// Sends a GOAWAY of this kind on every open connection.
    fn goaway_round(&self, mode: GoawayMode) {
        // `send_replace` marks the value changed even if the mode is the
        // same as last round's, which is what makes it a new round.
        self.goaway.send_replace(mode);
    }

    /// GOAWAY on every connection, then waits up to `timeout` for them to
    /// finish their streams and close; closes the rest.
    async fn drain(&mut self, timeout: Duration) {
        self.goaway_round(GoawayMode::Graceful);
        let drained = tokio::time::timeout(timeout, async {
            while self.conns.next().await.is_some() {}
        })
        .await;
        let aborted = match drained {
            Ok(()) => 0,
            Err(_elapsed) => {
                let left = self.conns.len();
                // Dropping a connection's future drops its socket: a FIN.
                self.conns.clear();
                left
            }
        };
        debug_assert!(self.conns.is_empty(), "every connection task ended");
        self.record(TraceEvent::ServerStopped { aborted });
    }
}
