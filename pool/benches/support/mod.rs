//! What the pool's benchmarks share: an in-process gRPC server over an
//! in-memory pipe (`tokio::io::duplex`), and three clients of it built the
//! same way: squall's pool, a bare hyper HTTP/2 connection, and a tonic
//! `Channel`. The server and the pipe are the same for all three, so the
//! difference between two clients is what each client itself costs.
//!
//! Everything runs on one current-thread runtime, so a run does the same
//! work every time and callgrind's instruction counts repeat exactly.

#![allow(dead_code, reason = "each bench binary uses part of this module")]

use std::{
    future::Future,
    io,
    pin::Pin,
    task::{Context, Poll},
};

use hyper::{body::Incoming, client::conn::http2::SendRequest};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use squall_pool::{Connector, Endpoint, Pool, PoolConfig, SocketOptions};
use tokio::{io::DuplexStream, runtime::Runtime};
use tonic::{body::Body, transport::Channel};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// Bytes the pipe holds each way, as a socket buffer would.
const PIPE_CAPACITY: usize = 64 * 1024;

/// The endpoint every client names; the pipe ignores it.
pub const ENDPOINT: &str = "http://bench.invalid:50051";

pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
}

/// Serves `grpc.health.v1.Health` (tonic-health, with "" SERVING) on one
/// end of a fresh pipe, on the current runtime, and returns the other end.
pub fn serve_pipe() -> DuplexStream {
    let (client, server) = tokio::io::duplex(PIPE_CAPACITY);
    let (_reporter, health) = tonic_health::server::health_reporter();
    let service = TowerToHyperService::new(health);
    tokio::spawn(
        hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .serve_connection(TokioIo::new(server), service),
    );
    client
}

/// A connector whose every dial is a new pipe to a new in-process server.
pub struct PipeConnector;

impl Connector for PipeConnector {
    type Io = DuplexStream;

    fn connect(
        &self,
        _endpoint: &Endpoint,
        _socket: &SocketOptions,
    ) -> impl Future<Output = io::Result<DuplexStream>> + Send + 'static {
        let io = serve_pipe();
        async move { Ok(io) }
    }
}

/// The request every benchmark sends.
pub fn request() -> HealthCheckRequest {
    HealthCheckRequest::default()
}

/// squall's pool over pipes, once all `connections` are ready. Call inside the runtime.
pub async fn pool_client(connections: usize) -> (Pool, HealthClient<Pool>) {
    pool_client_with(PoolConfig {
        connections_per_endpoint: connections,
        ..PoolConfig::default()
    })
    .await
}

/// squall's pool over pipes with `config`, once all its connections are
/// ready. Call inside the runtime.
pub async fn pool_client_with(config: PoolConfig) -> (Pool, HealthClient<Pool>) {
    let connections = config.connections_per_endpoint;
    let pool = Pool::builder()
        .endpoint(ENDPOINT)
        .config(config)
        .build(PipeConnector)
        .expect("a valid pool");
    while pool.ready_connections() < connections {
        tokio::task::yield_now().await;
    }
    (pool.clone(), HealthClient::new(pool))
}

/// hyper's HTTP/2 client connection with nothing around it but what gRPC
/// needs: the absolute URI (as the pool writes it) and a boxed future.
#[derive(Clone)]
pub struct Bare {
    sender: SendRequest<Body>,
}

impl tower::Service<http::Request<Body>> for Bare {
    type Response = http::Response<Incoming>;
    type Error = hyper::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, hyper::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), hyper::Error>> {
        self.sender.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let path = request
            .uri()
            .path_and_query()
            .cloned()
            .expect("tonic sends a path");
        *request.uri_mut() = http::Uri::builder()
            .scheme("http")
            .authority("bench.invalid:50051")
            .path_and_query(path)
            .build()
            .expect("a valid URI");
        Box::pin(self.sender.send_request(request))
    }
}

impl Bare {
    pub fn new(sender: SendRequest<Body>) -> Self {
        Self { sender }
    }
}

/// A bare hyper client over a pipe. Call inside the runtime.
pub async fn bare_client() -> HealthClient<Bare> {
    let io = TokioIo::new(serve_pipe());
    let (sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .handshake(io)
        .await
        .expect("the handshake over a pipe succeeds");
    tokio::spawn(connection);
    HealthClient::new(Bare { sender })
}

/// A tonic `Channel` over a pipe, as tonic builds it by default (no
/// keepalive, no timeout). Call inside the runtime.
pub async fn channel_client() -> HealthClient<Channel> {
    channel_over_pipe(tonic::transport::Endpoint::from_static(ENDPOINT)).await
}

/// A tonic `Channel` over a pipe doing the pool's job: the pool's default
/// keepalive (a PING after 30 s without a frame, 10 s to answer, also
/// while idle) and its default RPC deadline (30 s). Without them a
/// Channel neither finds a dead connection nor bounds a wait on one, and
/// the pool pays for both on every RPC. Call inside the runtime.
pub async fn channel_client_like_pool() -> HealthClient<Channel> {
    channel_over_pipe(like_pool(tonic::transport::Endpoint::from_static(ENDPOINT))).await
}

/// `endpoint` with the pool's default keepalive and RPC deadline.
pub fn like_pool(endpoint: tonic::transport::Endpoint) -> tonic::transport::Endpoint {
    let defaults = PoolConfig::default();
    endpoint
        .http2_keep_alive_interval(defaults.keepalive.interval)
        .keep_alive_timeout(defaults.keepalive.timeout)
        .keep_alive_while_idle(defaults.keepalive.while_idle)
        .timeout(defaults.default_rpc_timeout)
}

async fn channel_over_pipe(endpoint: tonic::transport::Endpoint) -> HealthClient<Channel> {
    let channel = endpoint
        .connect_with_connector(tower::service_fn(|_uri: http::Uri| async {
            Ok::<_, io::Error>(TokioIo::new(serve_pipe()))
        }))
        .await
        .expect("a channel over a pipe connects");
    HealthClient::new(channel)
}
