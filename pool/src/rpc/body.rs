//! `PoolBody`: the response body handed to callers, where the pipeline
//! ends. It carries the RPC's [`CallGuards`] (in-flight count, limiter
//! permit, the breaker's and outlier detector's records) until the caller
//! is done with it, and reports the call's gRPC status to both when the
//! trailers arrive.

use std::{
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tonic::Status;

use crate::{
    code::GrpcCode,
    error::PoolError,
    ids::RoutedTo,
    inflight::InFlightGuard,
    policy::breaker::{BreakerCall, CallResult},
    policy::limit::LimitPermit,
    policy::outlier::OutlierCall,
};

/// What one RPC holds while it is in flight. Dropping it releases all of
/// it: the in-flight count, the limiter permit, and (if no outcome was
/// recorded) the breaker record as `Ignored`.
pub(crate) struct CallGuards {
    // Held for their `Drop`, which gives the slot back.
    pub(crate) _in_flight: InFlightGuard,
    pub(crate) _limit: Option<LimitPermit>,
    pub(crate) breaker: Option<BreakerCall>,
    pub(crate) outlier: Option<OutlierCall>,
}

impl CallGuards {
    /// Takes the limiter permit back, for a retry of the same RPC.
    pub(crate) fn take_limit(&mut self) -> Option<LimitPermit> {
        self._limit.take()
    }

    /// Whether anyone still wants to hear how the call ended: without a
    /// breaker or outlier detector (the default), the status is not read.
    fn wants_result(&self) -> bool {
        self.breaker.is_some() || self.outlier.is_some()
    }

    /// Reports how the call ended to the breaker (once; later calls do nothing).
    pub(crate) fn finish(&mut self, result: CallResult) {
        if let Some(call) = self.breaker.take() {
            call.finish(result);
        }
        if let Some(call) = self.outlier.take() {
            call.finish(result);
        }
    }
}

/// A response body from the pool. Errors are `tonic::Status` with a
/// [`PoolError`] source naming the connection.
///
/// `PoolBody::default()` is an empty body that belongs to no call: what
/// tonic answers with when a generated client's interceptor refuses a call
/// before it is sent (which is why `with_interceptor` needs `Default`).
#[derive(Default)]
pub struct PoolBody(Option<Receiving>);

/// A body being received: hyper's, the connection it comes from, and what
/// the call holds until it ends.
struct Receiving {
    inner: Incoming,
    routed: RoutedTo,
    call: CallGuards,
}

impl std::fmt::Debug for PoolBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolBody")
            .field("routed", &self.0.as_ref().map(|r| r.routed))
            .finish_non_exhaustive()
    }
}

impl PoolBody {
    /// Makes the body hold the RPC's limiter permit, when the permit was
    /// kept apart from the attempts (a retried RPC holds one permit for
    /// all of its attempts).
    pub(crate) fn hold_limit(&mut self, limit: Option<LimitPermit>) {
        // Only the pool's own responses get here, and they are received.
        debug_assert!(self.0.is_some(), "a call's body is being received");
        if let Some(body) = &mut self.0 {
            debug_assert!(limit.is_none() || body.call._limit.is_none());
            if limit.is_some() {
                body.call._limit = limit;
            }
        }
    }

    /// Wraps hyper's response, noting where it was routed. A trailers-only
    /// response (the usual gRPC error) already carries its status.
    /// The note goes in a spare map (`spare_maps`), when hyper's response
    /// has none: usually no new map.
    pub(crate) fn wrap(
        response: Response<Incoming>,
        routed: RoutedTo,
        mut call: CallGuards,
    ) -> Response<Self> {
        let (mut parts, inner) = response.into_parts();
        if parts.status != http::StatusCode::OK {
            call.finish(CallResult::TransportError);
        } else if call.wants_result()
            && inner.is_end_stream()
            && let Some(result) = grpc_status(&parts.headers)
        {
            // Trailers-only (gRPC's form for an error without a message):
            // its headers end the stream and carry the status. Any other
            // response's status is in its trailers, so its headers are not
            // searched for one.
            call.finish(result);
        }
        if parts.extensions.is_empty() {
            parts.extensions = super::spare_maps::take();
        }
        parts.extensions.insert(routed);
        Response::from_parts(
            parts,
            PoolBody(Some(Receiving {
                inner,
                routed,
                call,
            })),
        )
    }
}

/// The trailer (or trailers-only header) that carries a call's status.
/// Looked up as a `HeaderName`, so the name is not parsed on every RPC.
const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");

/// The `grpc-status` in `headers`, if there is one.
fn grpc_status(headers: &HeaderMap) -> Option<CallResult> {
    let value = headers.get(&GRPC_STATUS)?;
    let code = value
        .to_str()
        .ok()
        .and_then(|v| v.parse::<u8>().ok())
        .and_then(GrpcCode::from_number)
        .unwrap_or(GrpcCode::Unknown);
    Some(CallResult::Status(code))
}

impl Body for PoolBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let Some(this) = &mut self.0 else {
            return Poll::Ready(None);
        };
        match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => {
                if this.call.wants_result()
                    && let Some(trailers) = frame.trailers_ref()
                {
                    let result = grpc_status(trailers).unwrap_or(CallResult::TransportError);
                    this.call.finish(result);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(source)) => {
                this.call.finish(CallResult::TransportError);
                let error = PoolError::Connection {
                    conn: this.routed.conn,
                    endpoint: this.routed.endpoint,
                    source,
                };
                Poll::Ready(Some(Err(error.into_status())))
            }
            None => {
                // A gRPC response must end with trailers; one that does not
                // was cut off.
                this.call.finish(CallResult::TransportError);
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.0
            .as_ref()
            .is_none_or(|body| body.inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.0
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |body| body.inner.size_hint())
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    /// What tonic answers with when an interceptor refuses a call: a body
    /// that has ended, with nothing in it.
    #[tokio::test]
    async fn the_default_body_is_empty_and_ended() {
        let body = PoolBody::default();
        assert!(body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(0));
        let collected = body.collect().await.expect("no error");
        assert!(collected.trailers().is_none());
        assert!(collected.to_bytes().is_empty());
    }
}
