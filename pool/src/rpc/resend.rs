//! The transparent resend (gRPC's transparent retry): a request that never
//! reached a server is offered to another connection, spending no retry
//! budget, because it cannot have had an effect.
//!
//! Two ways a request is known never to have been processed: hyper hands
//! it back unsent (its connection closed first), or the server refused its
//! stream (above a GOAWAY's last-stream-id, or reset with REFUSED_STREAM).
//! Resending a sent request needs its bytes, so a request whose body is
//! small and complete when it is sent (every unary call) is kept
//! (`policy::retry::replay`); a larger one is sent once.
//!
//! Bounded, always within the RPC's deadline (per policy attempt, for a
//! retried call):
//! - a request handed back unsent or refused by a GOAWAY goes to at most
//!   [`MAX_TRANSPARENT_ATTEMPTS`] connections, each picked as the first
//!   was, never one that failed it before;
//! - a stream reset with REFUSED_STREAM is resent at most
//!   [`MAX_REFUSED_STREAM_RESENDS`] times, to any connection with room
//!   (the refusing one included: its server was over its stream limit for
//!   a moment, not gone). The first resend goes at once; from the second
//!   on the RPC waits first, 1 ms doubling up to 64 ms ([`refused_backoff`]),
//!   as Go's HTTP/2 client does from its second retry. A C-core server
//!   frees a stream's slot a moment after it sends the trailers, so a
//!   client that opens the next stream at once can be refused more than
//!   once in a row (`tests/interop.rs`).

use std::{future::Future, time::Duration};

use http::{Request, Response};
use tokio::time::{Instant, sleep_until};
use tonic::body::Body;

use super::{
    Rpc,
    attempt::{Attempt, Refusal, attempt},
    body::PoolBody,
};
use crate::{
    error::PoolError,
    ids::{ConnId, RoutedTo},
    policy::{
        limit::LimitPermit,
        retry::replay::{Captured, Replayable},
    },
    shared::Routed,
};

/// Most connections one RPC is offered to when it never reaches the server
/// (hyper hands it back unsent, e.g. its connection closed first).
pub const MAX_TRANSPARENT_ATTEMPTS: usize = 3;

/// Most resends of one RPC after servers reset its stream with
/// REFUSED_STREAM (see the module's doc).
pub const MAX_REFUSED_STREAM_RESENDS: u32 = 8;

/// The wait before the `resend`-th resend of a refused stream: none before
/// the first (the usual refusal, in the round trip before the pool learnt
/// the server's limit), then 1, 2, 4, ... ms, at most 64 ms.
pub(crate) fn refused_backoff(resend: u32) -> Duration {
    match resend {
        0 | 1 => Duration::ZERO,
        n => Duration::from_millis(1 << (n - 2).min(6)),
    }
}

/// Largest request body kept for a transparent resend after the server
/// refused its stream; a larger body is sent once. As the retry policy's
/// default `max_buffered_body`.
pub const TRANSPARENT_RESEND_MAX_BODY: usize = 64 * 1024;

/// The request [`send`] sends: once, or from a kept copy it can resend
/// after the server refused it.
#[expect(
    clippy::large_enum_variant,
    reason = "the kept request is the usual case; boxing it would allocate per RPC"
)]
pub(crate) enum Outgoing {
    /// Sent once (its body was not small and complete); `None` once sent.
    /// Boxed: the usual request is kept, and this is part of every
    /// in-flight RPC.
    Once(Option<Box<Request<Body>>>),
    Kept(Replayable),
}

impl From<Captured> for Outgoing {
    fn from(captured: Captured) -> Self {
        match captured {
            Captured::Replayable(kept) => Outgoing::Kept(kept),
            Captured::Once(once) => Outgoing::Once(Some(Box::new(once))),
        }
    }
}

impl Outgoing {
    /// The request for the next attempt: `None` when it was sent once.
    fn take(&mut self) -> Option<Request<Body>> {
        match self {
            Outgoing::Kept(kept) => Some(kept.request()),
            Outgoing::Once(once) => once.take().map(|request| *request),
        }
    }

    /// A request hyper handed back unsent, to be taken again. A kept
    /// request makes a fresh copy instead.
    fn put_back(&mut self, unsent: Request<Body>) {
        match self {
            Outgoing::Once(once) => {
                debug_assert!(once.is_none(), "a request sent once was taken");
                *once = Some(Box::new(unsent));
            }
            Outgoing::Kept(_) => drop(unsent),
        }
    }

    /// Another request like this one, for a copy of the call sent in
    /// parallel (a hedge): `None` when it was sent once.
    pub(crate) fn copy(&self) -> Option<Outgoing> {
        match self {
            Outgoing::Kept(kept) => Some(Outgoing::Kept(kept.copy())),
            Outgoing::Once(_) => None,
        }
    }

    /// Whether a sent request can be sent again.
    pub(crate) fn is_kept(&self) -> bool {
        matches!(self, Outgoing::Kept(_))
    }
}

