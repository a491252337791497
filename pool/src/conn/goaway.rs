//! A connection the server sent away: GOAWAY seen in its frames
//! (`conn/frames.rs`) drains it at once, and a task drives it until its
//! in-flight RPCs are done and the server has closed it.
//!
//! The server takes no new streams after GOAWAY, so the connection leaves
//! the ready set the moment the frame is read (before h2 has even parsed
//! it), while the slot dials the replacement. Streams above the GOAWAY's
//! last-stream-id were never processed; h2 fails them and the RPC path
//! resends them elsewhere (`rpc/resend.rs`). A "too_many_pings" GOAWAY also
//! doubles the endpoint's keepalive interval, as grpc-go does.
//!
//! From the moment a GOAWAY is read until the slot's replacement dial
//! ends, the pool counts a replacement on its way (`replacements.rs`): it
//! is CONNECTING, not failing, and fail-fast RPCs wait for it. Counting
//! starts in the read path, before h2 fails any refused stream, so a
//! refused RPC's resend always sees it.

use std::{future::Future, pin::Pin, sync::Arc};

use futures_util::FutureExt;

use tokio::{
    sync::watch,
    time::{Instant, timeout},
};

use crate::{
    conn::{
        close::{close_cause, drain},
        dial::Http2Connection,
        lifecycle::Conn,
    },
    event::{CloseCause, DrainCause, EventKind, PoolEvent},
    inflight::InFlight,
    shared::Shared,
    wait,
    wire::Goaway,
};

/// Takes `conn` out of rotation for `goaway`, and throttles its
/// endpoint's keepalive if the server asked for fewer pings.
pub(crate) fn sent_away(shared: &Shared, conn: &mut Conn, goaway: &Goaway) {
    conn.drain(DrainCause::Goaway(goaway.code));
    if goaway.is_too_many_pings() {
        let configured = shared.config.keepalive.interval;
        let Some(interval) =
            shared
                .endpoints
                .throttle_keepalive(conn.endpoint, configured, conn.keepalive_interval)
        else {
            return;
        };
        shared.events.emit(PoolEvent {
            at: Instant::now(),
            kind: EventKind::KeepaliveThrottled {
                endpoint: conn.endpoint,
                conn: conn.id,
                interval,
            },
        });
    }
}

/// hyper's dispatcher of a connection sent away: still running, or
/// already ended (it ends as soon as it sees the GOAWAY, while h2 still
/// carries the streams in flight), for this cause.
pub(crate) enum Dispatcher {
    Running(Pin<Box<Http2Connection>>),
    Ended(CloseCause),
}

/// Drives the drained `conn` until its RPCs are done and hyper's
/// dispatcher has ended, then closes it for what ended it. Nothing but
/// the RPCs' own deadlines and keepalive bound that wait, as they bound
/// any connection: the server decides when it closes. On shutdown the
/// rest is bounded by `shutdown_grace`.
pub(crate) async fn finish(
    shared: Arc<Shared>,
    mut conn: Conn,
    dispatcher: Dispatcher,
    mut shutdown: watch::Receiver<bool>,
) {
    let in_flight = Arc::clone(&conn.in_flight);
    let grace = shared.config.shutdown_grace;
    match dispatcher {
        Dispatcher::Running(mut connection) => {
            let ended = tokio::select! {
                biased;
                result = ended_and_idle(&mut connection, in_flight) => Some(result),
                _ = wait::for_shutdown(&mut shutdown) => None,
            };
            let cause = match ended {
                Some(result) => close_cause(result, conn.peer()),
                None => {
                    let _ = timeout(grace, drain(connection, Arc::clone(&conn.in_flight))).await;
                    CloseCause::Shutdown
                }
            };
            conn.close(cause);
        }
        Dispatcher::Ended(cause) => {
            let idle = tokio::select! {
                biased;
                () = idle(in_flight) => true,
                _ = wait::for_shutdown(&mut shutdown) => false,
            };
            if !idle {
                let _ = timeout(grace, Arc::clone(&conn.in_flight).wait_idle()).await;
            }
            conn.close(if idle { cause } else { CloseCause::Shutdown });
        }
    }
}

/// Resolves once no RPC is in flight (`Send` for the executor, as below).
fn idle(in_flight: Arc<InFlight>) -> impl Future<Output = ()> + Send {
    in_flight.wait_idle()
}

/// Resolves with how hyper's dispatcher ended, once it has and no RPC is
/// in flight. A plain function with an explicit `Send` bound: inside an
/// `async fn` rustc cannot prove the wait's `Notified` is `Send` for
/// every lifetime, which hyper's executor requires.
fn ended_and_idle(
    connection: &mut Pin<Box<Http2Connection>>,
    in_flight: Arc<InFlight>,
) -> impl Future<Output = hyper::Result<()>> + Send + '_ {
    futures_util::future::join(connection, in_flight.wait_idle()).map(|(result, ())| result)
}
