//! The pool's endpoint set, which can change at runtime.
//!
//! Ids are indexes into an append-only list, so an [`EndpointId`] names the
//! same endpoint for the pool's whole life: a removed endpoint keeps its id
//! (and its row in `Pool::stats`, as removed), and adding it again gives it
//! a new id. Removing an endpoint only flips its `removed` signal; its slot
//! tasks see it, drain their connections and end.
//!
//! Each entry also keeps what the endpoint's server has told the pool
//! about keepalive: after GOAWAY "too_many_pings" its next connections
//! PING half as often (`throttle_keepalive`).

use std::{
    pin::pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::sync::Notify;

use crate::endpoint::{Endpoint, EndpointError, EndpointId};

struct Entry {
    endpoint: Arc<Endpoint>,
    removed: Arc<Removed>,
    /// How many times the server said "too_many_pings": the keepalive
    /// interval is doubled that many times.
    keepalive_doublings: u32,
}

/// Set once, when an endpoint is removed; its slots wait on it.
///
/// A `Notify` and a flag rather than a `watch`: each wait on a tokio
/// `watch` draws from the runtime's seeded RNG, and extra draws would
/// reorder every simulated trace, even of pools that never remove an
/// endpoint.
#[derive(Debug, Default)]
pub(crate) struct Removed {
    set: AtomicBool,
    notify: Notify,
}

impl Removed {
    pub(crate) fn is_set(&self) -> bool {
        self.set.load(Ordering::Acquire)
    }

    fn set(&self) {
        self.set.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    /// Resolves once the endpoint is removed.
    pub(crate) async fn wait(&self) {
        loop {
            let mut notified = pin!(self.notify.notified());
            // Registered before checking, so a removal in between is seen.
            notified.as_mut().enable();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }
}

pub(crate) struct EndpointSet {
    entries: Mutex<Vec<Entry>>,
}

/// Why `Pool::add_endpoint` refused an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddEndpointError {
    #[error(transparent)]
    Invalid(#[from] EndpointError),
    /// The endpoint is already in the pool (and not removed).
    #[error("endpoint `{0}` is already in the pool")]
    Duplicate(String),
    /// Circuit breakers are sized for the endpoints the pool was built
    /// with; a pool with breakers cannot take new endpoints.
    #[error("endpoints cannot be added to a pool with circuit breakers")]
    BreakersConfigured,
    /// The pool is shut down.
    #[error("pool is shut down")]
    Shutdown,
    /// `add_endpoint` must be called inside a tokio runtime, which runs the
    /// endpoint's connection tasks.
    #[error("Pool::add_endpoint must be called inside a tokio runtime")]
    NoRuntime,
}

/// Why `Pool::remove_endpoint` refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoveEndpointError {
    #[error(transparent)]
    Invalid(#[from] EndpointError),
    /// No endpoint in the pool (that is not already removed) has this URI.
    #[error("endpoint `{0}` is not in the pool")]
    NotFound(String),
}

impl EndpointSet {
    pub(crate) fn new(endpoints: Vec<Endpoint>) -> Self {
        let entries = endpoints.into_iter().map(Entry::new).collect();
        Self {
            entries: Mutex::new(entries),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        self.entries.lock().expect("endpoints lock poisoned")
    }

    pub(crate) fn get(&self, id: EndpointId) -> Arc<Endpoint> {
        Arc::clone(&self.lock()[id.0 as usize].endpoint)
    }

    /// Every endpoint ever added, by id, with whether it was removed.
    pub(crate) fn all(&self) -> Vec<(Arc<Endpoint>, bool)> {
        self.lock()
            .iter()
            .map(|e| (Arc::clone(&e.endpoint), e.removed.is_set()))
            .collect()
    }

    /// Appends `endpoint` unless a live endpoint has the same URI.
    pub(crate) fn add(&self, endpoint: Endpoint) -> Result<EndpointId, AddEndpointError> {
        let mut entries = self.lock();
        if entries
            .iter()
            .any(|e| !e.removed.is_set() && *e.endpoint == endpoint)
        {
            return Err(AddEndpointError::Duplicate(endpoint.to_string()));
        }
        entries.push(Entry::new(endpoint));
        Ok(EndpointId((entries.len() - 1) as u32))
    }

    /// Marks the live endpoint with this URI removed.
    pub(crate) fn remove(&self, endpoint: &Endpoint) -> Result<EndpointId, RemoveEndpointError> {
        let entries = self.lock();
        let at = entries
            .iter()
            .position(|e| !e.removed.is_set() && *e.endpoint == *endpoint)
            .ok_or_else(|| RemoveEndpointError::NotFound(endpoint.to_string()))?;
        entries[at].removed.set();
        Ok(EndpointId(at as u32))
    }

    /// The keepalive interval for `id`'s next connection: `configured`,
    /// doubled once per "too_many_pings" its server sent.
    pub(crate) fn keepalive_interval(&self, id: EndpointId, configured: Duration) -> Duration {
        let doublings = self.lock()[id.0 as usize].keepalive_doublings;
        doubled(configured, doublings)
    }

    /// `id`'s server sent GOAWAY "too_many_pings" to a connection dialled
    /// with keepalive interval `dialled_with`: doubles the endpoint's
    /// interval (as grpc-go does) and returns the new one. `None` if the
    /// interval was already doubled since that connection was dialled: the
    /// pool's other connections to one server all hear the same complaint,
    /// and one complaint doubles once.
    pub(crate) fn throttle_keepalive(
        &self,
        id: EndpointId,
        configured: Duration,
        dialled_with: Duration,
    ) -> Option<Duration> {
        let mut entries = self.lock();
        let entry = &mut entries[id.0 as usize];
        if doubled(configured, entry.keepalive_doublings) != dialled_with {
            return None;
        }
        entry.keepalive_doublings = entry.keepalive_doublings.saturating_add(1);
        Some(doubled(configured, entry.keepalive_doublings))
    }

    /// The signal set when `id` is removed.
    pub(crate) fn removed(&self, id: EndpointId) -> Arc<Removed> {
        Arc::clone(&self.lock()[id.0 as usize].removed)
    }
}

impl Entry {
    fn new(endpoint: Endpoint) -> Self {
        Self {
            endpoint: Arc::new(endpoint),
            removed: Arc::default(),
            keepalive_doublings: 0,
        }
    }
}

/// `interval` doubled `times` times, saturating (a server that keeps
/// complaining ends with keepalive as good as off, as in grpc-go).
fn doubled(interval: Duration, times: u32) -> Duration {
    let factor = 1u32.checked_shl(times.min(31)).unwrap_or(u32::MAX);
    interval.saturating_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_many_pings_doubles_the_interval_of_that_endpoint_only() {
        let set = EndpointSet::new(vec![
            Endpoint::parse("http://a:1").unwrap(),
            Endpoint::parse("http://b:1").unwrap(),
        ]);
        let ten = Duration::from_secs(10);
        let a = EndpointId(0);
        assert_eq!(set.throttle_keepalive(a, ten, ten), Some(ten * 2));
        // A second connection dialled with the old interval: no change.
        assert_eq!(set.throttle_keepalive(a, ten, ten), None);
        assert_eq!(set.throttle_keepalive(a, ten, ten * 2), Some(ten * 4));
        assert_eq!(set.keepalive_interval(a, ten), ten * 4);
        assert_eq!(set.keepalive_interval(EndpointId(1), ten), ten);
        assert_eq!(doubled(ten, 200), ten * (1 << 31), "at most 2^31 times");
    }
}
