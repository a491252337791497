//! The pool's connector on turmoil's simulated network: the same pool code
//! that dials tokio TCP in production dials turmoil TCP here.

use std::{future::Future, io};

use squall_pool::{Connector, Endpoint};

/// Dials endpoints over turmoil's TCP. Host names resolve through turmoil's DNS.
#[derive(Debug, Clone, Copy, Default)]
pub struct TurmoilConnector;

impl Connector for TurmoilConnector {
    type Io = turmoil::net::TcpStream;

    fn connect(
        &self,
        endpoint: &Endpoint,
    ) -> impl Future<Output = io::Result<Self::Io>> + Send + 'static {
        let address = (endpoint.host().to_owned(), endpoint.port());
        async move { turmoil::net::TcpStream::connect((address.0.as_str(), address.1)).await }
    }
}
