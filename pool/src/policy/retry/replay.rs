//! Keeping a request so it can be sent again: its head and its whole body,
//! when the body is small and complete at once.
//!
//! A unary call's body (tonic encodes the one message as it is polled) is
//! complete the moment it is sent. A client stream's next message may not
//! exist yet, and waiting for it could wait for the server's reply, so the
//! body is read only as far as it is ready *now* (polled with a no-op
//! waker). If it ends within `max_buffered_body` bytes, the request can be
//! replayed; otherwise what was read is put back in front of the rest and
//! the request is sent once, as if retries were off.

use std::{
    collections::VecDeque,
    pin::Pin,
    task::{Context, Poll, Waker},
};

use bytes::{Bytes, BytesMut};
use http::{Extensions, HeaderMap, Method, Request, Uri, Version, request::Parts};
use http_body::{Body as _, Frame, SizeHint};
use tonic::{Status, body::Body};

/// What reading a request's body gave.
pub(crate) enum Captured {
    /// The whole body was ready and small enough: send it as often as needed.
    Replayable(Replayable),
    /// It was not: send this (what was read, then the rest) once.
    Once(Request<Body>),
}

/// A request that can be sent any number of times.
///
/// The request's extensions go with its first copy only: they never leave
/// the process (hyper sends none of a gRPC request's), and every value
/// the pool reads from them was read before the request was kept. Cloning
/// them for every attempt was an allocation per extension per RPC.
pub(crate) struct Replayable {
    /// Emptied once the first copy took them.
    extensions: Extensions,
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
    data: Bytes,
    /// Boxed: a unary request has none, and this is part of every
    /// in-flight RPC.
    trailers: Option<Box<HeaderMap>>,
}

impl Replayable {
    /// Reads `request`'s body as far as it is ready. Gives the request
    /// back, unchanged in what it will send, if it cannot be replayed.
    pub(crate) fn capture(request: Request<Body>, max_body: usize) -> Captured {
        let (head, mut body) = request.into_parts();
        let mut cx = Context::from_waker(Waker::noop());
        // The first frame apart: a unary call's body is one chunk, and
        // kept so, without allocating a queue for it.
        let mut first: Option<Frame<Bytes>> = None;
        let mut rest: VecDeque<Frame<Bytes>> = VecDeque::new();
        let mut size = 0usize;
        let cut_short = loop {
            match Pin::new(&mut body).poll_frame(&mut cx) {
                Poll::Ready(None) => break None,
                Poll::Ready(Some(Ok(frame))) => {
                    size += frame.data_ref().map_or(0, Bytes::len);
                    match first {
                        None => first = Some(frame),
                        Some(_) => rest.push_back(frame),
                    }
                    if size > max_body {
                        break Some(None);
                    }
                }
                Poll::Ready(Some(Err(status))) => break Some(Some(status)),
                Poll::Pending => break Some(None),
            }
        };
        if let Some(error) = cut_short {
            let mut frames = rest;
            if let Some(first) = first {
                frames.push_front(first);
            }
            let rest = Prefixed {
                frames,
                error,
                rest: body,
            };
            return Captured::Once(Request::from_parts(head, Body::new(rest)));
        }
        // Copied, not kept as read: a unary call's one chunk is a slice of
        // tonic's 8 KiB encode buffer, which keeping would hold for as
        // long as the RPC is in flight (measured: +10 KiB per in-flight
        // RPC, `cargo bench -p squall-pool --bench footprint`).
        let mut data = BytesMut::with_capacity(size);
        let mut trailers = None;
        for frame in first.into_iter().chain(rest) {
            match frame.into_data() {
                Ok(chunk) => data.extend_from_slice(&chunk),
                Err(frame) => trailers = frame.into_trailers().ok().map(Box::new),
            }
        }
        Captured::Replayable(Self::new(head, data.freeze(), trailers))
    }

    fn new(head: Parts, data: Bytes, trailers: Option<Box<HeaderMap>>) -> Self {
        Self {
            extensions: head.extensions,
            method: head.method,
            uri: head.uri,
            version: head.version,
            headers: head.headers,
            data,
            trailers,
        }
    }

    /// Another kept request like this one, without the extensions (a
    /// hedge's: they go with the first copy of the call only).
    pub(crate) fn copy(&self) -> Self {
        Self {
            extensions: Extensions::new(),
            method: self.method.clone(),
            uri: self.uri.clone(),
            version: self.version,
            headers: self.headers.clone(),
            data: self.data.clone(),
            trailers: self.trailers.clone(),
        }
    }

    /// A fresh copy of the request (the first with the request's
    /// extensions, the others without: see [`Replayable`]).
    pub(crate) fn request(&mut self) -> Request<Body> {
        let body = Whole {
            data: (!self.data.is_empty()).then(|| self.data.clone()),
            trailers: self.trailers.as_deref().cloned(),
        };
        let mut request = Request::new(Body::new(body));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.version_mut() = self.version;
        // The map the caller built goes out, and a clone is kept: a clone
        // is sized to what it holds (tonic's map for a unary call's two
        // headers holds room for six, 624 bytes against 208), and hyper
        // adds `content-length` to the sent map without growing it.
        let kept = self.headers.clone();
        *request.headers_mut() = std::mem::replace(&mut self.headers, kept);
        *request.extensions_mut() = std::mem::take(&mut self.extensions);
        request
    }
}

