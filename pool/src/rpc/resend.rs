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
use hyper::client::conn::http2::SendRequest;
use tokio::time::{Instant, sleep_until};
use tonic::body::Body;

use super::{
    Rpc,
    attempt::{Attempt, Handover, Refusal, attempt},
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
    /// The request for the next attempt, and how to hand it to hyper:
    /// `None` when it was sent once.
    fn take(&mut self) -> Option<(Request<Body>, Handover)> {
        match self {
            Outgoing::Kept(kept) => Some((kept.request(), Handover::Kept)),
            Outgoing::Once(once) => once.take().map(|request| (*request, Handover::Once)),
        }
    }

    /// What hyper said of a request it never sent: a request sent once
    /// comes back and is taken again; a kept request makes a fresh copy.
    fn put_back(&mut self, unsent: Option<Request<Body>>) {
        match self {
            Outgoing::Once(once) => {
                debug_assert!(once.is_none(), "a request sent once was taken");
                debug_assert!(unsent.is_some(), "try_send_request hands it back");
                *once = unsent.map(Box::new);
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
    /// (`Rpc::pick_elsewhere`). A `Vec`'s reference, not a slice: a thin
    /// pointer keeps `First`, which `send` holds while the RPC waits, at
    /// 16 bytes.
    Elsewhere(&'a Vec<RoutedTo>),
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
    rpc: &'a Rpc,
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
        let mut tries = Tries::default();
        loop {
            let (request, handover) = outgoing.take().expect("a request to send");
            // The outcome goes straight to `after`, as its first argument,
            // and what it says is matched at once: neither the outcome nor
            // `after`'s other arguments are then kept in this future while
            // the attempt waits (each would keep its room in every RPC's
            // future: over 270 bytes for the outcome).
            limit = match Tries::after(
                match handover {
                    Handover::Kept => {
                        attempt(rpc, routed, request, limit, SendRequest::send_request).await
                    }
                    Handover::Once => {
                        attempt(rpc, routed, request, limit, SendRequest::try_send_request).await
                    }
                },
                &mut tries,
                outgoing,
            ) {
                Next::Return(result) => return result,
                Next::Resend(permit) => permit,
            };
            if let Some(until) = tries.backoff_until(Instant::now(), rpc.deadline) {
                // Boxed, as the pick below: rare, and it would otherwise sit
                // in every RPC's future.
                Box::pin(sleep_until(until)).await;
            }
            // Boxed: a resend is rare, and its wait would otherwise sit in
            // every RPC's future.
            routed = Box::pin(rpc.pick(tries.avoided())).await?;
        }
    }
}

/// What [`send`] does after an attempt.
#[expect(
    clippy::large_enum_variant,
    reason = "matched where it is made, never held (see `send`)"
)]
enum Next {
    /// The RPC's outcome.
    Return(Result<Response<PoolBody>, PoolError>),
    /// Send the request again, with the limiter permit the RPC holds.
    Resend(Option<LimitPermit>),
}

/// One RPC's resends so far, and the rule that bounds them.
#[derive(Debug)]
struct Tries {
    /// Connections not to offer the request again (it was handed back
    /// unsent, or refused by a GOAWAY), in an array: a Vec would be an
    /// allocation per RPC for a list that is almost always empty.
    avoid: [ConnId; MAX_TRANSPARENT_ATTEMPTS],
    avoided: usize,
    /// Resends after a REFUSED_STREAM.
    refused: u32,
}

impl Default for Tries {
    fn default() -> Self {
        Self {
            avoid: [ConnId(0); MAX_TRANSPARENT_ATTEMPTS],
            avoided: 0,
            refused: 0,
        }
    }
}

impl Tries {
    /// Sorts the outcome of an attempt: the RPC's result, or another try.
    ///
    /// Inlined: the attempt's outcome is then matched where it is made,
    /// not copied in and out (~150 instructions per RPC, callgrind).
    #[inline(always)]
    fn after(attempt: Attempt, tries: &mut Tries, outgoing: &mut Outgoing) -> Next {
        let (permit, error) = match attempt {
            Attempt::Done(result) => return Next::Return(result),
            // Never sent: it can safely go elsewhere.
            Attempt::Unsent {
                conn,
                request: unsent,
                limit,
                error,
            } => {
                tries.avoid(conn);
                outgoing.put_back(unsent);
                (limit, error)
            }
            // Sent but never processed: the kept copy can go elsewhere, or
            // back to the same connection if only the stream was refused
            // (a server over its stream limit).
            Attempt::Refused {
                conn,
                limit,
                error,
                by,
            } => {
                if !outgoing.is_kept() {
                    return Next::Return(Err(error));
                }
                match by {
                    Refusal::Goaway => tries.avoid(conn),
                    Refusal::Stream => tries.refused += 1,
                }
                (limit, error)
            }
        };
        if tries.avoided == MAX_TRANSPARENT_ATTEMPTS || tries.refused > MAX_REFUSED_STREAM_RESENDS {
            return Next::Return(Err(error));
        }
        Next::Resend(permit)
    }

    fn avoid(&mut self, conn: ConnId) {
        debug_assert!(
            self.avoided < MAX_TRANSPARENT_ATTEMPTS,
            "bounded by `after`"
        );
        self.avoid[self.avoided] = conn;
        self.avoided += 1;
    }

    /// The connections the next pick must not take.
    fn avoided(&self) -> &[ConnId] {
        &self.avoid[..self.avoided]
    }

    /// Until when to wait before the next resend, if at all (never past
    /// the RPC's `deadline`).
    fn backoff_until(&self, now: Instant, deadline: Instant) -> Option<Instant> {
        let wait = refused_backoff(self.refused);
        (!wait.is_zero()).then(|| (now + wait).min(deadline))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept() -> Outgoing {
        let request = Request::new(Body::new(http_body_util::Full::new(
            bytes::Bytes::from_static(b"m"),
        )));
        Outgoing::from(Replayable::capture(request, TRANSPARENT_RESEND_MAX_BODY))
    }

    fn sent_once() -> Outgoing {
        Outgoing::Once(None)
    }

    fn unsent(conn: u64) -> Attempt {
        Attempt::Unsent {
            conn: ConnId(conn),
            request: None,
            limit: None,
            error: PoolError::NoReadyConnection,
        }
    }

    fn refused(conn: u64, by: Refusal) -> Attempt {
        Attempt::Refused {
            conn: ConnId(conn),
            limit: None,
            error: PoolError::NoReadyConnection,
            by,
        }
    }

    fn resends(next: &Next) -> bool {
        matches!(next, Next::Resend(_))
    }

    /// A request never sent goes to at most `MAX_TRANSPARENT_ATTEMPTS`
    /// connections, each avoided by the picks after it.
    #[test]
    fn an_unsent_request_tries_three_connections_then_fails() {
        let mut tries = Tries::default();
        let mut outgoing = kept();
        assert!(resends(&Tries::after(unsent(7), &mut tries, &mut outgoing)));
        assert!(resends(&Tries::after(unsent(9), &mut tries, &mut outgoing)));
        assert_eq!(tries.avoided(), [ConnId(7), ConnId(9)]);
        let last = Tries::after(unsent(4), &mut tries, &mut outgoing);
        assert!(matches!(
            last,
            Next::Return(Err(PoolError::NoReadyConnection))
        ));
        assert_eq!(tries.avoided().len(), MAX_TRANSPARENT_ATTEMPTS);
    }

    /// A GOAWAY's refusal avoids the connection, as an unsent request does;
    /// a REFUSED_STREAM does not (the connection may take the resend).
    #[test]
    fn a_goaway_avoids_its_connection_and_a_refused_stream_does_not() {
        let mut tries = Tries::default();
        let mut outgoing = kept();
        assert!(resends(&Tries::after(
            refused(1, Refusal::Stream),
            &mut tries,
            &mut outgoing
        )));
        assert!(tries.avoided().is_empty());
        assert!(resends(&Tries::after(
            refused(1, Refusal::Goaway),
            &mut tries,
            &mut outgoing
        )));
        assert_eq!(tries.avoided(), [ConnId(1)]);
    }

    /// Refused streams are resent `MAX_REFUSED_STREAM_RESENDS` times, the
    /// first at once and later ones after a backoff within the deadline.
    #[test]
    fn refused_streams_are_resent_a_bounded_number_of_times() {
        let mut tries = Tries::default();
        let mut outgoing = kept();
        let now = Instant::now();
        let deadline = now + Duration::from_millis(20);
        let mut waits = Vec::new();
        for _ in 0..MAX_REFUSED_STREAM_RESENDS {
            assert!(resends(&Tries::after(
                refused(1, Refusal::Stream),
                &mut tries,
                &mut outgoing
            )));
            waits.push(tries.backoff_until(now, deadline).map(|until| until - now));
        }
        let ms = Duration::from_millis;
        assert_eq!(
            waits,
            [
                None,
                Some(ms(1)),
                Some(ms(2)),
                Some(ms(4)),
                Some(ms(8)),
                Some(ms(16)),
                Some(ms(20)),
                Some(ms(20))
            ],
            "doubling from the second resend, never past the deadline"
        );
        let last = Tries::after(refused(1, Refusal::Stream), &mut tries, &mut outgoing);
        assert!(matches!(last, Next::Return(Err(_))));
    }

    /// A request sent once has no copy to resend after a refusal, but one
    /// hyper never sent can still go elsewhere.
    #[test]
    fn a_request_sent_once_is_not_resent_after_a_refusal() {
        let mut tries = Tries::default();
        let last = Tries::after(refused(1, Refusal::Goaway), &mut tries, &mut sent_once());
        assert!(matches!(last, Next::Return(Err(_))));
        let mut tries = Tries::default();
        let handed_back = Attempt::Unsent {
            conn: ConnId(1),
            request: Some(Request::new(Body::empty())),
            limit: None,
            error: PoolError::NoReadyConnection,
        };
        let mut outgoing = sent_once();
        assert!(resends(&Tries::after(
            handed_back,
            &mut tries,
            &mut outgoing
        )));
        assert!(
            outgoing.take().is_some(),
            "the request came back to be sent again"
        );
    }

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
