//! Ending a connection: draining it while hyper's dispatcher runs to its
//! end, and naming why it closed. Shared by the slot, the GOAWAY task and
//! the retirement task, which all end connections the same way.

use std::{error::Error as _, future::Future, io, pin::Pin, sync::Arc, time::Duration};

use futures_util::FutureExt;
use tokio::time::timeout;

use crate::{
    conn::{dial::Http2Connection, lifecycle::Conn},
    event::{CloseCause, DrainCause},
    inflight::InFlight,
    wire::{FirstBytes, GoawayCode},
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
        Err(e) => failure_cause(e.to_string(), e.source()),
    }
}

/// Names a failed session's cause from hyper's description and the error
/// beneath it: hyper reports an I/O error as its source (the kernel's
/// `ETIMEDOUT` is the user timeout), an HTTP/2 error as an `h2::Error`
/// (a GOAWAY the peer sent is `is_go_away() && is_remote()`).
fn failure_cause(error: String, source: Option<&(dyn std::error::Error + 'static)>) -> CloseCause {
    let mut next = source;
    let mut io = None;
    while let Some(cause) = next {
        if let Some(e) = cause.downcast_ref::<io::Error>() {
            io = Some(e.kind());
            break;
        }
        if let Some(e) = cause.downcast_ref::<h2::Error>() {
            if e.is_go_away()
                && e.is_remote()
                && let Some(reason) = e.reason()
            {
                return CloseCause::PeerGoaway(GoawayCode(reason.into()));
            }
            io = e.get_io().map(io::Error::kind);
            break;
        }
        next = cause.source();
    }
    match io {
        Some(io::ErrorKind::TimedOut) => CloseCause::UserTimeout,
        io => CloseCause::Transport { error, io },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapped(io::Error);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("wrapped")
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    fn cause_of(source: &(dyn std::error::Error + 'static)) -> CloseCause {
        failure_cause("connection error".into(), Some(source))
    }

    #[test]
    fn etimedout_is_the_user_timeout() {
        let timed_out = io::Error::from(io::ErrorKind::TimedOut);
        assert_eq!(cause_of(&timed_out), CloseCause::UserTimeout);
        // Further down the chain, beneath an error that is no I/O error.
        assert_eq!(cause_of(&Wrapped(timed_out)), CloseCause::UserTimeout);
    }

    #[test]
    fn other_io_errors_keep_their_kind() {
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(
            cause_of(&reset),
            CloseCause::Transport {
                error: "connection error".into(),
                io: Some(io::ErrorKind::ConnectionReset),
            }
        );
        assert_eq!(
            cause_of(&reset).to_string(),
            r#"transport error="connection error" io=ConnectionReset"#
        );
    }

    #[test]
    fn an_http2_error_of_our_own_is_a_transport_error_without_io() {
        // A reason h2 raised itself, not a GOAWAY from the peer.
        let local = h2::Error::from(h2::Reason::PROTOCOL_ERROR);
        assert_eq!(
            failure_cause("http2 error".into(), Some(&local)),
            CloseCause::Transport {
                error: "http2 error".into(),
                io: None,
            }
        );
        assert_eq!(
            failure_cause("http2 error".into(), None).to_string(),
            r#"transport error="http2 error""#
        );
    }
}
