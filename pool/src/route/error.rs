//! [`RouteError`]: why the ready set chose no connection.

use crate::{endpoint::EndpointId, ids::ConnId};

/// Why no connection was chosen. Each maps to one `PoolError` of the same
/// name (`impl From<RouteError> for PoolError`, in `error.rs`), so the
/// routing core needs nothing from the RPC path's error type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RouteError {
    /// No connection that is neither avoided nor refused has room: none is
    /// ready, or every one is full (the caller may wait for room).
    #[error("no ready connection")]
    NoReadyConnection,
    /// Every candidate's endpoint refused the call (its breaker is open).
    #[error("circuit breaker open on every ready endpoint")]
    BreakerOpen,
    /// Every candidate's endpoint is out of rotation (ejected, unhealthy).
    #[error("every endpoint with a ready connection is out of rotation")]
    NoHealthyEndpoint,
    /// A lease's connection is no longer ready.
    #[error("leased connection {conn} of endpoint {endpoint} is gone")]
    LeaseLost { conn: ConnId, endpoint: EndpointId },
}
