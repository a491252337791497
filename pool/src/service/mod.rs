//! The RPC path, from request to response: what `Pool`'s `tower::Service`
//! (in `pool.rs`) and a lease's run.
//! An idempotent call, when the pool has a retry policy, goes through
//! `retry::send` (`service/retry.rs`), which uses `send_on` below for each
//! attempt.
//!
//! An RPC takes a limiter permit (if configured), picks a ready connection
//! whose endpoint's breaker admits it, completes the request URI and hands
//! the request to hyper. Every wait, up to the response headers, is bounded
//! by the RPC's deadline. The permit, the in-flight count and the breaker's
//! record then travel in the response body until the caller is done.
//!
//! A request that never reached the server is resent on another
//! connection, transparently (gRPC's transparent retry): hyper handed it
//! back unsent, or the server refused its stream (above a GOAWAY's
//! last-stream-id, or reset with REFUSED_STREAM) so it was never
//! processed. Resending a sent request needs its bytes, so a request whose
//! body is small and complete when it is sent (every unary call) is kept
//! (`retry::replay`).

mod retry;

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use http::{Request, Response};
use std::error::Error as _;
use tokio::time::{Instant, timeout_at};
use tonic::{Status, body::Body};

use crate::{
    body::{CallGuards, PoolBody},
    code::GrpcCode,
    deadline::grpc_timeout,
    error::PoolError,
    ids::{ConnId, RoutedTo},
    policy::breaker::CallResult,
    policy::limit::LimitPermit,
    policy::retry::{
        Idempotent,
        replay::{Captured, Replayable},
    },
    shared::{Routed, Shared},
    wait_for_ready::{self, WaitForReady},
};

/// Most connections one RPC is offered to when it never reaches the server
/// (hyper hands it back unsent, e.g. its connection closed first).
pub const MAX_TRANSPARENT_ATTEMPTS: usize = 3;

/// Largest request body kept for a transparent resend after the server
/// refused its stream; a larger body is sent once. As the retry policy's
/// default `max_buffered_body`.
pub const TRANSPARENT_RESEND_MAX_BODY: usize = 64 * 1024;

/// One RPC, up to its response headers: deadline, limiter, pick, send.
/// Every wait is bounded by the RPC's deadline.
pub(crate) async fn send(
    shared: &Shared,
    request: Request<Body>,
) -> Result<Response<PoolBody>, PoolError> {
    // The permit is the caller's, so it is kept across transparent retries.
    let deadline = deadline_of(shared, &request);
    let wait_for_ready = request.extensions().get::<WaitForReady>().is_some();
    let limit = admit(shared, deadline).await?;
    if let Some(retry) = &shared.policies.retry
        && request.extensions().get::<Idempotent>().is_some()
    {
        // Boxed: its state would otherwise sit in every RPC's future.
        return Box::pin(retry::send(
            shared,
            retry,
            request,
            limit,
            deadline,
            wait_for_ready,
        ))
        .await;
    }
    let routed = wait_for_ready::pick(shared, deadline, &[], wait_for_ready).await?;
    let kept;
    let outgoing = match Replayable::capture(request, TRANSPARENT_RESEND_MAX_BODY) {
        Captured::Replayable(replayable) => {
            kept = replayable;
            Outgoing::Kept(&kept)
        }
        Captured::Once(once) => Outgoing::Once(once),
    };
    send_on(shared, routed, outgoing, limit, deadline, wait_for_ready).await
}

/// The request `send_on` sends: once, or from a kept copy it can resend
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

/// Sends `outgoing` on `routed`, and on other connections while it never
/// reaches a server (a transparent retry): hyper hands it back unsent, or
/// the server refuses its stream and a kept copy can be resent. Each
/// other connection is picked the way the first one was (waiting for one
/// when the call or the pool's state says so).
pub(crate) async fn send_on(
    shared: &Shared,
    mut routed: Routed,
    mut outgoing: Outgoing<'_>,
    mut limit: Option<LimitPermit>,
    deadline: Instant,
    wait_for_ready: bool,
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
        let conn = routed.conn;
        let (next, permit, error) = match attempt(shared, routed, request, limit, deadline).await {
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
                routed = Box::pin(wait_for_ready::pick(
                    shared,
                    deadline,
                    &avoid[..avoided],
                    wait_for_ready,
                ))
                .await?;
            }
            _ => return Err(error),
        }
    }
}

/// When the RPC must be done by: its `grpc-timeout`, or the pool default.
pub(crate) fn deadline_of(shared: &Shared, request: &Request<Body>) -> Instant {
    let timeout = grpc_timeout(request.headers()).unwrap_or(shared.config.default_rpc_timeout);
    Instant::now() + timeout
}

