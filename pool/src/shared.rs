//! State shared by every `Pool` handle and every connection task: the ready
//! set RPCs are routed over, the RNG, the shutdown signal.
//!
//! The routing rules themselves are `route/`'s pure core; the methods here
//! are its adaptors: they take the lock, the RNG, the endpoints out of
//! rotation and the breakers' admission, and turn what the core chose into
//! a [`Routed`] for the RPC path.
//!
//! Locks are `std::sync::Mutex` held for a few instructions and never across
//! an `.await`.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, Ordering},
};

use hyper::client::conn::http2::SendRequest;
use rand_chacha::ChaCha8Rng;
use tokio::{sync::watch, task::JoinHandle, time::Instant};
use tonic::body::Body;

use crate::{
    config::PoolConfig,
    conn::Replacements,
    connector::DynConnector,
    endpoint::{Endpoint, EndpointId},
    endpoints::EndpointSet,
    error::PoolError,
    event::Events,
    executor::TrackedExecutor,
    idle::{Activity, Idleness},
    ids::{ConnId, RoutedTo},
    inflight::{Hooks, InFlight, InFlightGuard},
    lease::Leases,
    policy::breaker::{BreakerCall, Breakers},
    policy::health::{Health, Probes},
    policy::limit::LimitGate,
    policy::outlier::{OutlierCall, Outliers},
    policy::retry::RetryPolicy,
    route::{self, Picked, ReadySet, RouteError, Saturated, Scaling},
    status::{
        ConnLoad, Connectivity, EndpointStats, LimiterStats, PoolStats, RetryStats, SlotStats,
        SlotStatus,
    },
    wait::ReadyChanges,
    wire::FirstBytes,
};

/// What an RPC sends with on one ready connection: the routing core's
/// sender type in the pool.
#[derive(Clone)]
pub(crate) struct Link {
    pub(crate) send: SendRequest<Body>,
    /// The peer's first bytes, to tell a non-HTTP/2 peer from a failure.
    pub(crate) peer: Arc<FirstBytes>,
}

/// A connection RPCs may be routed to (see `route::ReadySet`).
pub(crate) type ReadyConn = route::ReadyConn<Link>;

/// What `pick` hands the RPC path.
pub(crate) struct Routed {
    pub(crate) conn: ConnId,
    pub(crate) endpoint: EndpointId,
    pub(crate) sender: SendRequest<Body>,
    pub(crate) guard: InFlightGuard,
    /// The breaker's admission, when breakers are on.
    pub(crate) breaker: Option<BreakerCall>,
    /// The outlier detector's record, when outlier detection is on.
    pub(crate) outlier: Option<OutlierCall>,
    /// The peer's first bytes, to tell a non-HTTP/2 peer from a failure.
    pub(crate) peer: Arc<FirstBytes>,
}

/// The optional admission layers, built from the config.
#[derive(Default)]
pub(crate) struct Admission {
    pub(crate) limiter: Option<LimitGate>,
    pub(crate) breakers: Option<Breakers>,
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) outliers: Option<Outliers>,
    pub(crate) health: Option<Health>,
}

pub(crate) struct Shared {
    pub(crate) endpoints: EndpointSet,
    pub(crate) config: PoolConfig,
    pub(crate) connector: Box<dyn DynConnector>,
    pub(crate) events: Events,
    /// Admission control for the whole pool, when configured.
    pub(crate) limiter: Option<Arc<LimitGate>>,
    /// One breaker per endpoint, when configured.
    breakers: Option<Arc<Breakers>>,
    /// The retry policy for idempotent calls, when configured.
    pub(crate) retry: Option<RetryPolicy>,
    /// Passive outlier ejection, when configured.
    pub(crate) outliers: Option<Arc<Outliers>>,
    /// Active health checks' verdicts, when configured.
    pub(crate) health: Option<Arc<Health>>,
    /// Outstanding leases, watched for leaks.
    pub(crate) leases: Leases,
    /// Runs hyper's connection and stream tasks; shutdown waits for them.
    pub(crate) executor: TrackedExecutor,
    /// Sorted by `ConnId`, so picking by index is deterministic.
    ready: Mutex<ReadySet<Link>>,
    rng: Mutex<ChaCha8Rng>,
    next_conn: AtomicU64,
    shutdown: watch::Sender<bool>,
    /// One task per connection slot; taken (once) by `shutdown`.
    pub(crate) tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Each slot's connectivity and connection, by slot index.
    slots: Mutex<Vec<SlotStatus>>,
    /// The pool-wide connectivity, recomputed on every slot change.
    connectivity: watch::Sender<Connectivity>,
    /// The idle cycle, when `idle_timeout` is set.
    pub(crate) idle: Option<Arc<Idleness>>,
    /// Bumped whenever an RPC waiting for a connection should look again:
    /// a connection became ready, a waking pool settled, shutdown began,
    /// a full connection has room again.
    ready_changes: ReadyChanges,
    /// Extra connections, woken when every ready one is full.
    pub(crate) scaling: Scaling,
    /// Connections sent away (GOAWAY) whose replacement is on its way.
    /// While there are any, the pool is CONNECTING rather than failing,
    /// and a fail-fast RPC that finds no ready connection waits for them.
    pub(crate) replacements: Arc<Replacements>,
}

