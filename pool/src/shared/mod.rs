//! State shared by every `Pool` handle and every connection task, in eight
//! parts that each own one concern: the configuration, the endpoint set,
//! the connector, the event sink, the policies, the lifecycle (shutdown and
//! what it waits for), routing (the ready set and the RNG) and the tracker
//! (slot statuses and connectivity).
//!
//! The methods here are the few that need more than one part: routing
//! adaptors that consult the policies, readiness changes that also settle
//! the idle cycle, the stats snapshot. Each part lives in its own file:
//! - `routing`: [`Routing`], the ready set, the RNG, scaling, and the
//!   adaptors onto `route/`'s pure picks.
//! - `tracker`: [`Tracker`], slot statuses, connectivity, the idle cycle,
//!   the signal waiting RPCs watch.
//! - `replacements`: [`Replacements`](replacements::Replacements), the
//!   count of replacements owed after GOAWAY.
//!
//! Locks are `std::sync::Mutex` held for a few instructions and never across
//! an `.await`.

mod replacements;
mod routing;
mod tracker;

use std::sync::Arc;

use hyper::client::conn::http2::SendRequest;
use rand_chacha::ChaCha8Rng;
use tokio::{sync::watch, time::Instant};
use tonic::body::Body;

pub(crate) use replacements::{Replacements, Replacing};
pub(crate) use routing::{Link, ReadyConn, Routed, Routing};
pub(crate) use tracker::Tracker;

use crate::{
    config::PoolConfig,
    connector::DynConnector,
    endpoint::{Endpoint, EndpointId},
    endpoints::EndpointSet,
    error::PoolError,
    event::Events,
    idle::Idleness,
    ids::{ConnId, RoutedTo},
    inflight::{InFlight, InFlightGuard},
    lifecycle::Lifecycle,
    policy::{Policies, health::Probes},
    route::{RouteError, Saturated},
    status::{
        ConnLoad, Connectivity, EndpointStats, HedgingStats, LimiterStats, PoolStats, RetryStats,
        SlotStats, SlotStatus,
    },
    wait::ReadyChanges,
};

/// Everything the pool's handles and tasks share: eight parts, each owning
/// one concern.
pub(crate) struct Shared {
    /// The validated configuration.
    pub(crate) config: PoolConfig,
    /// Every endpoint the pool has had, and which were removed.
    pub(crate) endpoints: EndpointSet,
    /// Where byte streams come from (the socket options applied).
    pub(crate) connector: Box<dyn DynConnector>,
    /// The sink every `PoolEvent` goes to.
    pub(crate) events: Events,
    /// The limiter, breakers, retry policy, outlier detection and health
    /// checks the pool was configured with.
    pub(crate) policies: Policies,
    /// The shutdown signal, the pool's tasks, hyper's tasks, the leases.
    pub(crate) lifecycle: Lifecycle,
    /// The ready set, the RNG, scaling.
    pub(crate) routing: Routing,
    /// Slot statuses, connectivity, the idle cycle, replacements, the
    /// signal waiting RPCs watch.
    pub(crate) tracker: Tracker,
}

impl Shared {
    pub(crate) fn new(
        endpoints: Vec<Endpoint>,
        config: PoolConfig,
        connector: Box<dyn DynConnector>,
        events: Events,
        rng: ChaCha8Rng,
        policies: Policies,
    ) -> Self {
        let slots = (0..endpoints.len())
            .flat_map(|e| {
                let per_endpoint = config
                    .max_connections_per_endpoint
                    .unwrap_or(config.connections_per_endpoint);
                std::iter::repeat_n(EndpointId(e as u32), per_endpoint)
            })
            .map(SlotStatus::new)
            .collect();
        Self {
            tracker: Tracker::new(slots, config.idle_timeout.map(Idleness::new)),
            endpoints: EndpointSet::new(endpoints),
            config,
            connector,
            events,
            policies,
            lifecycle: Lifecycle::default(),
            routing: Routing::new(rng),
        }
    }

    pub(crate) fn next_conn_id(&self) -> ConnId {
        self.tracker.next_conn_id()
    }

    /// Runs `f` with the pool's RNG. Every random choice goes through here so
    /// that one seed determines them all.
    pub(crate) fn with_rng<T>(&self, f: impl FnOnce(&mut ChaCha8Rng) -> T) -> T {
        self.routing.with_rng(f)
    }

