//! The pool's connector on turmoil's simulated network: the same pool code
//! that dials tokio TCP in production dials turmoil TCP here, and sets the
//! same socket options the real connector does.

use std::{future::Future, io};

use squall_pool::{Connector, Endpoint, SocketOptions};

/// Dials endpoints over turmoil's TCP. Host names resolve through turmoil's DNS.
///
/// Applies the pool's [`SocketOptions`] to the simulated socket as
/// `TcpConnector` applies them to a kernel one: nodelay, TCP keepalive
/// (idle, interval, count) and the user timeout. squall's turmoil fork acts
/// on them as Linux does (`docs/upstream.md`), so in the simulation a dead
/// peer is found on the kernel's path: by whichever of the user timeout
/// (unacknowledged data), TCP keepalive and the pool's HTTP/2 PING comes
/// first.
#[derive(Debug, Clone, Copy, Default)]
pub struct TurmoilConnector;

impl Connector for TurmoilConnector {
    type Io = turmoil::net::TcpStream;

    fn connect(
        &self,
        endpoint: &Endpoint,
        socket: &SocketOptions,
    ) -> impl Future<Output = io::Result<Self::Io>> + Send + 'static {
        let address = (endpoint.host().to_owned(), endpoint.port());
        let socket = *socket;
        async move {
            let stream = turmoil::net::TcpStream::connect((address.0.as_str(), address.1)).await?;
            stream.set_nodelay(socket.nodelay)?;
            stream.set_user_timeout(Some(socket.user_timeout))?;
            stream.set_keepalive(Some(turmoil::TcpKeepalive {
                time: socket.keepalive.idle,
                interval: socket.keepalive.interval,
                retries: socket.keepalive.retries,
            }))?;
            Ok(stream)
        }
    }
}
