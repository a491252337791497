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
use http::{
    Extensions, HeaderMap, HeaderName, HeaderValue, Method, Request, Uri, Version, request::Parts,
    uri::PathAndQuery,
};
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
    /// The URI's path only: each attempt sets the scheme and authority of
    /// the endpoint it goes to (`Endpoint::absolute_uri`), so the rest of
    /// the caller's URI is never sent, and a path takes 48 bytes less of
    /// every in-flight RPC than a whole `Uri`.
    path: Option<PathAndQuery>,
    version: Version,
    headers: Headers,
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
            path: head.uri.into_parts().path_and_query,
            version: head.version,
            headers: Headers::Unsent(head.headers),
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
            path: self.path.clone(),
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
        if let Some(path) = &self.path {
            *request.uri_mut() = Uri::from(path.clone());
        }
        *request.version_mut() = self.version;
        *request.headers_mut() = self.headers.take();
        *request.extensions_mut() = std::mem::take(&mut self.extensions);
        request
    }
}

/// A kept request's headers: the caller's map until the first copy
/// takes it, then what it held, listed.
///
/// The map the caller built goes out with the first copy: tonic's map for
/// a unary call's two headers has room for six. What is kept is smaller
/// than a clone of the map (240 bytes for those two headers, its entries
/// and its index), for as long as the RPC is in flight (`cargo bench -p
/// squall-pool --bench footprint`): the headers every tonic call carries
/// ([`GRPC_HEADERS`]) as bits, the others (the caller's metadata, often
/// none) as a list, 72 bytes each. A map is built again only for a resend.
#[derive(Clone, Debug)]
enum Headers {
    Unsent(HeaderMap),
    Sent {
        /// Bit `i` set: the request carried `GRPC_HEADERS[i]`.
        grpc: u8,
        rest: Vec<(HeaderName, HeaderValue)>,
    },
}

/// Headers with these exact values are kept as bits, not copied: tonic
/// sets both on every call.
const GRPC_HEADERS: [(HeaderName, &str); 2] = [
    (http::header::TE, "trailers"),
    (http::header::CONTENT_TYPE, "application/grpc"),
];

/// Which of [`GRPC_HEADERS`] `name: value` is, if any.
fn grpc_header(name: &HeaderName, value: &HeaderValue) -> Option<u8> {
    let index = GRPC_HEADERS
        .iter()
        .position(|(known, known_value)| known == name && value == *known_value)?;
    Some(1 << index)
}

impl Headers {
    /// The headers for the next copy of the request.
    fn take(&mut self) -> HeaderMap {
        match self {
            Headers::Unsent(map) => {
                let mut grpc = 0;
                let mut listed = 0;
                for (name, value) in map.iter() {
                    match grpc_header(name, value) {
                        Some(bit) if grpc & bit == 0 => grpc |= bit,
                        _ => listed += 1,
                    }
                }
                // Sized exactly; a call without metadata lists nothing and
                // needs no second look.
                let mut rest = Vec::with_capacity(listed);
                if listed > 0 {
                    let mut seen = 0;
                    for (name, value) in map.iter() {
                        match grpc_header(name, value) {
                            Some(bit) if seen & bit == 0 => seen |= bit,
                            _ => rest.push((name.clone(), value.clone())),
                        }
                    }
                    debug_assert_eq!((seen, rest.len()), (grpc, listed));
                }
                let map = std::mem::take(map);
                *self = Headers::Sent { grpc, rest };
                map
            }
            Headers::Sent { grpc, rest } => {
                let mut map = HeaderMap::with_capacity(grpc.count_ones() as usize + rest.len());
                for (index, (name, value)) in GRPC_HEADERS.iter().enumerate() {
                    if *grpc & (1 << index) != 0 {
                        map.append(name.clone(), HeaderValue::from_static(value));
                    }
                }
                for (name, value) in rest.iter() {
                    map.append(name.clone(), value.clone());
                }
                map
            }
        }
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

    /// At least the kept data, never exactly: hyper turns an exact size
    /// into a `content-length` header, which no gRPC client sends (tonic's
    /// own encoding body has no exact size). The server then checks every
    /// DATA frame against it, and a unary RPC at one in flight answered
    /// ~1 % later with it (`squall load` interleaving the pool's RPCs with
    /// a Channel's, docs/benchmarks.md).
    fn size_hint(&self) -> SizeHint {
        let mut hint = SizeHint::new();
        hint.set_lower(self.data.as_ref().map_or(0, Bytes::len) as u64);
        hint
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

    /// hyper writes `content-length` for a body of exact size; a kept
    /// body says only how much it holds at least, as tonic's own does.
    #[test]
    fn a_kept_body_has_no_exact_size() {
        let Captured::Replayable(mut replay) = Replayable::capture(request(vec![b"abcd"]), 4)
        else {
            panic!("4 bytes fit in 4");
        };
        for _ in 0..2 {
            let again = replay.request();
            let hint = again.body().size_hint();
            assert_eq!(hint.exact(), None);
            assert_eq!(hint.lower(), 4);
        }
    }

    /// Every copy, and a hedge's copy taken before or after the first was
    /// sent, carries every header the caller set, a repeated name's values
    /// in order (the order of different names means nothing in HTTP/2),
    /// and a gRPC header with another value than tonic's is kept as it is.
    #[test]
    fn every_copy_carries_every_header() {
        let mut original = request(vec![b"ab"]);
        let headers = original.headers_mut();
        headers.append("x-multi", HeaderValue::from_static("a"));
        headers.append("x-multi", HeaderValue::from_static("b"));
        headers.insert("te", HeaderValue::from_static("trailers"));
        headers.insert(
            "content-type",
            HeaderValue::from_static("application/grpc+json"),
        );
        let expected: Vec<(String, String)> = listed(original.headers());
        let Captured::Replayable(mut replay) = Replayable::capture(original, 4) else {
            panic!("2 bytes fit in 4");
        };
        let mut before = replay.copy();
        assert_eq!(listed(replay.request().headers()), expected);
        let mut after = replay.copy();
        for _ in 0..2 {
            assert_eq!(listed(replay.request().headers()), expected);
        }
        assert_eq!(listed(before.request().headers()), expected);
        assert_eq!(listed(after.request().headers()), expected);
    }

    /// The headers by name, each name's values in order.
    fn listed(headers: &HeaderMap) -> Vec<(String, String)> {
        let mut listed: Vec<(String, String)> = headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
            .collect();
        listed.sort_by(|a, b| a.0.cmp(&b.0));
        listed
    }

    /// tonic's two headers come back from their bits, with the metadata.
    #[test]
    fn tonic_headers_are_kept_as_bits() {
        let mut original = request(vec![b"ab"]);
        let headers = original.headers_mut();
        headers.insert("te", HeaderValue::from_static("trailers"));
        headers.insert("content-type", HeaderValue::from_static("application/grpc"));
        let expected = listed(original.headers());
        let Captured::Replayable(mut replay) = Replayable::capture(original, 4) else {
            panic!("2 bytes fit in 4");
        };
        let _first = replay.request();
        let Headers::Sent { grpc, rest } = &replay.headers else {
            panic!("the first copy was taken");
        };
        assert_eq!((*grpc, rest.len()), (0b11, 1), "only x-test is listed");
        assert_eq!(listed(replay.request().headers()), expected);
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
