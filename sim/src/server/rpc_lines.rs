//! The server's RPC lines: `server_rpc` when a request arrives and, for a
//! request that carries the load's RPC id, `server_rpc_end` when the server
//! is done with its stream. A connection's service is wrapped in
//! [`RecordRpcs`] when the world asks servers to record RPCs.
//!
//! hyper runs each stream as a task that owns the handler's future and then
//! the response body, and drops them when the stream ends: answered, reset
//! by the client (RST_STREAM CANCEL from a cancelled hedge or a deadline),
//! or with its connection. So the end is recorded when the last of those
//! is dropped: the [`StreamGuard`] moves from the future into the body.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};

use super::control::Crashes;
use crate::trace::{RPC_ID_HEADER, Recorder, StreamEnd, TraceEvent};

/// Where a connection's RPC lines go.
#[derive(Clone)]
pub(super) struct RpcLines {
    pub(super) server: String,
    pub(super) peer: String,
    pub(super) recorder: Recorder,
    pub(super) crashes: Crashes,
}

/// The connection's service: records each request as it arrives (when
/// asked to), then hands it to the routes.
#[derive(Clone)]
pub(super) struct RecordRpcs<S> {
    pub(super) inner: S,
    pub(super) rpcs: Option<RpcLines>,
}

impl<S, B, RB> tower::Service<http::Request<B>> for RecordRpcs<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
    RB: Body,
{
    type Response = http::Response<GuardedBody<RB>>;
    type Error = S::Error;
    type Future = GuardedCall<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let guard = self.rpcs.as_ref().and_then(|lines| {
            let rpc = request
                .headers()
                .get(RPC_ID_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            lines.recorder.record(
                &lines.server,
                TraceEvent::ServerRpc {
                    peer: lines.peer.clone(),
                    method: request.uri().path().to_owned(),
                    rpc,
                },
            );
            rpc.map(|rpc| StreamGuard {
                epoch: lines.crashes.epoch(),
                lines: lines.clone(),
                rpc,
                how: StreamEnd::Cancelled,
            })
        });
        GuardedCall {
            inner: self.inner.call(request),
            guard,
        }
    }
}

/// Records `server_rpc_end` for one RPC when dropped, unless a crash of
/// the server came between (see [`Crashes`]) or the run is over.
struct StreamGuard {
    lines: RpcLines,
    rpc: u64,
    /// The crash count when the stream began.
    epoch: u64,
    /// How the stream ends if dropped now: cancelled until the answer's
    /// last frame is out.
    how: StreamEnd,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if self.lines.crashes.epoch() != self.epoch {
            return;
        }
        self.lines.recorder.record_if_running(
            &self.lines.server,
            TraceEvent::ServerRpcEnd {
                peer: self.lines.peer.clone(),
                rpc: self.rpc,
                how: self.how,
            },
        );
    }
}

pin_project_lite::pin_project! {
    /// The handler's future; its guard goes on into the response body.
    pub(super) struct GuardedCall<F> {
        #[pin]
        inner: F,
        guard: Option<StreamGuard>,
    }
}

impl<F, RB, E> Future for GuardedCall<F>
where
    F: Future<Output = Result<http::Response<RB>, E>>,
    RB: Body,
{
    type Output = Result<http::Response<GuardedBody<RB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        // An error drops the guard here: the stream ends with no answer.
        let mut guard = this.guard.take();
        // hyper sends an empty body (a trailers-only status) with the
        // headers and never polls it.
        if response.body().is_end_stream() {
            answered(&mut guard);
        }
        Poll::Ready(Ok(response.map(|inner| GuardedBody { inner, guard })))
    }
}

pin_project_lite::pin_project! {
    /// A response body that ends its RPC's stream when dropped.
    pub(super) struct GuardedBody<B> {
        #[pin]
        inner: B,
        guard: Option<StreamGuard>,
    }
}

/// Marks the stream answered: its last frame is out.
fn answered(guard: &mut Option<StreamGuard>) {
    if let Some(guard) = guard {
        guard.how = StreamEnd::Answered;
    }
}

impl<B> Body for GuardedBody<B>
where
    B: Body,
    B::Data: Buf,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        // hyper stops polling after trailers, or once the body says it has
        // ended; either way the whole answer is out.
        let last = match &frame {
            None => true,
            Some(Ok(frame)) => frame.is_trailers() || this.inner.is_end_stream(),
            Some(Err(_)) => false,
        };
        if last {
            answered(this.guard);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
