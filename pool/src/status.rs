//! What each connection slot, endpoint and the whole pool is doing right
//! now: gRPC connectivity states, and the [`PoolStats`] snapshot (a small
//! channelz for squall).
//!
//! Slots report every change here from their connection's lifecycle
//! (`conn/lifecycle.rs`); the pool-wide state is recomputed on each change
//! and published on a `watch` channel.

use std::{sync::Arc, time::Duration};

use tokio::time::Instant;

use crate::{
    conn::ConnState,
    endpoint::{Endpoint, EndpointId},
    ids::ConnId,
    inflight::InFlight,
    policy::breaker::State as BreakerState,
    policy::health::HealthState,
};

/// gRPC's connectivity states (`connectivity-semantics-and-api.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Connectivity {
    /// Not connected and not trying.
    Idle,
    /// Dialling or handshaking.
    Connecting,
    /// Has a connection that takes RPCs.
    Ready,
    /// The last attempt failed: waiting out the backoff, or dialling again.
    /// Sticky, as gRPC's (gRFC A62): it stays so until a connection is
    /// ready, so fail-fast RPCs keep failing at once meanwhile.
    TransientFailure,
    /// Shut down for good.
    Shutdown,
}

impl Connectivity {
    /// gRPC's aggregation rule, for an endpoint over its slots or the pool
    /// over its endpoints: READY if any is ready, else CONNECTING if any is
    /// connecting, else IDLE if any is idle, else TRANSIENT_FAILURE if any
    /// is failing; SHUTDOWN only when all are (or there are none).
    pub fn aggregate(states: impl IntoIterator<Item = Connectivity>) -> Connectivity {
        let mut best = Connectivity::Shutdown;
        for state in states {
            if state.precedence() < best.precedence() {
                best = state;
            }
        }
        best
    }

    fn precedence(self) -> u8 {
        match self {
            Connectivity::Ready => 0,
            Connectivity::Connecting => 1,
            Connectivity::Idle => 2,
            Connectivity::TransientFailure => 3,
            Connectivity::Shutdown => 4,
        }
    }
}

/// A snapshot of the pool, from [`Pool::stats`](crate::Pool::stats).
#[derive(Debug, Clone, PartialEq)]
pub struct PoolStats {
    pub state: Connectivity,
    /// In endpoint order ([`EndpointId`]).
    pub endpoints: Vec<EndpointStats>,
    /// The limiter's occupancy, when a limiter is configured.
    pub limiter: Option<LimiterStats>,
    /// What the retry policy did, when one is configured.
    pub retry: Option<RetryStats>,
    /// What the hedging policy did, when one is configured.
    pub hedging: Option<HedgingStats>,
}

/// The hedging policy in a [`PoolStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HedgingStats {
    /// Hedges sent so far: copies after the first.
    pub hedges: u64,
    /// Hedges the budget refused (the call then waits on the copies it has).
    pub budget_refused: u64,
}

/// The retry policy in a [`PoolStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryStats {
    /// Retries sent so far (transparent retries are not counted).
    pub retries: u64,
    /// Retries the policy wanted but the retry budget refused.
    pub budget_refused: u64,
}

/// The limiter in a [`PoolStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimiterStats {
    /// RPCs holding a permit.
    pub in_flight: usize,
    /// Callers waiting for one.
    pub queued: usize,
}

/// One endpoint in a [`PoolStats`].
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointStats {
    pub id: EndpointId,
    pub endpoint: Endpoint,
    /// Removed by `Pool::remove_endpoint`: its connections drain and its
    /// slots end (then SHUTDOWN). Kept so ids stay indexes.
    pub removed: bool,
    pub state: Connectivity,
    /// The endpoint's circuit breaker, when breakers are configured. OPEN
    /// stays OPEN here until a call notices `wait_in_open` has passed.
    pub breaker: Option<BreakerState>,
    /// Whether outlier detection has the endpoint out of rotation, when
    /// outlier detection is configured.
    pub ejected: Option<bool>,
    /// The endpoint's health from active checks, when they are configured.
    pub health: Option<HealthState>,
    /// One per connection slot (`connections_per_endpoint`, plus the
    /// extra connections scaling has woken).
    pub slots: Vec<SlotStats>,
}

