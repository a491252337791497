//! `Pool` and `PoolBuilder`: building a pool, its handles, and shutdown.

use std::{
    panic::Location,
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};
use tonic::{Status, body::Body};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::{
    config::PoolConfig,
    config_error::ConfigError,
    conn::Slot,
    connector::{Configured, Connector},
    endpoint::{Endpoint, EndpointId},
    endpoints::{AddEndpointError, RemoveEndpointError},
    error::BuildError,
    error::PoolError,
    event::{EventSink, Events},
    lease_book::watch_leases,
    policy::Policies,
    policy::breaker::Breakers,
    policy::health::{Health, check_endpoint},
    policy::hedging::HedgingPolicy,
    policy::limit::{LimitGate, Limiter},
    policy::outlier::{Outliers, return_ejected},
    policy::retry::RetryPolicy,
    rpc::{self, PoolBody, ResponseFuture, lease::Lease},
    shared::Shared,
    socket::SocketOptions,
    status::{ConnLoad, Connectivity, PoolStats},
};
use tokio::sync::watch;

/// A pool of HTTP/2 connections over one or more endpoints.
///
/// Cheap to clone: every clone is a handle on the same pool. `Pool` is a
/// `tower::Service<http::Request<tonic::body::Body>>`, so a tonic-generated
/// client takes it directly: `EchoClient::new(pool.clone())`.
///
/// Dropping the last handle starts a shutdown in the background; call
/// [`Pool::shutdown`] to wait for it to finish.
#[derive(Clone)]
pub struct Pool {
    handle: Arc<Handle>,
}

/// Owned by `Pool` handles only (connection tasks hold `Shared`, not this),
/// so its drop means no user can send another RPC.
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.begin_shutdown();
    }
}

impl Pool {
    /// Starts building a pool.
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    /// Every endpoint the pool has had, indexed by [`EndpointId`]; removed
    /// ones stay (`Pool::stats` marks them), so ids stay indexes.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        let all = self.shared().endpoints.all();
        all.into_iter().map(|(e, _)| Endpoint::clone(&e)).collect()
    }

    /// Adds an endpoint at runtime (`http://host:port`) and starts its
    /// `connections_per_endpoint` connection tasks on the current tokio
    /// runtime. Returns its new id.
    pub fn add_endpoint(&self, uri: &str) -> Result<EndpointId, AddEndpointError> {
        let endpoint = Endpoint::parse(uri)?;
        let shared = self.shared();
        if shared.has_breakers() {
            return Err(AddEndpointError::BreakersConfigured);
        }
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| AddEndpointError::NoRuntime)?;
        // Under the tasks lock, so a shutdown that already took the task
        // list cannot miss the new tasks.
        let mut tasks = shared.lifecycle.tasks.lock().expect("tasks lock poisoned");
        if shared.is_shutting_down() {
            return Err(AddEndpointError::Shutdown);
        }
        let id = shared.endpoints.add(endpoint)?;
        // Outlier detection and health checks watch the new endpoint from
        // the start (before its first connection can be picked).
        if let Some(outliers) = &shared.policies.outliers {
            outliers.add_endpoint(id);
        }
        if let Some(health) = &shared.policies.health {
            health.add_endpoint(id);
            tasks.push(runtime.spawn(check_endpoint(
                Arc::clone(shared),
                Arc::clone(health),
                id,
                shared.shutdown_signal(),
                shared.ready_changes(),
            )));
        }
        let min = shared.config.connections_per_endpoint;
        let slots = shared.add_slots(id, shared.slots_per_endpoint());
        for (nth, index) in slots.into_iter().enumerate() {
            let slot = Slot::new(Arc::clone(shared), index, id, nth >= min);
            tasks.push(runtime.spawn(slot.run()));
        }
        Ok(id)
    }

    /// Removes an endpoint at runtime: its connections take no new RPCs,
    /// in-flight ones get `shutdown_grace` to finish (`conn_draining
    /// cause=endpoint_removed`), and its connection tasks end. Returns its id.
    pub fn remove_endpoint(&self, uri: &str) -> Result<EndpointId, RemoveEndpointError> {
        let endpoint = Endpoint::parse(uri)?;
        let shared = self.shared();
        let id = shared.endpoints.remove(&endpoint)?;
        // At once, not when its slot tasks next run: no RPC sent after
        // this returns may go there.
        shared.remove_ready_of(id);
        Ok(id)
    }

    /// The validated configuration the pool runs with.
    pub fn config(&self) -> &PoolConfig {
        &self.shared().config
    }

    /// How many connections take RPCs right now.
    pub fn ready_connections(&self) -> usize {
        self.shared().ready_count()
    }

    /// The pool's connectivity (gRPC semantics, aggregated over endpoints)
    /// and every change to it.
    pub fn connectivity(&self) -> watch::Receiver<Connectivity> {
        self.shared().watch_connectivity()
    }

    /// Pins one ready connection (the less loaded of two) for the caller.
    /// The lease is a `tower::Service` that sends only on that connection
    /// and never fails over. A lease held longer than
    /// `lease_leak_threshold` is reported as a `lease_held` event naming
    /// the caller's file and line.
    #[track_caller]
    pub fn lease(&self) -> Result<Lease, PoolError> {
        let site = Location::caller();
        let shared = self.shared();
        if shared.is_shutting_down() {
            return Err(PoolError::Shutdown);
        }
        let (conn, endpoint) = shared
            .choose_for_lease()
            .ok_or(PoolError::NoReadyConnection)?;
        Ok(Lease::new(Arc::clone(shared), conn, endpoint, site))
    }

    /// Every live connection's in-flight RPCs and stream capacity: a cheap
    /// subset of [`Pool::stats`] that reads no clock (a simulation samples
    /// it between steps, outside any runtime).
    pub fn loads(&self) -> Vec<ConnLoad> {
        self.shared().loads()
    }

    /// A snapshot of every endpoint, slot and connection.
    pub fn stats(&self) -> PoolStats {
        self.shared().stats()
    }

    /// Drains every connection (in-flight RPCs get `shutdown_grace` to
    /// finish), closes them, and waits for every task the pool started,
    /// hyper's included, for at most another `shutdown_grace`. New RPCs fail
    /// with UNAVAILABLE from the moment it is called. Calling it again, or
    /// from several handles, is harmless.
    pub async fn shutdown(&self) -> ShutdownReport {
        let shared = self.shared();
        shared.begin_shutdown();
        let tasks =
            std::mem::take(&mut *shared.lifecycle.tasks.lock().expect("tasks lock poisoned"));
        for task in tasks {
            // A task only fails by panicking, and a panic in a connection
            // task is a bug that tests must see.
            if let Err(e) = task.await
                && e.is_panic()
            {
                std::panic::resume_unwind(e.into_panic());
            }
        }
        // Slot tasks have closed their connections; hyper's socket tasks end
        // once the GOAWAY is written, or when a dead peer's keepalive fires.
        let _ = tokio::time::timeout(
            shared.config.shutdown_grace,
            shared.lifecycle.executor.wait(),
        )
        .await;
        ShutdownReport {
            tasks_left: shared.lifecycle.executor.alive(),
            leases_left: shared.lifecycle.leases.held(),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }
}

