//! How a unary request is written: by default its HEADERS in one write and
//! its DATA (with END_STREAM) in the next, as hyper does; with
//! `PoolConfig::coalesce_request_writes`, both in the same `write`, so on
//! TCP with `TCP_NODELAY` in one segment, as grpc-go sends it. hyper alone
//! writes them apart because a new stream gets no flow-control capacity
//! until the connection opens it, and its body waits for capacity, so the
//! DATA follows in a later write (also now that the slot's task polls the
//! connection and the body itself: `connection_in_dispatch_task`). Users see the setting as fewer system
//! calls and segments per RPC, and in the timers TCP runs on a lost request
//! (one segment outstanding: Linux's loss probe allows for a delayed ACK;
//! `sim/tests/coalescing.rs`).

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use squall_pool::{Connector, Endpoint, Pool, PoolConfig, SocketOptions};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// Each `write` the client made, in order.
type Writes = Arc<Mutex<Vec<Vec<u8>>>>;

/// A pipe to an in-process gRPC server whose client end records its writes.
struct RecordingIo {
    pipe: DuplexStream,
    writes: Writes,
}

impl AsyncRead for RecordingIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.pipe).poll_read(cx, buf)
    }
}

impl AsyncWrite for RecordingIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.pipe).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = written {
            self.writes.lock().unwrap().push(buf[..n].to_vec());
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.pipe).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.pipe).poll_shutdown(cx)
    }
}

struct RecordingConnector {
    writes: Writes,
}

impl Connector for RecordingConnector {
    type Io = RecordingIo;

    fn connect(
        &self,
        _endpoint: &Endpoint,
        _socket: &SocketOptions,
    ) -> impl Future<Output = io::Result<RecordingIo>> + Send + 'static {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let (_reporter, health) = tonic_health::server::health_reporter();
        tokio::spawn(
            hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(server), TowerToHyperService::new(health)),
        );
        let writes = Arc::clone(&self.writes);
        async move {
            Ok(RecordingIo {
                pipe: client,
                writes,
            })
        }
    }
}

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0;
const HEADERS: u8 = 1;
const END_STREAM: u8 = 0x1;

/// One frame the client wrote: its type, flags, stream, and the writes its
/// first and last byte went out in.
#[derive(Debug)]
struct Frame {
    kind: u8,
    flags: u8,
    stream: u32,
    writes: (usize, usize),
}

/// Splits the client's bytes into HTTP/2 frames, remembering which write
/// carried each byte.
fn frames(writes: &[Vec<u8>]) -> Vec<Frame> {
    let bytes: Vec<u8> = writes.concat();
    let write_of: Vec<usize> = writes
        .iter()
        .enumerate()
        .flat_map(|(i, w)| std::iter::repeat_n(i, w.len()))
        .collect();
    assert!(bytes.starts_with(PREFACE), "the client preface comes first");
    let mut at = PREFACE.len();
    let mut frames = Vec::new();
    while at + 9 <= bytes.len() {
        let len = u32::from_be_bytes([0, bytes[at], bytes[at + 1], bytes[at + 2]]) as usize;
        let end = at + 9 + len;
        assert!(end <= bytes.len(), "a frame was cut short");
        frames.push(Frame {
            kind: bytes[at + 3],
            flags: bytes[at + 4],
            stream: u32::from_be_bytes(bytes[at + 5..at + 9].try_into().unwrap()) & 0x7fff_ffff,
            writes: (write_of[at], write_of[end - 1]),
        });
        at = end;
    }
    assert_eq!(at, bytes.len(), "the writes end on a frame boundary");
    frames
}

/// The frames of `RPCS` health checks sent one after another by a pool of
/// one connection configured with `coalesce_request_writes`.
async fn request_frames(coalesce_request_writes: bool) -> Vec<Frame> {
    let writes = Writes::default();
    let pool = Pool::builder()
        .endpoint("http://health.invalid:50051")
        .config(PoolConfig {
            connections_per_endpoint: 1,
            coalesce_request_writes,
            ..PoolConfig::default()
        })
        .build(RecordingConnector {
            writes: Arc::clone(&writes),
        })
        .expect("a valid pool");
    let mut client = HealthClient::new(pool.clone());
    for _ in 0..RPCS {
        client
            .check(HealthCheckRequest::default())
            .await
            .expect("the server is healthy");
    }
    let report = pool.shutdown().await;
    assert_eq!(report.tasks_left, 0, "every connection's task ended");
    frames(&writes.lock().unwrap())
}

const RPCS: usize = 20;

/// Each request's HEADERS frame and its one DATA frame, which ends the
/// stream.
fn requests(frames: &[Frame]) -> Vec<(&Frame, &Frame)> {
    let requests: Vec<_> = frames
        .iter()
        .filter(|f| f.kind == HEADERS)
        .map(|headers| {
            let data: Vec<&Frame> = frames
                .iter()
                .filter(|f| f.kind == DATA && f.stream == headers.stream)
                .collect();
            assert_eq!(data.len(), 1, "stream {}: one DATA frame", headers.stream);
            assert_eq!(
                data[0].flags & END_STREAM,
                END_STREAM,
                "{:?} ends the stream",
                data[0]
            );
            (headers, data[0])
        })
        .collect();
    assert_eq!(requests.len(), RPCS);
    requests
}

#[tokio::test]
async fn a_coalescing_pool_writes_a_unary_request_at_once() {
    let frames = request_frames(true).await;
    for (headers, data) in requests(&frames) {
        assert_eq!(
            headers.writes.0, data.writes.1,
            "HEADERS {headers:?} and DATA {data:?} in one write"
        );
    }
}

/// What the setting changes: without it, hyper writes every request's DATA
/// after its HEADERS, in a later write.
#[tokio::test]
async fn by_default_a_unary_request_is_written_in_two() {
    let frames = request_frames(false).await;
    for (headers, data) in requests(&frames) {
        assert!(
            headers.writes.1 < data.writes.0,
            "HEADERS {headers:?} before DATA {data:?}, in another write"
        );
    }
}
