//! [`Routing`]: the pool's ready set behind its lock, the one RNG every
//! random choice draws from, and the scaling of extra connections; the
//! adaptors that turn `route/`'s pure picks into a [`Routed`] for the RPC
//! path, given the policies that take endpoints out of rotation and admit
//! calls.
//!
//! Locks are `std::sync::Mutex` held for a few instructions and never
//! across an `.await`.

use std::sync::{Arc, Mutex};

use hyper::client::conn::http2::SendRequest;
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;
use tonic::body::Body;

use crate::{
    endpoint::EndpointId,
    endpoints::EndpointSet,
    error::PoolError,
    ids::{ConnId, RoutedTo},
    inflight::InFlightGuard,
    policy::{Policies, breaker::BreakerCall, outlier::OutlierCall},
    route::{self, Picked, ReadySet, RouteError, Saturated, Scaling},
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

/// The connections RPCs are routed over and what routing draws on.
pub(crate) struct Routing {
    /// Sorted by `ConnId`, so picking by index is deterministic.
    ready: Mutex<ReadySet<Link>>,
    /// The pool's one RNG: every random choice (picks, backoff jitter,
    /// retry backoff) draws from it, so one seed determines them all.
    rng: Mutex<ChaCha8Rng>,
    /// Extra connections, woken when every ready one is full.
    pub(crate) scaling: Scaling,
}

impl Routing {
    pub(crate) fn new(rng: ChaCha8Rng) -> Self {
        Self {
            ready: Mutex::new(ReadySet::default()),
            rng: Mutex::new(rng),
            scaling: Scaling::default(),
        }
    }

    /// Runs `f` with the pool's RNG. Every random choice goes through here so
    /// that one seed determines them all.
    pub(crate) fn with_rng<T>(&self, f: impl FnOnce(&mut ChaCha8Rng) -> T) -> T {
        f(&mut self.rng.lock().expect("rng lock poisoned"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReadySet<Link>> {
        self.ready.lock().expect("ready lock poisoned")
    }

    pub(crate) fn insert(&self, entry: ReadyConn) {
        self.lock().insert(entry);
    }

    /// Removes every connection of `endpoint` from the ready set.
    pub(crate) fn remove_endpoint(&self, endpoint: EndpointId) {
        self.lock().remove_endpoint(endpoint);
    }

    /// Removes `conn` from the ready set; returns whether it was there.
    pub(crate) fn remove(&self, conn: ConnId) -> bool {
        self.lock().remove(conn)
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// A stream for a health check of `endpoint` (`ReadySet::probe_of`: no
    /// RNG draw, so checks change no RPC's pick).
    pub(crate) fn probe_of(
        &self,
        endpoint: EndpointId,
    ) -> Option<(SendRequest<Body>, InFlightGuard)> {
        let ready = self.lock();
        ready
            .probe_of(endpoint)
            .map(|(link, stream)| (link.send, stream))
    }

    /// Chooses a ready connection for one RPC and counts the RPC on it
    /// (`ReadySet::pick`): not in `avoid`, its endpoint in rotation at
    /// `now` and admitted by its breaker. Every count is taken under the
    /// ready lock, so no connection's capacity is overshot.
    pub(crate) fn pick(
        &self,
        policies: &Policies,
        now: Instant,
        avoid: &[ConnId],
    ) -> Result<Routed, RouteError> {
        let out = out_of_rotation(policies, now);
        let ready = self.lock();
        let picked =
            self.with_rng(|rng| ready.pick(avoid, out, rng, |e| admit(policies, e, now)))?;
        Ok(routed(policies, picked))
    }

    /// Chooses a connection for a retry of an RPC that already went to
    /// `tried`: preferably on another endpoint, else on another connection,
    /// else any ready connection (`ReadySet::pick_elsewhere`).
    pub(crate) fn pick_elsewhere(
        &self,
        policies: &Policies,
        now: Instant,
        tried: &[RoutedTo],
    ) -> Result<Routed, RouteError> {
        let out = out_of_rotation(policies, now);
        let ready = self.lock();
        let picked = self
            .with_rng(|rng| ready.pick_elsewhere(tried, out, rng, |e| admit(policies, e, now)))?;
        Ok(routed(policies, picked))
    }

    /// Chooses a connection for a hedge of an RPC whose copies went to
    /// `tried`: on another endpoint only (`ReadySet::pick_other_endpoint`).
    pub(crate) fn pick_other_endpoint(
        &self,
        policies: &Policies,
        now: Instant,
        tried: &[RoutedTo],
    ) -> Result<Routed, RouteError> {
        let out = out_of_rotation(policies, now);
        let ready = self.lock();
        let picked = self.with_rng(|rng| {
            ready.pick_other_endpoint(tried, out, rng, |e| admit(policies, e, now))
        })?;
        Ok(routed(policies, picked))
    }

    /// Whether every ready connection an RPC may use (not in `avoid`, in
    /// rotation at `now`) is full, and for how long (`ReadySet::saturated`).
    pub(crate) fn saturated(
        &self,
        policies: &Policies,
        now: Instant,
        avoid: &[ConnId],
    ) -> Option<Saturated> {
        let out = out_of_rotation(policies, now);
        let ready = self.lock();
        ready.saturated(avoid, &out)
    }

    /// Every ready connection is full: asks for one more connection, to an
    /// endpoint that is live and in rotation at `now` (`Scaling::grow`).
    /// Returns whether one is on its way.
    pub(crate) fn grow(&self, policies: &Policies, endpoints: &EndpointSet, now: Instant) -> bool {
        let live = endpoints.all();
        let out = out_of_rotation(policies, now);
        self.scaling.grow(&out, |id| {
            live.get(id.0 as usize).is_some_and(|(_, removed)| !removed)
        })
    }

    /// Endpoints that take no new RPCs at `now` (`out_of_rotation`).
    pub(crate) fn out_of_rotation(&self, policies: &Policies, now: Instant) -> Vec<EndpointId> {
        out_of_rotation(policies, now)
    }

    /// Routes one RPC to the leased connection `conn` of `endpoint`, if it
    /// is still ready and the endpoint's breaker admits the call.
    /// `Ok(None)`: the connection is at its capacity, and the RPC may wait
    /// for room.
    pub(crate) fn pinned(
        &self,
        policies: &Policies,
        now: Instant,
        conn: ConnId,
        endpoint: EndpointId,
    ) -> Result<Option<Routed>, PoolError> {
        let ready = self.lock();
        let picked = ready.pinned(conn, endpoint, |e| admit(policies, e, now))?;
        Ok(picked.map(|picked| routed(policies, picked)))
    }

    /// A ready connection for a new lease: the less loaded of two.
    pub(crate) fn choose_for_lease(&self) -> Option<(ConnId, EndpointId)> {
        let ready = self.lock();
        self.with_rng(|rng| ready.choose_for_lease(rng))
    }
}

/// Endpoints that take no new RPCs at `now`: ejected as outliers or
/// failing their health checks. Empty (and no allocation) when both are
/// off.
fn out_of_rotation(policies: &Policies, now: Instant) -> Vec<EndpointId> {
    let mut out = Vec::new();
    if let Some(outliers) = &policies.outliers {
        outliers.ejected(now, &mut out);
    }
    if let Some(health) = &policies.health {
        health.unhealthy(&mut out);
    }
    out
}

/// Whether `endpoint`'s breaker admits a call at `now`: `Some(None)` when
/// the pool has no breakers, `None` when it refuses.
fn admit(policies: &Policies, endpoint: EndpointId, now: Instant) -> Option<Option<BreakerCall>> {
    match &policies.breakers {
        None => Some(None),
        Some(breakers) => breakers.try_acquire(endpoint, now).ok().map(Some),
    }
}

/// What the RPC path gets for a connection the core chose.
fn routed(policies: &Policies, picked: Picked<Link, Option<BreakerCall>>) -> Routed {
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
        outlier: policies.outliers.as_ref().map(|o| o.call(endpoint)),
        peer,
    }
}