    /// A connection became ready: routes to it, settles a waking pool and
    /// wakes RPCs waiting for a connection.
    pub(crate) fn insert_ready(&self, entry: ReadyConn) {
        self.routing.insert(entry);
        if let Some(idle) = &self.tracker.idle {
            idle.settle();
        }
        self.ready_changed();
    }

    /// A new connection's in-flight count (`Tracker::new_in_flight`), with
    /// the configured stream cap and recycling.
    pub(crate) fn new_in_flight(&self, extra: bool) -> Arc<InFlight> {
        self.tracker.new_in_flight(
            extra,
            self.config.max_streams_per_connection,
            self.config.recycle_after_streams,
        )
    }

    /// A dial failed: a waking pool is now failing, so RPCs that waited
    /// only because it was waking must look again (and fail fast).
    pub(crate) fn connect_failed(&self) {
        if self.tracker.idle.as_ref().is_some_and(|idle| idle.settle()) {
            self.ready_changed();
        }
    }

    /// Wakes RPCs waiting for a connection.
    pub(crate) fn ready_changed(&self) {
        self.tracker.ready_changed();
    }

    /// The signal that wakes RPCs waiting for a connection, for a task
    /// that should wake them.
    pub(crate) fn ready_changes(&self) -> ReadyChanges {
        self.tracker.ready_changes()
    }

    /// Changes RPCs waiting for a connection watch (see `ready_changes`).
    pub(crate) fn watch_ready_changes(&self) -> watch::Receiver<u64> {
        self.tracker.watch_ready_changes()
    }

    /// Removes every connection of `endpoint` from the ready set (it was
    /// removed; its slots drain those connections next).
    pub(crate) fn remove_ready_of(&self, endpoint: EndpointId) {
        self.routing.remove_endpoint(endpoint);
    }

    /// Removes `conn` from the ready set; returns whether it was there.
    pub(crate) fn remove_ready(&self, conn: ConnId) -> bool {
        self.routing.remove(conn)
    }

    /// A stream for a health check of `endpoint` (no RNG draw).
    pub(crate) fn probe_of(
        &self,
        endpoint: EndpointId,
    ) -> Option<(SendRequest<Body>, InFlightGuard)> {
        self.routing.probe_of(endpoint)
    }

    /// A ready connection for one RPC (`Routing::pick`).
    pub(crate) fn pick(&self, now: Instant, avoid: &[ConnId]) -> Result<Routed, RouteError> {
        self.routing.pick(&self.policies, now, avoid)
    }

    /// A connection for a retry, elsewhere if it can (`Routing::pick_elsewhere`).
    pub(crate) fn pick_elsewhere(
        &self,
        now: Instant,
        tried: &[RoutedTo],
    ) -> Result<Routed, RouteError> {
        self.routing.pick_elsewhere(&self.policies, now, tried)
    }

    /// A connection for a hedge, on an endpoint none of `tried` went to
    /// (`Routing::pick_other_endpoint`). Never waits: no such connection
    /// with room now means no hedge now.
    pub(crate) fn pick_other_endpoint(
        &self,
        now: Instant,
        tried: &[RoutedTo],
    ) -> Result<Routed, RouteError> {
        self.routing.pick_other_endpoint(&self.policies, now, tried)
    }

    /// Whether every usable ready connection is full (`Routing::saturated`).
    pub(crate) fn saturated(&self, now: Instant, avoid: &[ConnId]) -> Option<Saturated> {
        self.routing.saturated(&self.policies, now, avoid)
    }

    /// Whether a slot that could serve an RPC at `now` is CONNECTING
    /// (`Tracker::connecting`): of an endpoint in rotation whose breaker
    /// is not open. A fail-fast RPC that finds no ready connection waits
    /// for it, as gRPC's does while its channel is CONNECTING.
    pub(crate) fn connecting(&self, now: Instant) -> bool {
        let out = self.routing.out_of_rotation(&self.policies, now);
        self.tracker.connecting(|endpoint| {
            !out.contains(&endpoint)
                && self
                    .policies
                    .breakers
                    .as_ref()
                    .is_none_or(|b| b.state(endpoint) != crate::policy::breaker::State::Open)
        })
    }

    /// Asks for one more connection (`Routing::grow`).
    pub(crate) fn grow(&self, now: Instant) -> bool {
        self.routing.grow(&self.policies, &self.endpoints, now)
    }

    /// Slots per endpoint: the minimum, then the extra ones scaling may wake.
    pub(crate) fn slots_per_endpoint(&self) -> usize {
        self.config
            .max_connections_per_endpoint
            .unwrap_or(self.config.connections_per_endpoint)
    }