/// A kept body, sent again: its data in one frame, then its trailers.
struct Whole {
    data: Option<Bytes>,
    trailers: Option<HeaderMap>,
}

impl http_body::Body for Whole {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let frame = match self.data.take() {
            Some(data) => Frame::data(data),
            None => match self.trailers.take() {
                Some(trailers) => Frame::trailers(trailers),
                None => return Poll::Ready(None),
            },
        };
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        let length = self.data.as_ref().map_or(0, Bytes::len);
        SizeHint::with_exact(length as u64)
    }
}

/// A body that could not be kept: the frames already read, the error that
/// stopped the reading (if one did), then the rest of the original body.
struct Prefixed {
    frames: VecDeque<Frame<Bytes>>,
    error: Option<Status>,
    rest: Body,
}

impl http_body::Body for Prefixed {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if let Some(frame) = self.frames.pop_front() {
            return Poll::Ready(Some(Ok(frame)));
        }
        if let Some(error) = self.error.take() {
            return Poll::Ready(Some(Err(error)));
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use futures_util::stream;
    use http_body_util::{BodyExt, StreamBody};

    use super::*;

    fn request(chunks: Vec<&'static [u8]>) -> Request<Body> {
        let frames = chunks
            .into_iter()
            .map(|c| Ok::<_, Infallible>(Frame::data(Bytes::from_static(c))));
        Request::builder()
            .uri("/svc/Method")
            .header("x-test", "1")
            .body(Body::new(StreamBody::new(stream::iter(frames))))
            .unwrap()
    }

    async fn body_of(request: Request<Body>) -> Vec<u8> {
        let collected = request.into_body().collect().await.unwrap();
        collected.to_bytes().to_vec()
    }

    #[tokio::test]
    async fn a_small_complete_body_is_replayed_whole_every_time() {
        let Captured::Replayable(mut replay) = Replayable::capture(request(vec![b"ab", b"cd"]), 4)
        else {
            panic!("4 bytes fit in 4");
        };
        for _ in 0..3 {
            let again = replay.request();
            assert_eq!(again.headers()["x-test"], "1");
            assert_eq!(again.uri(), "/svc/Method");
            assert_eq!(body_of(again).await, b"abcd");
        }
    }

    /// The request's extensions go with the first copy (the attempt reuses
    /// their map for the response); later copies carry none.
    #[tokio::test]
    async fn only_the_first_copy_carries_the_extensions() {
        #[derive(Clone, Debug, PartialEq)]
        struct Mark(u8);
        let mut original = request(vec![b"ab"]);
        original.extensions_mut().insert(Mark(7));
        let Captured::Replayable(mut replay) = Replayable::capture(original, 4) else {
            panic!("2 bytes fit in 4");
        };
        let first = replay.request();
        assert_eq!(first.extensions().get::<Mark>(), Some(&Mark(7)));
        let second = replay.request();
        assert!(second.extensions().is_empty());
        assert_eq!(second.headers()["x-test"], "1");
        assert_eq!(body_of(second).await, b"ab");
    }

    #[tokio::test]
    async fn one_chunk_or_three_are_kept_whole() {
        for chunks in [vec![&b"abcd"[..]], vec![b"a", b"bc", b"d"]] {
            let Captured::Replayable(mut replay) = Replayable::capture(request(chunks), 4) else {
                panic!("4 bytes fit in 4");
            };
            assert_eq!(body_of(replay.request()).await, b"abcd");
        }
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_sent_once_intact() {
        let Captured::Once(once) = Replayable::capture(request(vec![b"ab", b"cd", b"e"]), 4) else {
            panic!("5 bytes must not be kept with a 4-byte limit");
        };
        assert_eq!(body_of(once).await, b"abcde");
    }

    #[tokio::test]
    async fn a_body_not_yet_complete_is_not_waited_for() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
        tx.send(Ok(Frame::data(Bytes::from_static(b"first"))))
            .await
            .unwrap();
        let streaming = Request::new(Body::new(StreamBody::new(tokio_stream_from(rx))));
        let Captured::Once(once) = Replayable::capture(streaming, 1024) else {
            panic!("an open stream cannot be kept");
        };
        tx.send(Ok(Frame::data(Bytes::from_static(b"+second"))))
            .await
            .unwrap();
        drop(tx);
        assert_eq!(body_of(once).await, b"first+second");
    }

    /// An mpsc receiver as a stream, without tokio-stream.
    fn tokio_stream_from<T: Send + 'static>(
        rx: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures_util::Stream<Item = T> + Send {
        stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) })
    }
}
