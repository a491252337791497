//! Ending a connection: draining it while hyper's dispatcher runs to its
//! end, and naming why it closed. Shared by the slot, the GOAWAY task and
//! the retirement task, which all end connections the same way.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use futures_util::FutureExt;
use tokio::time::timeout;

use crate::{
    conn::{dial::Http2Connection, lifecycle::Conn},
    event::{CloseCause, DrainCause},
    inflight::InFlight,
    wire::FirstBytes,
};

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
