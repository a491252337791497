//! The `Connector` trait: where a pool gets its byte streams.
//!
//! The pool knows nothing of sockets. Anything that yields an
//! `AsyncRead + AsyncWrite` stream for an [`Endpoint`] is a connector: the
//! [`TcpConnector`] shipped here for real networks, a turmoil connector in the
//! simulator, an in-memory duplex in unit tests. The pool passes every dial
//! the [`SocketOptions`] its config implies, so each connector sets the same
//! ones.

use std::{future::Future, io, pin::Pin};

use tokio::io::{AsyncRead, AsyncWrite};

use crate::{endpoint::Endpoint, socket::SocketOptions};

/// Opens byte streams to endpoints.
///
/// `connect` must not block; the pool bounds it with its connect timeout and
/// drops the future when the timeout fires.
pub trait Connector: Send + Sync + 'static {
    /// The stream type this connector yields.
    type Io: AsyncRead + AsyncWrite + Send + Unpin + 'static;

    /// Opens one stream to `endpoint`. A connector over real or simulated
    /// TCP applies `socket`; one over something else (a pipe) may ignore it.
    fn connect(
        &self,
        endpoint: &Endpoint,
        socket: &SocketOptions,
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

/// A connector with the socket options of the pool that owns it: the one
/// place where the options meet the dial.
pub(crate) struct Configured<C> {
    connector: C,
    socket: SocketOptions,
}

impl<C: Connector> Configured<C> {
    pub(crate) fn new(connector: C, socket: SocketOptions) -> Self {
        Self { connector, socket }
    }
}

impl<C: Connector> DynConnector for Configured<C> {
    fn connect(&self, endpoint: &Endpoint) -> ConnectFuture {
        let fut = self.connector.connect(endpoint, &self.socket);
        Box::pin(async move { fut.await.map(|io| Box::new(io) as BoxIo) })
    }
}

/// Connects over real TCP with tokio and sets the pool's [`SocketOptions`]:
/// `TCP_NODELAY`, TCP keepalive and, on Linux and Android,
/// `TCP_USER_TIMEOUT`, so the kernel's own dead-peer detection matches the
/// pool's HTTP/2 keepalive, as grpc-go does (see [`SocketOptions`] for the
/// rounding Linux needs).
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpConnector;

impl Connector for TcpConnector {
    type Io = tokio::net::TcpStream;

    fn connect(
        &self,
        endpoint: &Endpoint,
        socket: &SocketOptions,
    ) -> impl Future<Output = io::Result<Self::Io>> + Send + 'static {
        let host = endpoint.host().to_owned();
        let port = endpoint.port();
        let socket = *socket;
        async move {
            let stream = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            apply(&stream, &socket)?;
            Ok(stream)
        }
    }
}

fn apply(stream: &tokio::net::TcpStream, options: &SocketOptions) -> io::Result<()> {
    stream.set_nodelay(options.nodelay)?;
    let socket = socket2::SockRef::from(stream);
    let probes = socket2::TcpKeepalive::new()
        .with_time(options.keepalive.idle)
        .with_interval(options.keepalive.interval);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let probes = probes.with_retries(options.keepalive.retries);
    socket.set_tcp_keepalive(&probes)?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    socket.set_tcp_user_timeout(Some(options.user_timeout))?;
    Ok(())
}
