//! The server's side of real TCP: tokio's listener inside the server's
//! namespace, peers named after the lab's hosts so trace lines read as in
//! the simulation (`peer=client:41234`).

use std::{
    collections::BTreeMap,
    io,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
};

use squall_sim::server::ServerNet;
use tokio::net::{TcpListener, TcpStream, tcp};

/// tokio TCP, with the lab's address → host table.
#[derive(Debug, Clone)]
pub(crate) struct KernelNet {
    pub(crate) names: Arc<BTreeMap<IpAddr, String>>,
}

impl ServerNet for KernelNet {
    type Listener = TcpListener;
    type Stream = TcpStream;
    type Read = tcp::OwnedReadHalf;
    type Write = tcp::OwnedWriteHalf;

    async fn bind(&self, port: u16) -> io::Result<Self::Listener> {
        TcpListener::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)).await
    }

    async fn accept(listener: &Self::Listener) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, peer) = listener.accept().await?;
        // As gRPC servers do (C-core and grpc-go set it on every
        // connection): without it Nagle holds a response's second write
        // until the client's delayed ACK, a 40 ms stall the simulation
        // (which has no Nagle) never shows.
        stream.set_nodelay(true)?;
        Ok((stream, peer))
    }

    fn split(stream: Self::Stream) -> (Self::Read, Self::Write) {
        stream.into_split()
    }

    fn peer_name(&self, peer: SocketAddr) -> String {
        match self.names.get(&peer.ip()) {
            Some(host) => format!("{host}:{}", peer.port()),
            None => peer.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server's side of every connection has Nagle off, as a gRPC
    /// server's does; loopback only, so it runs anywhere.
    #[tokio::test]
    async fn accepted_streams_have_nodelay() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(
            TcpStream::connect(addr),
            <KernelNet as ServerNet>::accept(&listener)
        );
        let _client = client.unwrap();
        let (stream, peer) = accepted.unwrap();
        assert_eq!(peer.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert!(stream.nodelay().unwrap());
    }
}
