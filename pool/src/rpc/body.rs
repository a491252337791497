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
use http::{Extensions, HeaderMap, HeaderName, Response};
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
pub struct PoolBody {
    inner: Incoming,
    routed: RoutedTo,
    call: CallGuards,
}

impl std::fmt::Debug for PoolBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolBody")
            .field("routed", &self.routed)
            .finish_non_exhaustive()
    }
}

impl PoolBody {
    /// Makes the body hold the RPC's limiter permit, when the permit was
    /// kept apart from the attempts (a retried RPC holds one permit for
    /// all of its attempts).
    pub(crate) fn hold_limit(&mut self, limit: Option<LimitPermit>) {
        debug_assert!(limit.is_none() || self.call._limit.is_none());
        if limit.is_some() {
            self.call._limit = limit;
        }
    }

    /// Wraps hyper's response, noting where it was routed. A trailers-only
    /// response (the usual gRPC error) already carries its status.
    ///
    /// `spare` is the request's extension map, which hyper does not send:
    /// emptied, it holds the response's `RoutedTo`, so the note costs no
    /// new map (an allocation and a table per RPC, ~500 instructions).
    pub(crate) fn wrap(
        response: Response<Incoming>,
        routed: RoutedTo,
        mut call: CallGuards,
        mut spare: Extensions,
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
            spare.clear();
            parts.extensions = spare;
        }
        parts.extensions.insert(routed);
        Response::from_parts(
            parts,
            PoolBody {
                inner,
                routed,
                call,
            },
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
        let this = &mut *self;
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
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
