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
//! Bounded: at most [`MAX_TRANSPARENT_ATTEMPTS`] connections per RPC (per
//! policy attempt, for a retried call), each picked as the first was,
//! within the RPC's deadline.

use http::{Request, Response};
use tonic::body::Body;

use super::{
    Rpc,
    attempt::{Attempt, Refusal, attempt},
    body::PoolBody,
};
use crate::{
    error::PoolError,
    ids::ConnId,
    policy::{
        limit::LimitPermit,
        retry::replay::{Captured, Replayable},
    },
    shared::Routed,
};

/// Most connections one RPC is offered to when it never reaches the server
/// (hyper hands it back unsent, e.g. its connection closed first).
pub const MAX_TRANSPARENT_ATTEMPTS: usize = 3;

/// Largest request body kept for a transparent resend after the server
/// refused its stream; a larger body is sent once. As the retry policy's
/// default `max_buffered_body`.
pub const TRANSPARENT_RESEND_MAX_BODY: usize = 64 * 1024;

/// The request [`send`] sends: once, or from a kept copy it can resend
/// after the server refused it.
#[expect(
    clippy::large_enum_variant,
    reason = "one per RPC, on its future's stack; boxing would allocate per RPC"
)]
pub(crate) enum Outgoing<'a> {
    Once(Request<Body>),
    Kept(&'a Replayable),
}

impl Outgoing<'_> {
    /// The request for the next attempt.
    fn take(&mut self) -> Option<Request<Body>> {
        match self {
            Outgoing::Kept(kept) => Some(kept.request()),
            Outgoing::Once(_) => {
                let placeholder = Outgoing::Once(Request::new(Body::empty()));
                match std::mem::replace(self, placeholder) {
                    Outgoing::Once(request) => Some(request),
                    Outgoing::Kept(_) => unreachable!("matched Once above"),
                }
            }
        }
    }
}

/// Sends `request` on `routed`, keeping a copy for a resend when its body
/// is small and complete ([`TRANSPARENT_RESEND_MAX_BODY`]).
pub(crate) async fn send_keeping(
    rpc: &Rpc<'_>,
    routed: Routed,
    request: Request<Body>,
    limit: Option<LimitPermit>,
) -> Result<Response<PoolBody>, PoolError> {
    let kept;
    let outgoing = match Replayable::capture(request, TRANSPARENT_RESEND_MAX_BODY) {
        Captured::Replayable(replayable) => {
            kept = replayable;
            Outgoing::Kept(&kept)
        }
        Captured::Once(once) => Outgoing::Once(once),
    };
    send(rpc, routed, outgoing, limit).await
}

/// Sends `outgoing` on `routed`, and on other connections while it never
/// reaches a server: hyper hands it back unsent, or the server refuses
/// its stream and a kept copy can be resent. Each other connection is
/// picked the way the first one was (waiting for one when the call or
/// the pool's state says so).
pub(crate) async fn send(
    rpc: &Rpc<'_>,
    mut routed: Routed,
    mut outgoing: Outgoing<'_>,
    mut limit: Option<LimitPermit>,
) -> Result<Response<PoolBody>, PoolError> {
    // Connections not to offer the request again, in an array: a Vec
    // would be an allocation per RPC for a list that is almost always
    // empty.
    let mut avoid = [ConnId(0); MAX_TRANSPARENT_ATTEMPTS];
    let mut avoided = 0;
    let mut attempts = 0;
    let mut request = outgoing.take().expect("a first request");
    loop {
        attempts += 1;
        debug_assert!(attempts <= MAX_TRANSPARENT_ATTEMPTS);
        let conn = routed.conn;
        let (next, permit, error) = match attempt(rpc, routed, request, limit).await {
            Attempt::Done(result) => return result,
            // Never sent: it can safely go elsewhere.
            Attempt::Unsent {
                request: unsent,
                limit,
                error,
            } => {
                avoid[avoided] = conn;
                avoided += 1;
                (Some(unsent), limit, error)
            }
            // Sent but never processed: the kept copy can go elsewhere, or
            // back to the same connection if only the stream was refused
            // (a server over its stream limit, most often in the round trip
            // before the pool learnt that limit).
            Attempt::Refused { limit, error, by } => {
                if by == Refusal::Goaway {
                    avoid[avoided] = conn;
                    avoided += 1;
                }
                let resend = match &outgoing {
                    Outgoing::Kept(_) => outgoing.take(),
                    Outgoing::Once(_) => None,
                };
                (resend, limit, error)
            }
        };
        match next {
            Some(next) if attempts < MAX_TRANSPARENT_ATTEMPTS => {
                request = next;
                limit = permit;
                // Boxed: a resend is rare, and its wait would otherwise
                // sit in every RPC's future.
                routed = Box::pin(rpc.pick(&avoid[..avoided])).await?;
            }
            _ => return Err(error),
        }
    }
}
