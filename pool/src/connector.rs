//! The `Connector` trait: where a pool gets its byte streams.
//!
//! The pool knows nothing of sockets. Anything that yields an
//! `AsyncRead + AsyncWrite` stream for an [`Endpoint`] is a connector: the
//! [`TcpConnector`] shipped here for real networks, a turmoil connector in the
//! simulator, an in-memory duplex in unit tests.

use std::{future::Future, io, pin::Pin};

use tokio::io::{AsyncRead, AsyncWrite};

use crate::{config::KeepaliveConfig, endpoint::Endpoint};

/// Opens byte streams to endpoints.
///
/// `connect` must not block; the pool bounds it with its connect timeout and
/// drops the future when the timeout fires.
pub trait Connector: Send + Sync + 'static {
    /// The stream type this connector yields.
    type Io: AsyncRead + AsyncWrite + Send + Unpin + 'static;

    /// Opens one stream to `endpoint`.
    fn connect(
        &self,
        endpoint: &Endpoint,
    ) -> impl Future<Output = io::Result<Self::Io>> + Send + 'static;
}

/// A stream of any connector, boxed so the pool is not generic over its connector.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

pub(crate) type BoxIo = Box<dyn Io>;
pub(crate) type ConnectFuture = Pin<Box<dyn Future<Output = io::Result<BoxIo>> + Send>>;

/// Object-safe form of [`Connector`], so `Pool` stays a plain (non-generic) type.
pub(crate) trait DynConnector: Send + Sync + 'static {
    fn connect(&self, endpoint: &Endpoint) -> ConnectFuture;
}

impl<C: Connector> DynConnector for C {
    fn connect(&self, endpoint: &Endpoint) -> ConnectFuture {
        let fut = Connector::connect(self, endpoint);
        Box::pin(async move { fut.await.map(|io| Box::new(io) as BoxIo) })
    }
}

/// Connects over real TCP with tokio.
///
/// Besides `TCP_NODELAY` (gRPC messages are small and latency-sensitive;
/// Nagle's algorithm would delay them), it sets the kernel's own dead-peer
/// detection to match the pool's HTTP/2 keepalive, as grpc-go does: TCP
/// keepalive probes after `interval` of silence, and on Linux
/// `TCP_USER_TIMEOUT` = `timeout`, so data left unacknowledged that long
/// fails the socket even while HTTP/2 PINGs are queued behind it.
#[derive(Debug, Clone, Copy)]
pub struct TcpConnector {
    keepalive: KeepaliveConfig,
}

impl TcpConnector {
    /// A connector whose socket options follow `keepalive` (use the pool's).
    pub fn new(keepalive: KeepaliveConfig) -> Self {
        Self { keepalive }
    }
}

impl Default for TcpConnector {
    /// Socket options for [`KeepaliveConfig::default`].
    fn default() -> Self {
        Self::new(KeepaliveConfig::default())
    }
}

impl Connector for TcpConnector {
    type Io = tokio::net::TcpStream;

    fn connect(
        &self,
        endpoint: &Endpoint,
    ) -> impl Future<Output = io::Result<Self::Io>> + Send + 'static {
        let host = endpoint.host().to_owned();
        let port = endpoint.port();
        let keepalive = self.keepalive;
        async move {
            let stream = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            set_dead_peer_detection(&stream, &keepalive)?;
            Ok(stream)
        }
    }
}

fn set_dead_peer_detection(
    stream: &tokio::net::TcpStream,
    keepalive: &KeepaliveConfig,
) -> io::Result<()> {
    let socket = socket2::SockRef::from(stream);
    let probes = socket2::TcpKeepalive::new()
        .with_time(keepalive.interval)
        .with_interval(keepalive.timeout);
    socket.set_tcp_keepalive(&probes)?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    socket.set_tcp_user_timeout(Some(keepalive.timeout))?;
    Ok(())
}