impl tower::Service<Request<Body>> for Pool {
    type Response = Response<PoolBody>;
    type Error = Status;
    type Future = ResponseFuture;

    /// Always ready: the pool never applies backpressure through
    /// `poll_ready`. Waiting (for the limiter) and failing fast (no ready
    /// connection, breakers open) both happen in the returned future.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    /// One RPC through the pipeline (`rpc/`).
    fn call(&mut self, request: Request<Body>) -> ResponseFuture {
        rpc::call(Arc::clone(self.shared()), request)
    }
}

/// What `Pool::shutdown` left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a non-zero `tasks_left` is a leak worth reporting"]
pub struct ShutdownReport {
    /// hyper tasks (sockets, streams) still alive after the grace period.
    /// Zero after a clean shutdown.
    pub tasks_left: usize,
    /// Leases still held when the pool shut down: each is a caller that
    /// never dropped its lease.
    pub leases_left: usize,
}

/// Builds a [`Pool`]; see [`Pool::builder`].
#[derive(Default)]
pub struct PoolBuilder {
    endpoints: Vec<String>,
    config: PoolConfig,
    sink: Option<Arc<dyn EventSink>>,
}

impl PoolBuilder {
    /// Adds an endpoint, e.g. `http://server-1:50051`.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoints.push(endpoint.into());
        self
    }

    /// Adds several endpoints.
    pub fn endpoints<S: Into<String>>(mut self, endpoints: impl IntoIterator<Item = S>) -> Self {
        self.endpoints.extend(endpoints.into_iter().map(Into::into));
        self
    }

    /// Replaces the whole configuration.
    pub fn config(mut self, config: PoolConfig) -> Self {
        self.config = config;
        self
    }

    /// Receives every [`PoolEvent`](crate::PoolEvent).
    pub fn on_event(mut self, sink: impl EventSink) -> Self {
        self.sink = Some(Arc::new(sink));
        self
    }

    /// Validates the configuration and endpoints and starts one connection
    /// task per slot. Must be called inside a tokio runtime.
    pub fn build<C: Connector>(self, connector: C) -> Result<Pool, BuildError> {
        self.config.validate()?;
        let socket = SocketOptions::for_keepalive(&self.config.keepalive);
        let endpoints = parse_endpoints(&self.endpoints)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;

        let rng = ChaCha8Rng::seed_from_u64(self.config.rng_seed);
        let events = Events::new(self.sink);
        let policies = policies(&self.config, endpoints.len(), &events)?;
        let shared = Arc::new(Shared::new(
            endpoints,
            self.config,
            Box::new(Configured::new(connector, socket)),
            events,
            rng,
            policies,
        ));
        // Each endpoint's slots are consecutive: its minimum first, then
        // the extra ones scaling may wake.
        let (min, per_endpoint) = (
            shared.config.connections_per_endpoint,
            shared.slots_per_endpoint(),
        );
        let mut tasks: Vec<_> = shared
            .slot_endpoints()
            .into_iter()
            .enumerate()
            .map(|(index, endpoint)| {
                let extra = index % per_endpoint >= min;
                runtime.spawn(Slot::new(Arc::clone(&shared), index, endpoint, extra).run())
            })
            .collect();
        tasks.push(runtime.spawn(watch_leases(
            Arc::clone(&shared.lifecycle.leases),
            shared.config.lease_leak_threshold,
            shared.shutdown_signal(),
            shared.events.clone(),
        )));
        if let Some(outliers) = &shared.policies.outliers {
            tasks.push(runtime.spawn(return_ejected(
                Arc::clone(outliers),
                shared.shutdown_signal(),
                shared.ready_changes(),
            )));
        }
        if let Some(health) = &shared.policies.health {
            for index in 0..shared.endpoints.all().len() {
                let endpoint = EndpointId(index as u32);
                tasks.push(runtime.spawn(check_endpoint(
                    Arc::clone(&shared),
                    Arc::clone(health),
                    endpoint,
                    shared.shutdown_signal(),
                    shared.ready_changes(),
                )));
            }
        }
        if let Some(idle) = &shared.tracker.idle {
            tasks.push(runtime.spawn(Arc::clone(idle).run(shared.shutdown_signal())));
        }
        *shared.lifecycle.tasks.lock().expect("tasks lock poisoned") = tasks;
        Ok(Pool {
            handle: Arc::new(Handle { shared }),
        })
    }
}

