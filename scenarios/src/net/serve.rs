//! `squall serve`: the echo service and `grpc.health.v1.Health` over real
//! TCP on loopback, with tonic's own server, so load runs measure clients
//! against the server a tonic user would run.

use std::{io, net::SocketAddr};

use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tonic::transport::server::TcpIncoming;

/// Server name the echo service puts in its replies.
const SERVER_NAME: &str = "squall-serve";

/// A running server; [`EchoServer::stop`] ends it.
pub struct EchoServer {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl EchoServer {
    /// Binds `addr` (port 0 picks a free port) and starts serving on the
    /// current runtime.
    pub async fn start(addr: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        // Small unary messages: Nagle's algorithm would only add latency.
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let routes = squall_sim::echo::routes(SERVER_NAME).await;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(
            tonic::transport::Server::builder()
                .add_routes(routes)
                .serve_with_incoming_shutdown(incoming, async {
                    // A dropped sender stops the server too.
                    let _ = stopped.await;
                }),
        );
        Ok(Self { addr, stop, task })
    }

    /// The address it listens on (with the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL clients dial: `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets in-flight RPCs finish, and waits for the end.
    pub async fn stop(self) -> Result<(), ServeError> {
        let _ = self.stop.send(());
        self.task
            .await
            .map_err(|e| ServeError::Panicked(e.to_string()))?
            .map_err(ServeError::Transport)
    }

    /// Resolves only if the server stops by itself (it failed); meant to
    /// be raced against a stop signal, after which [`EchoServer::stop`].
    pub async fn failed(&mut self) -> ServeError {
        match (&mut self.task).await {
            Ok(Ok(())) => ServeError::Ended,
            Ok(Err(e)) => ServeError::Transport(e),
            Err(e) => ServeError::Panicked(e.to_string()),
        }
    }
}

/// Why the server stopped other than being asked to.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("the server failed: {0}")]
    Transport(tonic::transport::Error),
    #[error("the server task panicked: {0}")]
    Panicked(String),
    #[error("the server ended on its own")]
    Ended,
}
