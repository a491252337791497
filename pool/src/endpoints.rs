//! The pool's endpoint set, which can change at runtime.
//!
//! Ids are indexes into an append-only list, so an [`EndpointId`] names the
//! same endpoint for the pool's whole life: a removed endpoint keeps its id
//! (and its row in `Pool::stats`, as removed), and adding it again gives it
//! a new id. Removing an endpoint only flips its `removed` signal; its slot
//! tasks see it, drain their connections and end.

use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::endpoint::{Endpoint, EndpointError, EndpointId};

struct Entry {
    endpoint: Arc<Endpoint>,
    removed: watch::Sender<bool>,
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
            .map(|e| (Arc::clone(&e.endpoint), *e.removed.borrow()))
            .collect()
    }

    /// Appends `endpoint` unless a live endpoint has the same URI.
    pub(crate) fn add(&self, endpoint: Endpoint) -> Result<EndpointId, AddEndpointError> {
        let mut entries = self.lock();
        if entries
            .iter()
            .any(|e| !*e.removed.borrow() && *e.endpoint == endpoint)
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
            .position(|e| !*e.removed.borrow() && *e.endpoint == *endpoint)
            .ok_or_else(|| RemoveEndpointError::NotFound(endpoint.to_string()))?;
        entries[at].removed.send_replace(true);
        Ok(EndpointId(at as u32))
    }

    /// Resolves when `id` is removed.
    pub(crate) fn watch_removed(&self, id: EndpointId) -> watch::Receiver<bool> {
        self.lock()[id.0 as usize].removed.subscribe()
    }
}

impl Entry {
    fn new(endpoint: Endpoint) -> Self {
        Self {
            endpoint: Arc::new(endpoint),
            removed: watch::Sender::new(false),
        }
    }
}
