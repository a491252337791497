//! The pool's endpoint set, which can change at runtime.
//!
//! Ids are indexes into an append-only list, so an [`EndpointId`] names the
//! same endpoint for the pool's whole life: a removed endpoint keeps its id
//! (and its row in `Pool::stats`, as removed), and adding it again gives it
//! a new id. Removing an endpoint only flips its `removed` signal; its slot
//! tasks see it, drain their connections and end.

use std::{
    pin::pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::sync::Notify;

use crate::endpoint::{Endpoint, EndpointError, EndpointId};

struct Entry {
    endpoint: Arc<Endpoint>,
    removed: Arc<Removed>,
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
        }
    }
}
