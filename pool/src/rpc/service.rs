//! The `tower::Service` glue: what a `call` on the pool or on a lease
//! returns ([`ResponseFuture`], one boxed future per RPC), and the typed
//! [`PoolError`] turned into the `tonic::Status` a tonic client expects.
//!
//! Both services are always ready: the pool never applies backpressure
//! through `poll_ready`. Waiting (for the limiter, for a connection) and
//! failing fast (no ready connection, breakers open) both happen in the
//! returned future. `Pool`'s own `impl` is in `pool.rs` (this module does
//! not know `Pool`, which is built above it) and calls [`call`].

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use futures_util::TryFutureExt as _;
use http::{Request, Response};
use tonic::{Status, body::Body};

use super::{body::PoolBody, lease::Lease};
use crate::{error::PoolError, shared::Shared};

type Pending = Pin<Box<dyn Future<Output = Result<Response<PoolBody>, Status>> + Send>>;

/// The future returned by [`Pool`](crate::Pool)'s and
/// [`Lease`]'s `call`.
pub struct ResponseFuture {
    inner: Pending,
}

impl ResponseFuture {
    fn new(
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

/// `Pool::call`: one RPC through the pipeline (`rpc::send`).
pub(crate) fn call(shared: Arc<Shared>, request: Request<Body>) -> ResponseFuture {
    // A combinator, not an `async` block awaiting it: that would hold the
    // pipeline's future twice over.
    ResponseFuture::new(super::send(shared, request).map_err(PoolError::into_status))
}

impl tower::Service<Request<Body>> for Lease {
    type Response = Response<PoolBody>;
    type Error = Status;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> ResponseFuture {
        let shared = Arc::clone(self.shared());
        let (conn, endpoint) = (self.conn(), self.endpoint());
        ResponseFuture::new(async move {
            super::lease::send(shared, conn, endpoint, request)
                .await
                .map_err(PoolError::into_status)
        })
    }
}
