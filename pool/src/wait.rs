//! Small waiting helpers shared by the pool's tasks, and
//! [`ReadyChanges`], the signal RPCs waiting for a connection watch.
//!
//! A leaf: it imports nothing from the pool.

use std::sync::Arc;

use tokio::{
    sync::watch,
    time::{Instant, sleep_until},
};

/// Resolves once the pool's shutdown signal is set.
pub(crate) async fn for_shutdown(signal: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, which only happens with the pool.
    let _ = signal.wait_for(|shutting_down| *shutting_down).await;
}

/// The generation RPCs waiting for a connection watch, bumped whenever they
/// should look again: a connection became ready, a waking pool settled,
/// shutdown began, a full connection has room again, a replacement dial
/// ended, an endpoint returned to rotation. Cheap to clone: every clone
/// bumps the same count.
#[derive(Debug, Clone)]
pub(crate) struct ReadyChanges(Arc<watch::Sender<u64>>);

impl Default for ReadyChanges {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(0)))
    }
}

impl ReadyChanges {
    /// Wakes every waiter (sending on a `watch` draws nothing from tokio's
    /// RNG; only waiting does).
    pub(crate) fn bump(&self) {
        self.0.send_modify(|generation| *generation += 1);
    }

    /// A receiver for a waiter.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

/// Sleeps until `at`, or forever when there is nothing to wake up for.
pub(crate) async fn until_some(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}
