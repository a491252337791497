//! [`Lifecycle`]: what the pool's shutdown signals, waits for and reports:
//! the shutdown signal, the pool's own tasks, hyper's tasks (through the
//! tracked executor) and the book of leases held.
//!
//! Below every task: slots, checkers and watchers hold a receiver of the
//! signal, `Pool::shutdown` sets it, takes the task list and waits.

use std::sync::{Arc, Mutex};

use tokio::{sync::watch, task::JoinHandle};

use crate::{executor::TrackedExecutor, lease_book::Leases};

/// The pool's shutdown and everything it waits for.
pub(crate) struct Lifecycle {
    /// Set once, when shutdown begins; every task watches it.
    shutdown: watch::Sender<bool>,
    /// One task per connection slot, and the pool's watchers; taken (once)
    /// by `Pool::shutdown`. Pushed to under its lock, so a shutdown that
    /// took the list cannot miss a task added at runtime.
    pub(crate) tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Runs hyper's connection and stream tasks; shutdown waits for them.
    pub(crate) executor: TrackedExecutor,
    /// Outstanding leases, watched for leaks; shutdown reports those left.
    pub(crate) leases: Arc<Leases>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            shutdown: watch::Sender::new(false),
            tasks: Mutex::new(Vec::new()),
            executor: TrackedExecutor::default(),
            leases: Arc::default(),
        }
    }
}

impl Lifecycle {
    /// Sets the shutdown signal (idempotent).
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// A receiver of the shutdown signal, for a task.
    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signal is set once and stays set; a receiver taken before or
    /// after sees it.
    #[test]
    fn shutdown_is_seen_by_every_receiver() {
        let lifecycle = Lifecycle::default();
        let before = lifecycle.shutdown_signal();
        assert!(!lifecycle.is_shutting_down());
        lifecycle.begin_shutdown();
        lifecycle.begin_shutdown();
        assert!(lifecycle.is_shutting_down());
        assert!(*before.borrow());
        assert!(*lifecycle.shutdown_signal().borrow());
        assert_eq!(lifecycle.leases.held(), 0);
    }
}
