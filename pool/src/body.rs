//! `PoolBody`: the response body handed to callers, which keeps the RPC
//! counted on its connection until the caller is done reading it.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tonic::Status;

use crate::{error::PoolError, inflight::InFlightGuard, service::RoutedTo};

/// A response body from the pool. Errors are `tonic::Status` with a
/// [`PoolError`] source naming the connection.
#[derive(Debug)]
pub struct PoolBody {
    inner: Incoming,
    routed: RoutedTo,
    // Released when the caller drops the body: the stream is in flight until then.
    _guard: InFlightGuard,
}

impl PoolBody {
    pub(crate) fn new(inner: Incoming, routed: RoutedTo, guard: InFlightGuard) -> Self {
        Self {
            inner,
            routed,
            _guard: guard,
        }
    }
}

impl Body for PoolBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let routed = self.routed;
        Pin::new(&mut self.inner).poll_frame(cx).map_err(|source| {
            PoolError::Connection {
                conn: routed.conn,
                endpoint: routed.endpoint,
                source,
            }
            .into_status()
        })
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
