//! The ids that name a connection, an RPC's route and a lease: [`ConnId`],
//! [`RoutedTo`] and [`LeaseId`].
//!
//! A leaf beside `endpoint` (which owns [`EndpointId`]): events, errors,
//! the response body and routing all name connections (and events name
//! leases), and none of them should have to import the others (or the RPC
//! path) to do so. [`LeaseId`] is public as `squall_pool::lease::LeaseId`
//! and `squall_pool::LeaseId`.

use std::fmt;

use crate::endpoint::EndpointId;

/// Identifies one physical connection (one TCP stream, one HTTP/2 session).
/// A reconnect gets a new id; ids are never reused within a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Which connection carried an RPC. Found in every successful response's
/// extensions (`response.extensions().get::<RoutedTo>()`), and in
/// [`PoolError`](crate::PoolError) for failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutedTo {
    pub conn: ConnId,
    pub endpoint: EndpointId,
}

/// Identifies a lease within its pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeaseId(pub u64);
