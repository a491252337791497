//! One server-side HTTP/2 connection: served by hyper until it ends, sending
//! a graceful GOAWAY when its server starts a GOAWAY round.

use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::sync::watch;

use crate::trace::{Recorder, TraceEvent};

/// What a connection task needs besides its socket and routes.
pub(super) struct Task {
    pub(super) server: String,
    pub(super) peer: String,
    pub(super) recorder: Recorder,
    /// The server's GOAWAY round counter.
    pub(super) goaway: watch::Receiver<u64>,
}

impl Task {
    pub(super) async fn run(
        mut self,
        stream: turmoil::net::TcpStream,
        routes: tonic::service::Routes,
    ) {
        let service = TowerToHyperService::new(routes);
        let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .serve_connection(TokioIo::new(stream), service);
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
                changed = self.goaway.changed(), if !goaway_sent => {
                    // A second GOAWAY adds nothing: hyper is already
                    // draining. A closed channel means the server is gone.
                    goaway_sent = true;
                    if changed.is_ok() {
                        // hyper sends GOAWAY(NO_ERROR, last id 2^31-1) and a
                        // PING, then the final GOAWAY with the real last
                        // stream id, and closes once open streams finish.
                        conn.as_mut().graceful_shutdown();
                        self.recorder.record(
                            &self.server,
                            TraceEvent::ServerGoaway { peer: self.peer.clone() },
                        );
                    }
                }
            }
        }
        self.recorder.record(
            &self.server,
            TraceEvent::ServerConnClosed { peer: self.peer },
        );
    }
}
