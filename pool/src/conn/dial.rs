//! Opening a connection: the byte stream from the pool's `Connector`, then
//! the HTTP/2 handshake with the endpoint's keepalive settings.

use std::sync::Arc;

use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::rt::{TokioIo, TokioTimer};
use tonic::body::Body;

use crate::{
    conn::lifecycle::Conn,
    connector::BoxIo,
    endpoint::EndpointId,
    event::ConnectError,
    executor::TrackedExecutor,
    inflight::PROVISIONAL_PEER_LIMIT,
    shared::Shared,
    wire::{FirstBytes, Sniff},
};

/// hyper's dispatcher of one HTTP/2 connection: the future that drives it
/// and ends with it.
pub(super) type Http2Connection = http2::Connection<TokioIo<BoxIo>, Body, TrackedExecutor>;

/// A dialled connection: its request handle, hyper's dispatcher, and the
/// peer's first bytes.
pub(super) type Session = (SendRequest<Body>, Http2Connection, Arc<FirstBytes>);

/// Opens the byte stream and performs the HTTP/2 handshake.
/// The stream is wrapped to keep the peer's first bytes and to show its
/// frames to `conn.frames` (`wire::Sniff`).
pub(super) async fn dial(
    shared: &Shared,
    id: EndpointId,
    conn: &Conn,
) -> Result<Session, ConnectError> {
    let endpoint = shared.endpoints.get(id);
    let io = shared
        .connector
        .connect(&endpoint)
        .await
        .map_err(|e| ConnectError::Io(e.kind()))?;
    let (io, first) = Sniff::new(io, Arc::clone(&conn.frames));
    let io: BoxIo = Box::new(io);
    let keepalive = &shared.config.keepalive;
    let (sender, connection) = http2::Builder::new(shared.lifecycle.executor.clone())
        .timer(TokioTimer::new())
        .keep_alive_interval(conn.keepalive_interval)
        .keep_alive_timeout(keepalive.timeout)
        .keep_alive_while_idle(keepalive.while_idle)
        .initial_max_send_streams(PROVISIONAL_PEER_LIMIT)
        // The vendored hyper's two options (docs/upstream.md). The
        // connection, and each request's body pipe and response future, are
        // polled in the slot's task, which polls the dispatcher: a request
        // crosses no task on its way to the socket and its response wakes
        // only its caller, with the same writes as upstream's tasks make.
        // With `eager_last_chunk` too, a unary request's DATA goes out in
        // the same write as its HEADERS (`coalesce_request_writes`).
        .connection_in_dispatch_task(true)
        .eager_last_chunk(shared.config.coalesce_request_writes)
        .handshake(TokioIo::new(io))
        .await
        .map_err(|_| ConnectError::Handshake)?;
    Ok((sender, connection, first))
}
