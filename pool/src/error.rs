//! Errors: why an RPC failed in the pool, and why a pool could not be built.
//!
//! RPC errors reach tonic clients as a `tonic::Status` with the right gRPC
//! code; the typed [`PoolError`] rides along as the status's source, so a
//! caller can find out which connection failed:
//! `status.source().and_then(|e| e.downcast_ref::<PoolError>())`.

use std::sync::Arc;

use tonic::{Code, Status};

use crate::{
    config_error::ConfigError,
    endpoint::{EndpointError, EndpointId},
    ids::{ConnId, RoutedTo},
    policy::limit::Rejection,
    route::RouteError,
    wire::escape,
};

/// Why the pool failed an RPC.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// No connection is ready: every endpoint is connecting or backing off.
    /// The pool fails fast rather than queueing behind a reconnect.
    #[error("no ready connection")]
    NoReadyConnection,
    /// The pool was shut down.
    #[error("pool is shut down")]
    Shutdown,
    /// The limiter refused the RPC (queue full, waited too long, or the
    /// deadline passed in the queue).
    #[error("limiter: {0}")]
    Limited(Rejection),
    /// Every endpoint with a ready connection has its circuit breaker open
    /// (or its half-open probes taken): fail fast without touching the network.
    #[error("circuit breaker open on every ready endpoint")]
    BreakerOpen,
    /// Every endpoint with a ready connection is out of rotation: ejected
    /// as an outlier or failing its health checks.
    #[error("every endpoint with a ready connection is ejected or unhealthy")]
    NoHealthyEndpoint,
    /// The RPC waited for a ready connection (it asked to with
    /// [`WaitForReady`](crate::WaitForReady), or the pool was idle), or for
    /// room on a full one (every connection, or its lease's, at capacity),
    /// and its deadline came first.
    #[error("deadline exceeded waiting for a ready connection")]
    NoConnectionBeforeDeadline,
    /// The RPC's deadline passed before the response headers arrived.
    #[error("deadline exceeded waiting on connection {conn}")]
    DeadlineExceeded { conn: ConnId, endpoint: EndpointId },
    /// The leased connection is no longer ready (closed or draining); a
    /// lease never fails over, so take a new one.
    #[error("leased connection {conn} is gone")]
    LeaseLost { conn: ConnId, endpoint: EndpointId },
    /// The endpoint does not speak HTTP/2 (an HTTP/1.1 server, a TLS
    /// port, anything else): these are the first bytes it sent (up to 16).
    #[error("endpoint {endpoint} does not speak HTTP/2 (connection {conn}): it sent {:?} first", escape(.first_bytes))]
    NotHttp2 {
        conn: ConnId,
        endpoint: EndpointId,
        first_bytes: Vec<u8>,
    },
    /// The connection carrying the RPC failed.
    #[error("connection {conn} failed: {source}")]
    Connection {
        conn: ConnId,
        endpoint: EndpointId,
        #[source]
        source: hyper::Error,
    },
}

impl PoolError {
    /// The gRPC status code a caller sees for this error.
    pub fn code(&self) -> Code {
        match self {
            PoolError::NoReadyConnection
            | PoolError::Shutdown
            | PoolError::BreakerOpen
            | PoolError::NoHealthyEndpoint => Code::Unavailable,
            PoolError::Limited(rejection) => Code::from_i32(rejection.code().number().into()),
            PoolError::DeadlineExceeded { .. } | PoolError::NoConnectionBeforeDeadline => {
                Code::DeadlineExceeded
            }
            PoolError::LeaseLost { .. } => Code::Unavailable,
            PoolError::Connection { .. } | PoolError::NotHttp2 { .. } => Code::Unavailable,
        }
    }

    /// The connection the RPC was routed to, if it got that far.
    pub fn routed(&self) -> Option<RoutedTo> {
        match *self {
            PoolError::DeadlineExceeded { conn, endpoint }
            | PoolError::LeaseLost { conn, endpoint }
            | PoolError::Connection { conn, endpoint, .. }
            | PoolError::NotHttp2 { conn, endpoint, .. } => Some(RoutedTo { conn, endpoint }),
            PoolError::NoReadyConnection
            | PoolError::Shutdown
            | PoolError::Limited(_)
            | PoolError::BreakerOpen
            | PoolError::NoHealthyEndpoint
            | PoolError::NoConnectionBeforeDeadline => None,
        }
    }

    /// Finds the `PoolError` behind a status a tonic client returned.
    pub fn from_status(status: &Status) -> Option<&PoolError> {
        std::error::Error::source(status)?.downcast_ref()
    }

    /// Converts to the status tonic hands to the caller, keeping `self` as its source.
    pub fn into_status(self) -> Status {
        let mut status = Status::new(self.code(), format!("squall: {self}"));
        status.set_source(Arc::new(self));
        status
    }
}

impl From<RouteError> for PoolError {
    /// One to one: each routing failure is the pool error of its name.
    fn from(error: RouteError) -> Self {
        match error {
            RouteError::NoReadyConnection => PoolError::NoReadyConnection,
            RouteError::BreakerOpen => PoolError::BreakerOpen,
            RouteError::NoHealthyEndpoint => PoolError::NoHealthyEndpoint,
            RouteError::LeaseLost { conn, endpoint } => PoolError::LeaseLost { conn, endpoint },
        }
    }
}

/// Why a pool could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("endpoint #{index}: {source}")]
    Endpoint {
        index: usize,
        #[source]
        source: EndpointError,
    },
    #[error("a pool needs at least one endpoint")]
    NoEndpoints,
    #[error("endpoint `{0}` is listed twice")]
    DuplicateEndpoint(String),
    #[error("Pool::build must be called inside a tokio runtime")]
    NoRuntime,
}
