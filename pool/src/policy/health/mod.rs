//! Active health checks: every endpoint is asked
//! `grpc.health.v1.Health/Check` every `interval` on one of its ready
//! connections, and an endpoint that fails `unhealthy_threshold` checks in
//! a row takes no new RPCs until it passes `healthy_threshold` in a row.
//!
//! `tracker.rs` is the per-endpoint state machine, `check.rs` one check;
//! here are the pool's handle on the states (`Health`) and the task that
//! checks one endpoint on a fixed schedule. The task reaches the pool only
//! through `Probes` (an endpoint's address, a stream on one of its ready
//! connections), the shutdown signal and `ReadyChanges`.

mod check;
mod config;
mod tracker;

use std::sync::{Arc, Mutex, MutexGuard};

use hyper::client::conn::http2::SendRequest;
use tokio::{
    sync::watch,
    time::{Instant, sleep_until},
};
use tonic::body::Body;

pub use check::CheckResult;
pub use config::HealthCheckConfig;
pub use tracker::HealthState;

use crate::{
    endpoint::{Endpoint, EndpointId},
    event::{EventKind, Events, PoolEvent},
    wait::{self, ReadyChanges},
};
use tracker::Tracker;

/// What a health check needs of the pool, and nothing more.
pub(crate) trait Probes: Send + Sync + 'static {
    /// Held while a check runs: the check's share of the connection's
    /// capacity, counted like an RPC's stream.
    type Stream: Send;

    /// Whether `endpoint` was removed from the pool (its id is never
    /// reused).
    fn removed(&self, endpoint: EndpointId) -> bool;

    /// A stream on one of `endpoint`'s ready connections with room, if it
    /// has one. Must draw nothing from the pool's RNG, so that checks
    /// change no RPC's pick.
    fn probe(&self, endpoint: EndpointId) -> Option<(SendRequest<Body>, Self::Stream)>;

    /// Where `endpoint` is, for the check's request URI.
    fn address(&self, endpoint: EndpointId) -> Endpoint;
}

/// Every endpoint's health, by endpoint index.
pub(crate) struct Health {
    config: HealthCheckConfig,
    trackers: Mutex<Vec<Tracker>>,
    events: Events,
}

impl Health {
    pub(crate) fn new(config: HealthCheckConfig, endpoints: usize, events: Events) -> Self {
        debug_assert!(config.validate().is_ok());
        Self {
            config,
            trackers: Mutex::new(vec![Tracker::default(); endpoints]),
            events,
        }
    }

    /// Unhealthy endpoints not yet in `out`, appended to it.
    pub(crate) fn unhealthy(&self, out: &mut Vec<EndpointId>) {
        let trackers = self.lock();
        for (index, tracker) in trackers.iter().enumerate() {
            let id = EndpointId(index as u32);
            if tracker.state() == HealthState::Unhealthy && !out.contains(&id) {
                out.push(id);
            }
        }
    }

    /// An endpoint added at runtime starts healthy, like the first ones.
    pub(crate) fn add_endpoint(&self, endpoint: EndpointId) {
        let mut trackers = self.lock();
        let len = trackers.len().max(endpoint.0 as usize + 1);
        trackers.resize_with(len, Tracker::default);
    }

    pub(crate) fn state(&self, endpoint: EndpointId) -> HealthState {
        // An endpoint being added may be seen before its tracker exists.
        self.lock()
            .get(endpoint.0 as usize)
            .map_or(HealthState::Healthy, Tracker::state)
    }

    /// Records one check's result; returns whether the state changed.
    fn record(&self, endpoint: EndpointId, result: CheckResult) -> bool {
        let change = self.lock()[endpoint.0 as usize].record(
            result.passed(),
            self.config.unhealthy_threshold,
            self.config.healthy_threshold,
        );
        if let Some((to, checks)) = change {
            self.events.emit(PoolEvent {
                at: Instant::now(),
                kind: EventKind::Health {
                    endpoint,
                    to,
                    checks,
                    last: result,
                },
            });
        }
        change.is_some()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Tracker>> {
        self.trackers.lock().expect("health lock poisoned")
    }
}

/// Checks `endpoint` every `interval` from the pool's start, until the
/// pool shuts down. A tick with no ready connection to the endpoint checks
/// nothing and records nothing: whether the endpoint can be reached is the
/// connections' business, not the health service's. A check takes a stream
/// like an RPC, within a connection's capacity; a tick that finds every
/// connection to the endpoint full skips its check too (the endpoint is
/// busy answering RPCs, which the outlier detector judges).
pub(crate) async fn check_endpoint<P: Probes>(
    pool: Arc<P>,
    health: Arc<Health>,
    endpoint: EndpointId,
    mut shutdown: watch::Receiver<bool>,
    ready_changes: ReadyChanges,
) {
    let interval = health.config.interval;
    let mut next = Instant::now() + interval;
    loop {
        tokio::select! {
            biased;
            () = wait::for_shutdown(&mut shutdown) => return,
            () = sleep_until(next) => {}
        }
        next += interval;
        // A removed endpoint is checked no more (its id is never reused).
        if pool.removed(endpoint) {
            return;
        }
        let Some((sender, stream)) = pool.probe(endpoint) else {
            continue;
        };
        let address = pool.address(endpoint);
        let result = tokio::select! {
            biased;
            () = wait::for_shutdown(&mut shutdown) => return,
            result = check::check(sender, address, health.config.service.clone(), health.config.timeout) => result,
        };
        drop(stream);
        if health.record(endpoint, result) {
            // Wait-for-ready calls that found every endpoint unhealthy
            // look again.
            ready_changes.bump();
        }
    }
}
