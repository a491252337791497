//! A simulated gRPC server host: accepts turmoil TCP connections and serves
//! the echo and health services over HTTP/2 with hyper, one task per
//! connection, recording each connection's opening and end.
//!
//! The accept loop is ours (not tonic's `Server`) so the simulator sees and
//! can later act on every server-side connection.

use std::net::{IpAddr, Ipv4Addr};

use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use turmoil::net::TcpListener;

use crate::{
    echo,
    trace::{Recorder, TraceEvent},
};

/// The port every simulated server listens on.
pub const ECHO_PORT: u16 = 50051;

/// Runs server `name` until the host is crashed or the simulation ends.
pub async fn serve(name: String, recorder: Recorder) -> turmoil::Result {
    let listener = TcpListener::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), ECHO_PORT)).await?;
    let routes = echo::routes(&name).await;
    loop {
        let (stream, peer) = listener.accept().await?;
        let peer = match turmoil::reverse_lookup(peer.ip()) {
            Some(host) => format!("{host}:{}", peer.port()),
            None => peer.to_string(),
        };
        recorder.record(&name, TraceEvent::ServerConnOpen { peer: peer.clone() });
        let service = TowerToHyperService::new(routes.clone());
        let (name, recorder) = (name.clone(), recorder.clone());
        tokio::spawn(async move {
            // How the connection ended is the client's story, told by the
            // pool's events; the server only records that it did.
            let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
            recorder.record(&name, TraceEvent::ServerConnClosed { peer });
        });
    }
}