impl Shared {
    pub(crate) fn new(
        endpoints: Vec<Endpoint>,
        config: PoolConfig,
        connector: Box<dyn DynConnector>,
        events: Events,
        rng: ChaCha8Rng,
        admission: Admission,
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
        let ready_changes = ReadyChanges::default();
        Self {
            idle: config.idle_timeout.map(|t| Arc::new(Idleness::new(t))),
            ready_changes: ready_changes.clone(),
            replacements: Arc::new(Replacements::new(ready_changes)),
            scaling: Scaling::default(),
            slots: Mutex::new(slots),
            connectivity: watch::Sender::new(Connectivity::Idle),
            endpoints: EndpointSet::new(endpoints),
            config,
            connector,
            events,
            limiter: admission.limiter.map(Arc::new),
            breakers: admission.breakers.map(Arc::new),
            retry: admission.retry,
            outliers: admission.outliers.map(Arc::new),
            health: admission.health.map(Arc::new),
            leases: Leases::default(),
            executor: TrackedExecutor::default(),
            ready: Mutex::new(ReadySet::default()),
            rng: Mutex::new(rng),
            next_conn: AtomicU64::new(1),
            shutdown: watch::Sender::new(false),
            tasks: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn next_conn_id(&self) -> ConnId {
        ConnId(self.next_conn.fetch_add(1, Ordering::Relaxed))
    }

    /// Runs `f` with the pool's RNG. Every random choice goes through here so
    /// that one seed determines them all.
    pub(crate) fn with_rng<T>(&self, f: impl FnOnce(&mut ChaCha8Rng) -> T) -> T {
        f(&mut self.rng.lock().expect("rng lock poisoned"))
    }

    pub(crate) fn insert_ready(&self, entry: ReadyConn) {
        self.ready
            .lock()
            .expect("ready lock poisoned")
            .insert(entry);
        if let Some(idle) = &self.idle {
            idle.settle();
        }
        self.ready_changed();
    }

    /// A new connection's in-flight count, feeding the pool-wide activity
    /// when the pool has an idle timeout.
    /// An `extra` connection (dialled to scale up) also tracks its own
    /// activity, to scale down when it has been quiet.
    pub(crate) fn new_in_flight(&self, extra: bool) -> Arc<InFlight> {
        Arc::new(InFlight::new(Hooks {
            pool: self.idle.as_ref().map(|idle| Arc::clone(&idle.activity)),
            conn: extra.then(|| Arc::new(Activity::new(Instant::now()))),
            cap: self.config.max_streams_per_connection,
            recycle_after: Some(self.config.recycle_after_streams),
            freed: Some(self.ready_changes.clone()),
        }))
    }

    /// A dial failed: a waking pool is now failing, so RPCs that waited
    /// only because it was waking must look again (and fail fast).
    pub(crate) fn connect_failed(&self) {
        if self.idle.as_ref().is_some_and(|idle| idle.settle()) {
            self.ready_changed();
        }
    }

    /// Wakes RPCs waiting for a connection (sending on a `watch` draws
    /// nothing from tokio's RNG; only waiting does).
    pub(crate) fn ready_changed(&self) {
        self.ready_changes.bump();
    }

    /// The signal that wakes RPCs waiting for a connection, for a task
    /// that should wake them.
    pub(crate) fn ready_changes(&self) -> ReadyChanges {
        self.ready_changes.clone()
    }

    /// Changes RPCs waiting for a connection watch (see `ready_changes`).
    pub(crate) fn watch_ready_changes(&self) -> watch::Receiver<u64> {
        self.ready_changes.subscribe()
    }

    /// Removes every connection of `endpoint` from the ready set (it was
    /// removed; its slots drain those connections next).
    pub(crate) fn remove_ready_of(&self, endpoint: EndpointId) {
        let mut ready = self.ready.lock().expect("ready lock poisoned");
        ready.remove_endpoint(endpoint);
    }

    /// Removes `conn` from the ready set; returns whether it was there.
    pub(crate) fn remove_ready(&self, conn: ConnId) -> bool {
        let mut ready = self.ready.lock().expect("ready lock poisoned");
        ready.remove(conn)
    }

    /// Endpoints that take no new RPCs at `now`: ejected as outliers or
    /// failing their health checks. Empty (and no allocation) when both
    /// are off.
    fn out_of_rotation(&self, now: Instant) -> Vec<EndpointId> {
        let mut out = Vec::new();
        if let Some(outliers) = &self.outliers {
            outliers.ejected(now, &mut out);
        }
        if let Some(health) = &self.health {
            health.unhealthy(&mut out);
        }
        out
    }

    /// A stream for a health check of `endpoint` (`ReadySet::probe_of`: no
    /// RNG draw, so checks change no RPC's pick).
    pub(crate) fn probe_of(
        &self,
        endpoint: EndpointId,
    ) -> Option<(SendRequest<Body>, InFlightGuard)> {
        let ready = self.ready.lock().expect("ready lock poisoned");
        ready
            .probe_of(endpoint)
            .map(|(link, stream)| (link.send, stream))
    }

    /// Whether `endpoint`'s breaker admits a call at `now`: `Some(None)`
    /// when the pool has no breakers, `None` when it refuses.
    fn admit(&self, endpoint: EndpointId, now: Instant) -> Option<Option<BreakerCall>> {
        match &self.breakers {
            None => Some(None),
            Some(breakers) => breakers.try_acquire(endpoint, now).ok().map(Some),
        }
    }

    /// What the RPC path gets for a connection the core chose.
    fn routed(&self, picked: Picked<Link, Option<BreakerCall>>) -> Routed {
        let Picked {
            conn,
            endpoint,
            sender: Link { send, peer },
            guard,
            admission: breaker,
        } = picked;
        Routed {
            conn,
            endpoint,
            sender: send,
            guard,
            breaker,
            outlier: self.outliers.as_ref().map(|o| o.call(endpoint)),
            peer,
        }
    }

    /// Chooses a ready connection for one RPC and counts the RPC on it
    /// (`ReadySet::pick`): not in `avoid`, its endpoint in rotation at
    /// `now` and admitted by its breaker. Every count is taken under the
    /// ready lock, so no connection's capacity is overshot.
    pub(crate) fn pick(&self, now: Instant, avoid: &[ConnId]) -> Result<Routed, RouteError> {
        let out = self.out_of_rotation(now);
        let ready = self.ready.lock().expect("ready lock poisoned");
        let picked = self.with_rng(|rng| ready.pick(avoid, out, rng, |e| self.admit(e, now)))?;
        Ok(self.routed(picked))
    }

    /// Chooses a connection for a retry of an RPC that already went to
    /// `tried`: preferably on another endpoint, else on another connection,
    /// else any ready connection (`ReadySet::pick_elsewhere`).
    pub(crate) fn pick_elsewhere(
        &self,
        now: Instant,
        tried: &[RoutedTo],
    ) -> Result<Routed, RouteError> {
        let out = self.out_of_rotation(now);
        let ready = self.ready.lock().expect("ready lock poisoned");
        let picked =
            self.with_rng(|rng| ready.pick_elsewhere(tried, out, rng, |e| self.admit(e, now)))?;
        Ok(self.routed(picked))
    }

    /// Whether every ready connection an RPC may use (not in `avoid`, in
    /// rotation at `now`) is full, and for how long (`ReadySet::saturated`).
    pub(crate) fn saturated(&self, now: Instant, avoid: &[ConnId]) -> Option<Saturated> {
        let out = self.out_of_rotation(now);
        let ready = self.ready.lock().expect("ready lock poisoned");
        ready.saturated(avoid, &out)
    }

    /// Every ready connection is full: asks for one more connection, to an
    /// endpoint that is live and in rotation at `now` (`Scaling::grow`).
    /// Returns whether one is on its way.
    pub(crate) fn grow(&self, now: Instant) -> bool {
        let live = self.endpoints.all();
        let out = self.out_of_rotation(now);
        self.scaling.grow(&out, |id| {
            live.get(id.0 as usize).is_some_and(|(_, removed)| !removed)
        })
    }

    /// Slots per endpoint: the minimum, then the extra ones scaling may wake.
    pub(crate) fn slots_per_endpoint(&self) -> usize {
        self.config
            .max_connections_per_endpoint
            .unwrap_or(self.config.connections_per_endpoint)
    }

    /// Routes one RPC to the leased connection `conn` of `endpoint`, if it
    /// is still ready and the endpoint's breaker admits the call.
    /// `Ok(None)`: the connection is at its capacity, and the RPC may wait
    /// for room.
    pub(crate) fn pinned(
        &self,
        now: Instant,
        conn: ConnId,
        endpoint: EndpointId,
    ) -> Result<Option<Routed>, PoolError> {
        let ready = self.ready.lock().expect("ready lock poisoned");
        let picked = ready.pinned(conn, endpoint, |e| self.admit(e, now))?;
        Ok(picked.map(|picked| self.routed(picked)))
    }

    /// A ready connection for a new lease: the less loaded of two.
    pub(crate) fn choose_for_lease(&self) -> Option<(ConnId, EndpointId)> {
        let ready = self.ready.lock().expect("ready lock poisoned");
        self.with_rng(|rng| ready.choose_for_lease(rng))
    }

    pub(crate) fn ready_count(&self) -> usize {
        self.ready.lock().expect("ready lock poisoned").len()
    }

    /// Endpoint of each slot, by slot index.
    pub(crate) fn slot_endpoints(&self) -> Vec<EndpointId> {
        let slots = self.slots.lock().expect("slots lock poisoned");
        slots.iter().map(|s| s.endpoint).collect()
    }

    /// Applies a change to one slot's status and republishes the pool's
    /// connectivity if it changed.
    pub(crate) fn update_slot(&self, slot: usize, change: impl FnOnce(&mut SlotStatus)) {
        let mut slots = self.slots.lock().expect("slots lock poisoned");
        change(&mut slots[slot]);
        let state = Connectivity::aggregate(slots.iter().filter(|s| !s.dormant).map(|s| s.state));
        self.connectivity.send_if_modified(|current| {
            let changed = *current != state;
            *current = state;
            changed
        });
    }

    pub(crate) fn watch_connectivity(&self) -> watch::Receiver<Connectivity> {
        self.connectivity.subscribe()
    }

    /// Adds `count` slots for `endpoint`; returns their indexes.
    pub(crate) fn add_slots(&self, endpoint: EndpointId, count: usize) -> Vec<usize> {
        let mut slots = self.slots.lock().expect("slots lock poisoned");
        let first = slots.len();
        slots.extend((0..count).map(|_| SlotStatus::new(endpoint)));
        (first..first + count).collect()
    }

    /// Breakers are sized when the pool is built.
    pub(crate) fn has_breakers(&self) -> bool {
        self.breakers.is_some()
    }

    /// Each slot's live connection, by slot index: its load and capacity.
    pub(crate) fn loads(&self) -> Vec<ConnLoad> {
        let slots = self.slots.lock().expect("slots lock poisoned");
        slots
            .iter()
            .filter_map(|s| s.conn.as_ref())
            .map(|c| ConnLoad {
                conn: c.id,
                in_flight: c.in_flight.load(),
                capacity: c.in_flight.capacity_limit(),
                settled: c.in_flight.peer_settled(),
            })
            .collect()
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let now = Instant::now();
        let all = self.endpoints.all();
        let slots = self.slots.lock().expect("slots lock poisoned");
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
                    breaker: self.breakers.as_ref().map(|b| b.state(id)),
                    ejected: self.outliers.as_ref().map(|o| o.is_ejected(id, now)),
                    health: self.health.as_ref().map(|h| h.state(id)),
                    slots: mine,
                }
            })
            .collect();
        PoolStats {
            state: Connectivity::aggregate(endpoints.iter().map(|e| e.state)),
            endpoints,
            limiter: self.limiter.as_ref().map(|gate| {
                let (in_flight, queued) = gate.occupancy();
                LimiterStats { in_flight, queued }
            }),
            retry: self.retry.as_ref().map(|policy| {
                let (retries, budget_refused) = policy.counts();
                RetryStats {
                    retries,
                    budget_refused,
                }
            }),
        }
    }

    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
        self.ready_changed();
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
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