/// What every RPC goes through before a connection is chosen: refused once
/// the pool shuts down, then a limiter permit if the pool has a limiter (its
/// core never admits a waiter past `deadline`).
pub(crate) async fn admit(
    shared: &Shared,
    deadline: Instant,
) -> Result<Option<LimitPermit>, PoolError> {
    if shared.is_shutting_down() {
        return Err(PoolError::Shutdown);
    }
    match &shared.policies.limiter {
        Some(gate) => Ok(Some(
            gate.acquire(deadline).await.map_err(PoolError::Limited)?,
        )),
        None => Ok(None),
    }
}

/// How one attempt on one connection ended.
pub(crate) enum Attempt {
    /// A response, or a failure after the request may have reached the server.
    Done(Result<Response<PoolBody>, PoolError>),
    /// hyper handed the request back unsent; the caller may offer it to
    /// another connection, with the limiter permit it already holds.
    Unsent {
        request: Request<Body>,
        limit: Option<LimitPermit>,
        error: PoolError,
    },
    /// The request was sent, but the server refused its stream without
    /// processing it: a kept copy may be sent again.
    Refused {
        limit: Option<LimitPermit>,
        error: PoolError,
        by: Refusal,
    },
}

/// How a server refused a stream it never processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Above its GOAWAY's last-stream-id: the connection takes no more.
    Goaway,
    /// Reset with REFUSED_STREAM: the connection itself may be fine.
    Stream,
}

/// Sends `request` on the connection `routed` names, until its response
/// headers or `deadline`.
pub(crate) async fn attempt(
    shared: &Shared,
    routed: Routed,
    mut request: Request<Body>,
    limit: Option<LimitPermit>,
    deadline: Instant,
) -> Attempt {
    let endpoint = shared.endpoints.get(routed.endpoint);
    *request.uri_mut() = endpoint.absolute_uri(request.uri());
    let to = RoutedTo {
        conn: routed.conn,
        endpoint: routed.endpoint,
    };
    let mut call = CallGuards {
        _in_flight: routed.guard,
        _limit: limit,
        breaker: routed.breaker,
        outlier: routed.outlier,
    };
    let mut sender = routed.sender;
    let peer = routed.peer;
    // The connection failed under the RPC; the peer's first bytes say
    // whether it was ever an HTTP/2 server.
    let connection_error = |source: hyper::Error| match peer.not_http2() {
        Some(first_bytes) => PoolError::NotHttp2 {
            conn: to.conn,
            endpoint: to.endpoint,
            first_bytes,
        },
        None => PoolError::Connection {
            conn: to.conn,
            endpoint: to.endpoint,
            source,
        },
    };
    let mut failed = match timeout_at(deadline, sender.try_send_request(request)).await {
        Ok(Ok(response)) => return Attempt::Done(Ok(PoolBody::wrap(response, to, call))),
        Ok(Err(failed)) => failed,
        Err(_elapsed) => {
            call.finish(CallResult::Status(GrpcCode::DeadlineExceeded));
            return Attempt::Done(Err(PoolError::DeadlineExceeded {
                conn: to.conn,
                endpoint: to.endpoint,
            }));
        }
    };
    match failed.take_message() {
        // Never sent, so it says nothing about the endpoint: dropping the
        // breaker record counts it as ignored.
        Some(request) => Attempt::Unsent {
            request,
            limit: call.take_limit(),
            error: connection_error(failed.into_error()),
        },
        None => {
            let error = failed.into_error();
            if let Some(by) = never_processed(&error) {
                // Refused unprocessed: like an unsent request, it says
                // nothing about the endpoint.
                return Attempt::Refused {
                    limit: call.take_limit(),
                    error: connection_error(error),
                    by,
                };
            }
            call.finish(CallResult::TransportError);
            Attempt::Done(Err(connection_error(error)))
        }
    }
}

/// Whether the server guaranteed it never processed the stream: h2 fails
/// a stream above a GOAWAY's last-stream-id with that (remote) GOAWAY,
/// and a server that refuses one resets it with REFUSED_STREAM (RFC 9113
/// §8.7). A stream cut by anything else may have been processed.
fn never_processed(error: &hyper::Error) -> Option<Refusal> {
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(h2) = cause.downcast_ref::<h2::Error>() {
            if !h2.is_remote() {
                return None;
            }
            if h2.is_go_away() {
                return Some(Refusal::Goaway);
            }
            let refused = h2.is_reset() && h2.reason() == Some(h2::Reason::REFUSED_STREAM);
            return refused.then_some(Refusal::Stream);
        }
        source = cause.source();
    }
    None
}

type Pending = Pin<Box<dyn Future<Output = Result<Response<PoolBody>, Status>> + Send>>;

/// The future returned by [`Pool`](crate::Pool)'s `call`.
pub struct ResponseFuture {
    inner: Pending,
}

impl ResponseFuture {
    pub(crate) fn new(
        future: impl Future<Output = Result<Response<PoolBody>, Status>> + Send + 'static,
    ) -> Self {
        Self {
            inner: Box::pin(future),
        }
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<PoolBody>, Status>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}
