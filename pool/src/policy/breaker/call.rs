//! The breakers as the RPC path uses them: one [`CircuitBreaker`] per
//! endpoint behind a lock, and a [`BreakerCall`] that records its call's
//! outcome exactly once, or as `Ignored` if the call is dropped unfinished
//! (so a cancelled half-open probe frees its slot).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::time::Instant;

use super::{
    BreakerConfig, CallResult, CircuitBreaker, ConfigError, Outcome, Permit, Rejection, Transition,
};
use crate::{endpoint::EndpointId, event::Events};

/// Every endpoint's breaker.
pub(crate) struct Breakers {
    per_endpoint: Vec<Mutex<CircuitBreaker>>,
    events: Events,
}

impl Breakers {
    pub(crate) fn new(
        config: &BreakerConfig,
        endpoints: usize,
        events: Events,
    ) -> Result<Self, ConfigError> {
        let per_endpoint = (0..endpoints)
            .map(|_| CircuitBreaker::new(config.clone()).map(Mutex::new))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            per_endpoint,
            events,
        })
    }

    /// Asks `endpoint`'s breaker to admit one call.
    pub(crate) fn try_acquire(
        self: &Arc<Self>,
        endpoint: EndpointId,
        now: Instant,
    ) -> Result<BreakerCall, Rejection> {
        let admission = self.lock(endpoint).try_acquire(now);
        self.publish(endpoint, admission.transition);
        admission.decision.map(|permit| BreakerCall {
            breakers: Arc::clone(self),
            endpoint,
            permit: Some(permit),
            started: now,
        })
    }

    fn record(
        &self,
        endpoint: EndpointId,
        permit: Permit,
        result: Option<CallResult>,
        started: Instant,
    ) {
        let now = Instant::now();
        let mut breaker = self.lock(endpoint);
        let outcome = match result {
            Some(result) => breaker.config().failure_predicate.classify(result),
            None => Outcome::Ignored,
        };
        let duration: Duration = now.saturating_duration_since(started);
        let transition = breaker.record(now, permit, outcome, duration);
        drop(breaker);
        self.publish(endpoint, transition);
    }

    /// `endpoint`'s breaker state now (without acting on elapsed time).
    pub(crate) fn state(&self, endpoint: EndpointId) -> super::State {
        self.lock(endpoint).state()
    }

    fn lock(&self, endpoint: EndpointId) -> std::sync::MutexGuard<'_, CircuitBreaker> {
        self.per_endpoint[endpoint.0 as usize]
            .lock()
            .expect("breaker lock poisoned")
    }

    fn publish(&self, endpoint: EndpointId, transition: Option<Transition>) {
        if let Some(transition) = transition {
            self.events.breaker_transition(endpoint, transition);
        }
    }
}

/// One admitted call, to be reported back to its endpoint's breaker.
pub(crate) struct BreakerCall {
    breakers: Arc<Breakers>,
    endpoint: EndpointId,
    permit: Option<Permit>,
    started: Instant,
}

impl BreakerCall {
    /// Records how the call ended.
    pub(crate) fn finish(mut self, result: CallResult) {
        if let Some(permit) = self.permit.take() {
            self.breakers
                .record(self.endpoint, permit, Some(result), self.started);
        }
    }
}

impl Drop for BreakerCall {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.breakers
                .record(self.endpoint, permit, None, self.started);
        }
    }
}
