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
        listener.accept().await
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
