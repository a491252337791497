//! The RPC path: `Pool` as a `tower::Service`, from request to response.
//!
//! `call` picks a ready connection, counts the RPC on it, completes the
//! request URI and hands the request to hyper; the returned future bounds the
//! wait for response headers by the RPC's deadline.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use http::{Request, Response, Uri, uri::PathAndQuery};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep, sleep_until};
use tonic::{Status, body::Body};

use crate::{
    body::PoolBody,
    deadline::grpc_timeout,
    endpoint::{Endpoint, EndpointId},
    error::PoolError,
    event::ConnId,
    inflight::InFlightGuard,
    pool::Pool,
};

/// Which connection carried an RPC. Found in every successful response's
/// extensions (`response.extensions().get::<RoutedTo>()`), and in
/// [`PoolError`] for failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutedTo {
    pub conn: ConnId,
    pub endpoint: EndpointId,
}

impl tower::Service<Request<Body>> for Pool {
    type Response = Response<PoolBody>;
    type Error = Status;
    type Future = ResponseFuture;

    /// Always ready: the pool never applies backpressure through
    /// `poll_ready`; an RPC with no ready connection fails fast in `call`.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<Body>) -> ResponseFuture {
        let shared = self.shared();
        if shared.is_shutting_down() {
            return ResponseFuture::failed(PoolError::Shutdown);
        }
        let timeout = grpc_timeout(request.headers()).unwrap_or(shared.config.default_rpc_timeout);
        let deadline = Instant::now() + timeout;
        let Some(mut routed) = shared.pick() else {
            return ResponseFuture::failed(PoolError::NoReadyConnection);
        };
        let endpoint = &shared.endpoints[routed.endpoint.0 as usize];
        *request.uri_mut() = absolute_uri(endpoint, request.uri());
        let send = routed.sender.send_request(request);
        ResponseFuture {
            state: State::Waiting {
                response: Box::pin(send),
                deadline: Box::pin(sleep_until(deadline)),
                guard: Some(routed.guard),
                routed: RoutedTo {
                    conn: routed.conn,
                    endpoint: routed.endpoint,
                },
            },
        }
    }
}

/// tonic sends path-only URIs; HTTP/2 needs `:scheme` and `:authority` too.
fn absolute_uri(endpoint: &Endpoint, uri: &Uri) -> Uri {
    let path = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    Uri::builder()
        .scheme(endpoint.scheme().clone())
        .authority(endpoint.authority().clone())
        .path_and_query(path)
        .build()
        .expect("scheme, authority and path are each valid")
}

type HyperResponse = Pin<Box<dyn Future<Output = hyper::Result<Response<Incoming>>> + Send>>;

/// The future returned by [`Pool`]'s `call`.
pub struct ResponseFuture {
    state: State,
}

enum State {
    Failed(Option<PoolError>),
    Waiting {
        response: HyperResponse,
        deadline: Pin<Box<Sleep>>,
        /// Moves into the response body on success; dropped on failure.
        guard: Option<InFlightGuard>,
        routed: RoutedTo,
    },
}

impl ResponseFuture {
    fn failed(error: PoolError) -> Self {
        Self {
            state: State::Failed(Some(error)),
        }
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<PoolBody>, Status>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.state {
            State::Failed(error) => {
                let error = error
                    .take()
                    .expect("ResponseFuture polled after completion");
                Poll::Ready(Err(error.into_status()))
            }
            State::Waiting {
                response,
                deadline,
                guard,
                routed,
            } => {
                let routed = *routed;
                // The response is polled first: one that arrives in the same
                // instant as the deadline wins.
                if let Poll::Ready(result) = response.as_mut().poll(cx) {
                    let guard = guard
                        .take()
                        .expect("ResponseFuture polled after completion");
                    return Poll::Ready(finish(result, routed, guard));
                }
                if deadline.as_mut().poll(cx).is_ready() {
                    guard.take();
                    let error = PoolError::DeadlineExceeded {
                        conn: routed.conn,
                        endpoint: routed.endpoint,
                    };
                    return Poll::Ready(Err(error.into_status()));
                }
                Poll::Pending
            }
        }
    }
}

fn finish(
    result: hyper::Result<Response<Incoming>>,
    routed: RoutedTo,
    guard: InFlightGuard,
) -> Result<Response<PoolBody>, Status> {
    match result {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            parts.extensions.insert(routed);
            Ok(Response::from_parts(
                parts,
                PoolBody::new(body, routed, guard),
            ))
        }
        Err(source) => Err(PoolError::Connection {
            conn: routed.conn,
            endpoint: routed.endpoint,
            source,
        }
        .into_status()),
    }
}