/// One live connection's load against its stream capacity
/// (`Pool::loads`): what `ConnStats` says of it, without reading the clock
/// or building the whole snapshot, so a testbed can look at every step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLoad {
    pub conn: ConnId,
    pub in_flight: usize,
    /// As `ConnStats::capacity`.
    pub capacity: Option<usize>,
    /// Whether the server's first SETTINGS has been read: until then the
    /// capacity is provisional ([`PROVISIONAL_PEER_LIMIT`](crate::PROVISIONAL_PEER_LIMIT)
    /// or the configured cap, if lower).
    pub settled: bool,
}

/// One connection slot in a [`PoolStats`].
#[derive(Debug, Clone, PartialEq)]
pub struct SlotStats {
    pub state: Connectivity,
    /// Connections dialled by this slot so far (reconnects are `dials - 1`).
    pub dials: u64,
    /// The slot's current connection, if it has one.
    pub connection: Option<ConnStats>,
}

/// One live connection in a [`PoolStats`].
#[derive(Debug, Clone, PartialEq)]
pub struct ConnStats {
    pub conn: ConnId,
    pub state: ConnState,
    /// Time since dialling started.
    pub age: Duration,
    pub in_flight: usize,
    /// Most RPCs it may carry at once: the lower of
    /// `max_streams_per_connection` and the server's
    /// SETTINGS_MAX_CONCURRENT_STREAMS (until the server's first SETTINGS
    /// arrive, the 100 hyper's h2 also assumes). `None`: neither limits it.
    pub capacity: Option<usize>,
    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS, once it said.
    pub server_max_streams: Option<usize>,
    /// RPCs routed to this connection so far (the pool's health checks
    /// left out).
    pub rpcs_routed: u64,
}

/// A slot's live record, kept by the pool.
pub(crate) struct SlotStatus {
    pub(crate) endpoint: EndpointId,
    /// An extra slot asleep until the pool needs room: left out of stats
    /// and of the aggregated connectivity.
    pub(crate) dormant: bool,
    pub(crate) state: Connectivity,
    pub(crate) dials: u64,
    pub(crate) conn: Option<LiveConn>,
}

pub(crate) struct LiveConn {
    pub(crate) id: ConnId,
    pub(crate) state: ConnState,
    pub(crate) dialled_at: Instant,
    pub(crate) in_flight: Arc<InFlight>,
}

impl SlotStatus {
    pub(crate) fn new(endpoint: EndpointId) -> Self {
        Self {
            endpoint,
            dormant: false,
            state: Connectivity::Idle,
            dials: 0,
            conn: None,
        }
    }

    pub(crate) fn stats(&self, now: Instant) -> SlotStats {
        SlotStats {
            state: self.state,
            dials: self.dials,
            connection: self.conn.as_ref().map(|c| ConnStats {
                conn: c.id,
                state: c.state.clone(),
                age: now.saturating_duration_since(c.dialled_at),
                in_flight: c.in_flight.load(),
                capacity: c.in_flight.capacity_limit(),
                server_max_streams: c.in_flight.peer_limit(),
                rpcs_routed: c.in_flight.rpcs(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Connectivity::{self, *};

    #[test]
    fn aggregation_follows_grpc() {
        let agg = |s: &[Connectivity]| Connectivity::aggregate(s.iter().copied());
        assert_eq!(agg(&[TransientFailure, Ready, Connecting]), Ready);
        assert_eq!(agg(&[TransientFailure, Connecting, Idle]), Connecting);
        assert_eq!(agg(&[TransientFailure, Idle]), Idle);
        assert_eq!(agg(&[TransientFailure, Shutdown]), TransientFailure);
        assert_eq!(agg(&[Shutdown, Shutdown]), Shutdown);
        assert_eq!(agg(&[]), Shutdown);
    }
}