    /// Routes one RPC to a leased connection (`Routing::pinned`).
    pub(crate) fn pinned(
        &self,
        now: Instant,
        conn: ConnId,
        endpoint: EndpointId,
    ) -> Result<Option<Routed>, PoolError> {
        self.routing.pinned(&self.policies, now, conn, endpoint)
    }

    /// A ready connection for a new lease: the less loaded of two.
    pub(crate) fn choose_for_lease(&self) -> Option<(ConnId, EndpointId)> {
        self.routing.choose_for_lease()
    }

    pub(crate) fn ready_count(&self) -> usize {
        self.routing.len()
    }

    /// Endpoint of each slot, by slot index.
    pub(crate) fn slot_endpoints(&self) -> Vec<EndpointId> {
        self.tracker.slot_endpoints()
    }

    /// Applies a change to one slot's status (`Tracker::update_slot`).
    pub(crate) fn update_slot(&self, slot: usize, change: impl FnOnce(&mut SlotStatus)) {
        self.tracker.update_slot(slot, change);
    }

    pub(crate) fn watch_connectivity(&self) -> watch::Receiver<Connectivity> {
        self.tracker.watch_connectivity()
    }

    /// Adds `count` slots for `endpoint`; returns their indexes.
    pub(crate) fn add_slots(&self, endpoint: EndpointId, count: usize) -> Vec<usize> {
        self.tracker.add_slots(endpoint, count)
    }

    /// Breakers are sized when the pool is built.
    pub(crate) fn has_breakers(&self) -> bool {
        self.policies.breakers.is_some()
    }

    /// Each slot's live connection: its load and capacity.
    pub(crate) fn loads(&self) -> Vec<ConnLoad> {
        self.tracker.loads()
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let now = Instant::now();
        let all = self.endpoints.all();
        let slots = self.tracker.slots.lock().expect("slots lock poisoned");
        let endpoints: Vec<EndpointStats> = all
            .into_iter()
            .enumerate()
            .map(|(index, (endpoint, removed))| {
                let id = EndpointId(index as u32);
                let mine: Vec<SlotStats> = slots
                    .iter()
                    .filter(|s| s.endpoint == id && !s.dormant)
                    .map(|s| s.stats(now))
                    .collect();
                EndpointStats {
                    id,
                    endpoint: Endpoint::clone(&endpoint),
                    removed,
                    state: Connectivity::aggregate(mine.iter().map(|s| s.state)),
                    breaker: self.policies.breakers.as_ref().map(|b| b.state(id)),
                    ejected: self
                        .policies
                        .outliers
                        .as_ref()
                        .map(|o| o.is_ejected(id, now)),
                    health: self.policies.health.as_ref().map(|h| h.state(id)),
                    slots: mine,
                }
            })
            .collect();
        PoolStats {
            state: Connectivity::aggregate(endpoints.iter().map(|e| e.state)),
            endpoints,
            limiter: self.policies.limiter.as_ref().map(|gate| {
                let (in_flight, queued) = gate.occupancy();
                LimiterStats { in_flight, queued }
            }),
            retry: self.policies.retry.as_ref().map(|policy| {
                let (retries, budget_refused) = policy.counts();
                RetryStats {
                    retries,
                    budget_refused,
                }
            }),
            hedging: self.policies.hedging.as_ref().map(|policy| {
                let (hedges, budget_refused) = policy.counts();
                HedgingStats {
                    hedges,
                    budget_refused,
                }
            }),
        }
    }

    /// Sets the shutdown signal and wakes RPCs waiting for a connection.
    pub(crate) fn begin_shutdown(&self) {
        self.lifecycle.begin_shutdown();
        self.ready_changed();
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.lifecycle.is_shutting_down()
    }

    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.lifecycle.shutdown_signal()
    }
}

/// The health checker's handle on the pool: endpoint addresses and probe
/// streams, nothing else.
impl Probes for Shared {
    type Stream = InFlightGuard;

    fn removed(&self, endpoint: EndpointId) -> bool {
        self.endpoints.removed(endpoint).is_set()
    }

    fn probe(&self, endpoint: EndpointId) -> Option<(SendRequest<Body>, InFlightGuard)> {
        self.probe_of(endpoint)
    }

    fn address(&self, endpoint: EndpointId) -> Endpoint {
        Endpoint::clone(&self.endpoints.get(endpoint))
    }
}
