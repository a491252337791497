//! Memory: heap bytes per idle connection and per in-flight RPC, for
//! squall's pool, a tonic `Channel` and (in flight) bare hyper.
//!
//! A counting global allocator tracks live heap bytes allocated and freed
//! on the client's thread only. The server runs on a thread of its own
//! behind real loopback TCP, so client and server share no heap object and
//! the server's memory is not counted. Kernel socket buffers are not heap
//! and are not counted either.
//!
//! `cargo bench -p squall-pool --bench footprint`

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicIsize, AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use futures_util::stream;
use http_body_util::StreamBody;
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use squall_pool::{Pool, PoolConfig, TcpConnector};
use tokio::{net::TcpStream, sync::watch};
use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;

mod support;

/// Counts live heap bytes allocated by threads that opted in.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

thread_local! {
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn counted() -> bool {
    // During thread teardown the key may be gone; such frees are not ours.
    COUNTED.try_with(Cell::get).unwrap_or(false)
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counter is only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counted() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if counted() {
            LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counted() {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        // SAFETY: forwarded with the caller's pointer, layout and size.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Idle connections compared: few against many, so fixed costs cancel.
const FEW: usize = 1;
const MANY: usize = 33;

/// RPCs held in flight at once.
const IN_FLIGHT: usize = 1000;

fn main() {
    let server = Server::start();
    COUNTED.set(true);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        println!("heap bytes on the client's thread (server not counted)\n");
        let pool_conn = per_idle(|n| pool(server.addr, n)).await;
        let channel_conn = per_idle(|n| channels(server.addr, n, Like::Default)).await;
        let like_conn = per_idle(|n| channels(server.addr, n, Like::Pool)).await;
        println!("| per idle connection | bytes |\n| --- | ---: |");
        println!("| squall pool | {pool_conn} |\n| tonic Channel | {channel_conn} |");
        println!("| tonic Channel like the pool | {like_conn} |\n");

        println!("| per in-flight unary RPC ({IN_FLIGHT} at once) | bytes |\n| --- | ---: |");
        let (_pool, mut client) = pool(server.addr, 2).await;
        let pool_rpc = per_in_flight(&server, client.remove(0)).await;
        println!("| squall pool (2 connections) | {pool_rpc} |");
        let (_channels, mut client) = channels(server.addr, 1, Like::Default).await;
        let channel_rpc = per_in_flight(&server, client.remove(0)).await;
        println!("| tonic Channel | {channel_rpc} |");
        let (_channels, mut client) = channels(server.addr, 1, Like::Pool).await;
        let like_rpc = per_in_flight(&server, client.remove(0)).await;
        println!("| tonic Channel like the pool | {like_rpc} |");
        let hyper_rpc = per_in_flight(&server, bare(server.addr).await).await;
        println!("| bare hyper | {hyper_rpc} |");
    });
}

/// Live bytes per connection: `(MANY - FEW)` connections' difference.
async fn per_idle<T, F>(build: impl Fn(usize) -> F) -> isize
where
    F: std::future::Future<Output = T>,
{
    let at = |n: usize| {
        let build = &build;
        async move {
            let before = live();
            let held = build(n).await;
            settle().await;
            let bytes = live() - before;
            drop(held);
            settle().await;
            bytes
        }
    };
    let few = at(FEW).await;
    let many = at(MANY).await;
    (many - few) / (MANY - FEW) as isize
}

/// Lets connection tasks reach their idle state.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(100)).await;
}

async fn pool(addr: SocketAddr, n: usize) -> (Pool, Vec<HealthClient<Pool>>) {
    let config = PoolConfig {
        connections_per_endpoint: n,
        ..PoolConfig::default()
    };
    let pool = Pool::builder()
        .endpoint(format!("http://{addr}"))
        .config(config.clone())
        .build(TcpConnector)
        .expect("a valid pool");
    while pool.ready_connections() < n {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    (pool.clone(), vec![HealthClient::new(pool)])
}

/// How a Channel is configured: as tonic's defaults, or doing the pool's
/// job (its default keepalive and RPC deadline; `support` says why).
#[derive(Clone, Copy)]
enum Like {
    Default,
    Pool,
}

async fn channels(
    addr: SocketAddr,
    n: usize,
    like: Like,
) -> (Vec<Channel>, Vec<HealthClient<Channel>>) {
    let mut all = Vec::new();
    for _ in 0..n {
        let endpoint =
            tonic::transport::Endpoint::from_shared(format!("http://{addr}")).expect("a valid URL");
        let endpoint = match like {
            Like::Default => endpoint,
            Like::Pool => support::like_pool(endpoint),
        };
        let channel = endpoint
            .connect_with_connector(tower::service_fn(move |_uri: http::Uri| async move {
                let stream = TcpStream::connect(addr).await?;
                stream.set_nodelay(true)?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }))
            .await
            .expect("connects");
        all.push(channel);
    }
    let clients = all.iter().cloned().map(HealthClient::new).collect();
    (all, clients)
}

async fn bare(addr: SocketAddr) -> HealthClient<support::Bare> {
    let stream = TcpStream::connect(addr).await.expect("connects");
    stream.set_nodelay(true).expect("nodelay");
    let (sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .handshake(TokioIo::new(stream))
        .await
        .expect("handshakes");
    tokio::spawn(connection);
    HealthClient::new(support::Bare::new(sender))
}

/// Live bytes per RPC while `IN_FLIGHT` RPCs wait on the server.
async fn per_in_flight<S>(server: &Server, client: HealthClient<S>) -> isize
where
    S: tonic::client::GrpcService<tonic::body::Body> + Clone + Send + 'static,
    S::Error: Into<tonic::codegen::StdError>,
    S::Future: Send,
    S::ResponseBody: http_body::Body<Data = Bytes> + Send + 'static,
    <S::ResponseBody as http_body::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    // One RPC first, so the connection's lazily made buffers exist.
    server.open.send_replace(true);
    client
        .clone()
        .check(support::request())
        .await
        .expect("healthy");
    server.open.send_replace(false);
    let seen_before = server.seen.load(Ordering::SeqCst);
    let before = live();
    let calls: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let mut client = client.clone();
            tokio::spawn(async move { client.check(support::request()).await.map(drop) })
        })
        .collect();
    while server.seen.load(Ordering::SeqCst) < seen_before + IN_FLIGHT {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    settle().await;
    let bytes = live() - before;
    server.open.send_replace(true);
    for call in calls {
        call.await.expect("no panic").expect("healthy");
    }
    bytes / IN_FLIGHT as isize
}

/// A gRPC server on its own thread that answers every request with
/// `grpc.health.v1.HealthCheckResponse { status: SERVING }` once `open`.
struct Server {
    addr: SocketAddr,
    open: watch::Sender<bool>,
    /// Requests received so far.
    seen: Arc<AtomicUsize>,
}

impl Server {
    fn start() -> Self {
        let (open, gate) = watch::channel(true);
        let seen = Arc::new(AtomicUsize::new(0));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let counter = Arc::clone(&seen);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("binds");
                addr_tx
                    .send(listener.local_addr().expect("an address"))
                    .expect("main waits");
                loop {
                    let (stream, _) = listener.accept().await.expect("accepts");
                    stream.set_nodelay(true).expect("nodelay");
                    let gate = gate.clone();
                    let counter = Arc::clone(&counter);
                    let service = hyper::service::service_fn(move |_request| {
                        let mut gate = gate.clone();
                        let counter = Arc::clone(&counter);
                        async move {
                            counter.fetch_add(1, Ordering::SeqCst);
                            let _ = gate.wait_for(|open| *open).await;
                            Ok::<_, Infallible>(health_response())
                        }
                    });
                    tokio::spawn(
                        hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .timer(TokioTimer::new())
                            .max_concurrent_streams(None)
                            .serve_connection(TokioIo::new(stream), service),
                    );
                }
            });
        });
        let addr = addr_rx.recv().expect("the server thread starts");
        Self { addr, open, seen }
    }
}

type ResponseBody =
    StreamBody<stream::Iter<std::array::IntoIter<Result<Frame<Bytes>, Infallible>, 2>>>;

/// `SERVING`, framed as gRPC: a 5-byte prefix (uncompressed, length 2),
/// the message (field 1 = 1), then `grpc-status: 0` trailers.
fn health_response() -> http::Response<ResponseBody> {
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    let frames = [
        Ok(Frame::data(Bytes::from_static(&[
            0, 0, 0, 0, 2, 0x08, 0x01,
        ]))),
        Ok(Frame::trailers(trailers)),
    ];
    http::Response::builder()
        .header("content-type", "application/grpc")
        .body(StreamBody::new(stream::iter(frames)))
        .expect("a valid response")
}
