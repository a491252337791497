//! The pool's connector on turmoil's simulated network: the same pool code
//! that dials tokio TCP in production dials turmoil TCP here, and sets the
//! same socket options the real connector does.

use std::{future::Future, io};

use squall_pool::{Connector, Endpoint, SocketOptions};

/// Dials endpoints over turmoil's TCP. Host names resolve through turmoil's DNS.
///
/// Applies the pool's [`SocketOptions`] to the simulated socket as
/// `TcpConnector` applies them to a kernel one. squall's turmoil fork acts
/// on the user timeout only in a world with TCP retransmission switched on;
/// without it nothing is ever unacknowledged, so the option is inert.
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
            Ok(stream)
        }
    }
}
