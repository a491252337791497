//! Max connection age: each connection's jittered age limit, and the task
//! that retires a connection once it has been replaced.
//!
//! Like grpc-go's server-side `MaxConnectionAge`, but done by the client:
//! at its age limit a connection keeps serving while its slot dials the
//! replacement, so capacity never drops. Once the replacement is ready the
//! old connection drains (`DrainCause::MaxAge`: no new RPCs), in-flight
//! RPCs get `max_connection_age_grace` to finish, and it closes.
//!
//! A connection that has carried `recycle_after_streams` RPCs retires the
//! same way (`DrainCause::StreamIdsUsed`), long before h2 runs out of
//! stream ids. One the server sends away while it waits drains at once.

use std::{pin::Pin, sync::Arc, time::Duration};

use rand::Rng;
use tokio::{
    sync::{oneshot, watch},
    time::{Instant, sleep_until, timeout_at},
};

use crate::{
    conn::{
        close::{close_cause, drain, drain_and_close},
        dial::Http2Connection,
        goaway,
        lifecycle::Conn,
    },
    deadline,
    event::{CloseCause, DrainCause},
    shared::Shared,
    wait,
};

/// This connection's age limit: `max_connection_age` scaled by a draw in
/// `1 ± max_connection_age_jitter` from the pool's RNG. `None` when
/// connections have no age limit (and then nothing is drawn, so pools
/// without one make the same random choices as before it existed).
pub(crate) fn age_limit(shared: &Shared) -> Option<Duration> {
    let age = shared.config.max_connection_age?;
    let jitter = shared.config.max_connection_age_jitter;
    if jitter == 0.0 {
        return Some(age);
    }
    let factor = shared.with_rng(|rng| rng.random_range(1.0 - jitter..=1.0 + jitter));
    // Clamped first: `mul_f64` panics when the product overflows `Duration`.
    Some(deadline::clamp(age).mul_f64(factor))
}

/// Retires `conn`, which reached its age limit or used up its stream ids
/// (`cause`): it serves until `replaced` fires, then drains and closes. A
/// connection that ends by itself first is closed for that cause, one the
/// server sends away drains at once; on shutdown it drains like any
/// other, within `shutdown_grace`.
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut conn: Conn,
    mut connection: Pin<Box<Http2Connection>>,
    replaced: oneshot::Receiver<()>,
    cause: DrainCause,
    mut shutdown: watch::Receiver<bool>,
) {
    debug_assert!(matches!(
        cause,
        DrainCause::MaxAge | DrainCause::StreamIdsUsed
    ));
    let shutdown_grace = shared.config.shutdown_grace;
    let frames = Arc::clone(&conn.frames);
    let replaced = tokio::select! {
        biased;
        result = &mut connection => {
            let cause = close_cause(result, conn.peer());
            if let Some(sent_away) = frames.received_goaway() {
                goaway::sent_away(&shared, &mut conn, &sent_away);
                let dispatcher = goaway::Dispatcher::Ended(cause);
                goaway::finish(Arc::clone(&shared), conn, dispatcher, shutdown).await;
                return;
            }
            conn.close(cause);
            return;
        }
        _ = wait::for_shutdown(&mut shutdown) => false,
        sent_away = Arc::clone(&frames).goaway() => {
            goaway::sent_away(&shared, &mut conn, &sent_away);
            let dispatcher = goaway::Dispatcher::Running(connection);
            goaway::finish(Arc::clone(&shared), conn, dispatcher, shutdown).await;
            return;
        }
        // An error means the slot ended without a replacement: its
        // endpoint was removed (or the pool is shutting down).
        replaced = replaced => replaced.is_ok(),
    };
    if !replaced {
        let cause = if shared.is_shutting_down() {
            DrainCause::Shutdown
        } else {
            DrainCause::EndpointRemoved
        };
        drain_and_close(&mut conn, connection, cause, shutdown_grace).await;
        return;
    }

    conn.drain(cause);
    // `after`: a configured grace of `Duration::MAX` must not overflow.
    let grace_ends = deadline::after(Instant::now(), shared.config.max_connection_age_grace);
    let mut drained = Box::pin(drain(connection, Arc::clone(&conn.in_flight)));
    tokio::select! {
        biased;
        _ = &mut drained => {}
        _ = sleep_until(grace_ends) => {}
        _ = wait::for_shutdown(&mut shutdown) => {
            // Shutdown bounds what is left of the grace too.
            let by = grace_ends.min(deadline::after(Instant::now(), shutdown_grace));
            let _ = timeout_at(by, &mut drained).await;
        }
    }
    conn.close(CloseCause::Retired(cause));
}