/// Where [`send`] sends first.
pub(crate) enum First<'a> {
    /// Any connection, as a first attempt.
    Any,
    /// Elsewhere than these earlier attempts of a policy retry
    /// (`Rpc::pick_elsewhere`).
    Elsewhere(&'a [RoutedTo]),
    /// The connection the caller picked already (a hedge's). Boxed: `send`
    /// keeps its `first` for as long as the RPC waits, and an inline pick
    /// (120 bytes) would sit in every RPC's future.
    Picked(Box<Routed>),
}

/// Picks a connection (`first` says how) and sends `outgoing` on it, and on
/// other connections while it never reaches a server: hyper hands it back
/// unsent, or the server refuses its stream and a kept copy can be resent.
/// Each other connection is picked the way the first one was (waiting for
/// one when the call or the pool's state says so).
///
/// The pick is made here, not by the caller, and the request is taken from
/// `outgoing` as it is handed to hyper: neither is then held beside the
/// attempt while it waits (this future is part of every in-flight RPC).
///
/// Not an `async fn`: one keeps each argument twice for as long as it
/// runs (as it was passed, and as the body's own variable; `rustc
/// -Zprint-type-sizes`), 64 bytes more per in-flight RPC, and 240 more
/// when `First::Picked` held its pick inline
/// (`cargo bench -p squall-pool --bench footprint`).
#[expect(
    clippy::manual_async_fn,
    reason = "an async fn stores its arguments twice; see above"
)]
pub(crate) fn send<'a>(
    rpc: &'a Rpc<'a>,
    first: First<'a>,
    outgoing: &'a mut Outgoing,
    mut limit: Option<LimitPermit>,
) -> impl Future<Output = Result<Response<PoolBody>, PoolError>> + Send + 'a {
    async move {
        let mut routed = match first {
            First::Any => rpc.pick(&[]).await?,
            First::Elsewhere(tried) => rpc.pick_elsewhere(tried).await?,
            First::Picked(routed) => *routed,
        };
        // Connections not to offer the request again (it was handed back
        // unsent, or refused by a GOAWAY), in an array: a Vec would be an
        // allocation per RPC for a list that is almost always empty.
        let mut avoid = [ConnId(0); MAX_TRANSPARENT_ATTEMPTS];
        let mut avoided = 0;
        // Resends after a REFUSED_STREAM.
        let mut refused = 0;
        loop {
            let conn = routed.conn;
            let request = outgoing.take().expect("a request to send");
            let (permit, error) = match attempt(rpc, routed, request, limit).await {
                Attempt::Done(result) => return result,
                // Never sent: it can safely go elsewhere.
                Attempt::Unsent {
                    request: unsent,
                    limit,
                    error,
                } => {
                    avoid[avoided] = conn;
                    avoided += 1;
                    outgoing.put_back(unsent);
                    (limit, error)
                }
                // Sent but never processed: the kept copy can go elsewhere, or
                // back to the same connection if only the stream was refused
                // (a server over its stream limit).
                Attempt::Refused { limit, error, by } => {
                    if !outgoing.is_kept() {
                        return Err(error);
                    }
                    match by {
                        Refusal::Goaway => {
                            avoid[avoided] = conn;
                            avoided += 1;
                        }
                        Refusal::Stream => refused += 1,
                    }
                    (limit, error)
                }
            };
            debug_assert!(avoided <= MAX_TRANSPARENT_ATTEMPTS);
            if avoided == MAX_TRANSPARENT_ATTEMPTS || refused > MAX_REFUSED_STREAM_RESENDS {
                return Err(error);
            }
            limit = permit;
            let wait = refused_backoff(refused);
            if !wait.is_zero() {
                // Boxed, as the pick below: rare, and it would otherwise sit
                // in every RPC's future.
                let until = (Instant::now() + wait).min(rpc.deadline);
                Box::pin(sleep_until(until)).await;
            }
            // Boxed: a resend is rare, and its wait would otherwise sit in
            // every RPC's future.
            routed = Box::pin(rpc.pick(&avoid[..avoided])).await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first resend of a refused stream goes at once; later ones wait
    /// 1 ms doubling, capped at 64 ms, so the bounded resends of one RPC
    /// wait at most 1 + 2 + 4 + 8 + 16 + 32 + 64 = 127 ms in all.
    #[test]
    fn refused_streams_back_off_from_the_second_resend() {
        let waits: Vec<u64> = (0..=MAX_REFUSED_STREAM_RESENDS + 2)
            .map(|n| refused_backoff(n).as_millis() as u64)
            .collect();
        assert_eq!(waits, [0, 0, 1, 2, 4, 8, 16, 32, 64, 64, 64]);
        let total: u64 = (1..=MAX_REFUSED_STREAM_RESENDS)
            .map(|n| refused_backoff(n).as_millis() as u64)
            .sum();
        assert_eq!(total, 127);
    }
}