/// Builds the configured policies. Their configs were validated already,
/// so a failure here is reported the same way.
fn policies(
    config: &PoolConfig,
    endpoints: usize,
    events: &Events,
) -> Result<Policies, BuildError> {
    let invalid = |section: &str, field: &str, problem: &str| {
        BuildError::Config(ConfigError {
            field: format!("{section}.{field}"),
            problem: problem.to_owned(),
        })
    };
    let limiter = match &config.limiter {
        None => None,
        Some(c) => Some(LimitGate::new(
            Limiter::new(c.clone()).map_err(|e| invalid("limiter", e.field(), e.problem()))?,
            events.clone(),
        )),
    };
    let breakers = match &config.breaker {
        None => None,
        Some(c) => Some(
            Breakers::new(c, endpoints, events.clone())
                .map_err(|e| invalid("breaker", e.field(), e.problem()))?,
        ),
    };
    let retry = config.retry.clone().map(RetryPolicy::new);
    let hedging = config.hedging.clone().map(HedgingPolicy::new);
    let outliers = config
        .outlier
        .clone()
        .map(|c| Outliers::new(c, endpoints, events.clone()));
    let health = config
        .health_check
        .clone()
        .map(|c| Health::new(c, endpoints, events.clone()));
    Ok(Policies {
        limiter: limiter.map(Arc::new),
        breakers: breakers.map(Arc::new),
        retry,
        hedging,
        outliers: outliers.map(Arc::new),
        health: health.map(Arc::new),
    })
}

fn parse_endpoints(texts: &[String]) -> Result<Vec<Endpoint>, BuildError> {
    if texts.is_empty() {
        return Err(BuildError::NoEndpoints);
    }
    let mut endpoints: Vec<Endpoint> = Vec::with_capacity(texts.len());
    for (index, text) in texts.iter().enumerate() {
        let endpoint =
            Endpoint::parse(text).map_err(|source| BuildError::Endpoint { index, source })?;
        if endpoints.contains(&endpoint) {
            return Err(BuildError::DuplicateEndpoint(endpoint.to_string()));
        }
        endpoints.push(endpoint);
    }
    Ok(endpoints)
}
