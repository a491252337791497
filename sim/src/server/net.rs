//! The server's side of a network: turmoil's simulated TCP in the
//! simulation, tokio's real TCP in kernel mode. One server implementation
//! serves both worlds; only how it binds, accepts and names a peer differs.

use std::{future::Future, io, net::SocketAddr};

use tokio::io::{AsyncRead, AsyncWrite};

/// How a server listens and accepts.
pub trait ServerNet: 'static {
    type Listener;
    /// One accepted connection; dropping it (both halves) closes it.
    type Stream: Send + 'static;
    type Read: AsyncRead + Unpin + Send + 'static;
    type Write: AsyncWrite + Unpin + Send + 'static;

    /// Listens on `port` of every address of the host.
    fn bind(&self, port: u16) -> impl Future<Output = io::Result<Self::Listener>>;

    /// The next connection and its peer's address.
    fn accept(
        listener: &Self::Listener,
    ) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>>;

    /// The stream's two halves, each owned (the relay reads one while
    /// writing the other).
    fn split(stream: Self::Stream) -> (Self::Read, Self::Write);

    /// How trace lines name the peer: `host:port` where the host is known.
    fn peer_name(&self, peer: SocketAddr) -> String;
}

/// turmoil's simulated TCP; peers are named by turmoil's DNS.
#[derive(Debug, Clone, Copy, Default)]
pub struct Turmoil;

impl ServerNet for Turmoil {
    type Listener = turmoil::net::TcpListener;
    type Stream = turmoil::net::TcpStream;
    type Read = turmoil::net::tcp::OwnedReadHalf;
    type Write = turmoil::net::tcp::OwnedWriteHalf;

    async fn bind(&self, port: u16) -> io::Result<Self::Listener> {
        let any = std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
        turmoil::net::TcpListener::bind((any, port)).await
    }

    async fn accept(listener: &Self::Listener) -> io::Result<(Self::Stream, SocketAddr)> {
        listener.accept().await
    }

    fn split(stream: Self::Stream) -> (Self::Read, Self::Write) {
        stream.into_split()
    }

    fn peer_name(&self, peer: SocketAddr) -> String {
        match turmoil::reverse_lookup(peer.ip()) {
            Some(host) => format!("{host}:{}", peer.port()),
            None => peer.to_string(),
        }
    }
}
