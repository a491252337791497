//! One server-side HTTP/2 connection: served by hyper until it ends. When
//! its server starts a GOAWAY round it says goodbye: gracefully through
//! hyper, or (abrupt, too_many_pings) by the frame-aware relay in front of
//! hyper, which injects the GOAWAY frame and closes the socket.

use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::sync::watch;

use super::{
    control::Crashes,
    rpc_lines::{RecordRpcs, RpcLines},
};
use super::{
    control::GoawayMode,
    frames::{self, Injection},
};
use crate::{
    trace::{Recorder, TraceEvent},
    user::Faulted,
};

/// Bytes the in-memory pipe between the relay and hyper holds each way.
const PIPE_CAPACITY: usize = 64 * 1024;

/// What a connection task needs besides its socket and routes.
pub(super) struct Task {
    pub(super) server: String,
    pub(super) peer: String,
    pub(super) recorder: Recorder,
    /// The server's GOAWAY rounds.
    pub(super) goaway: watch::Receiver<GoawayMode>,
    /// Record a `server_rpc` line for every request received.
    pub(super) trace_rpcs: bool,
    /// SETTINGS_MAX_CONCURRENT_STREAMS, if not hyper's default (200).
    pub(super) max_streams: Option<u32>,
    pub(super) crashes: Crashes,
}

impl Task {
    pub(super) async fn run<R, W>(mut self, socket: (R, W), routes: Faulted<tonic::service::Routes>)
    where
        R: tokio::io::AsyncRead + Unpin,
        W: tokio::io::AsyncWrite + Unpin,
    {
        let (hyper_io, relay_io) = tokio::io::duplex(PIPE_CAPACITY);
        let (inject, injections) = watch::channel(None);
        // The relay ends when either side closes; it owns the socket, so
        // its end closes the connection. It runs inside this future, not as
        // a task of its own: when a crash drops the host's tasks, tokio
        // drops them in an order set by process-wide task ids, and the
        // order in which sockets close must depend on the run alone.
        let relay = frames::relay(socket, relay_io, injections);
        tokio::pin!(relay);
        let mut relay_done = false;
        let service = TowerToHyperService::new(RecordRpcs {
            inner: routes,
            rpcs: self.trace_rpcs.then(|| RpcLines {
                server: self.server.clone(),
                peer: self.peer.clone(),
                recorder: self.recorder.clone(),
                crashes: self.crashes.clone(),
            }),
        });
        let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        builder.timer(TokioTimer::new());
        if let Some(max) = self.max_streams {
            builder.max_concurrent_streams(max);
        }
        let conn = builder.serve_connection(TokioIo::new(hyper_io), service);
        tokio::pin!(conn);
        // Rounds before this connection existed are not for it.
        self.goaway.borrow_and_update();
        let mut goaway_sent = false;
        loop {
            tokio::select! {
                biased;
                // How the connection ended is the client's story, told by
                // the pool's events; the server only records that it did.
                _ = conn.as_mut() => break,
                () = relay.as_mut(), if !relay_done => relay_done = true,
                changed = self.goaway.changed(), if !goaway_sent => {
                    // One goodbye per connection: after a graceful GOAWAY
                    // hyper is already draining. A closed channel means the
                    // server is gone.
                    goaway_sent = true;
                    if changed.is_err() {
                        continue;
                    }
                    let mode = *self.goaway.borrow_and_update();
                    match mode {
                        // hyper sends GOAWAY(NO_ERROR, last id 2^31-1) and a
                        // PING, then the final GOAWAY with the real last
                        // stream id, and closes once open streams finish.
                        GoawayMode::Graceful => conn.as_mut().graceful_shutdown(),
                        GoawayMode::Abrupt => {
                            inject.send_replace(Some(Injection::Abrupt));
                        }
                        GoawayMode::TooManyPings => {
                            inject.send_replace(Some(Injection::TooManyPings));
                        }
                    }
                    self.recorder.record(
                        &self.server,
                        TraceEvent::ServerGoaway { peer: self.peer.clone(), mode },
                    );
                }
            }
        }
        // hyper has dropped its end of the pipe, so the relay finishes
        // passing on hyper's last frames and ends.
        if !relay_done {
            relay.await;
        }
        self.recorder.record(
            &self.server,
            TraceEvent::ServerConnClosed { peer: self.peer },
        );
    }
}
