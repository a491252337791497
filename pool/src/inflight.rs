//! In-flight RPC counting per connection, released by `Drop`.
//!
//! Like tower's concurrency limit, a count is returned by dropping a guard,
//! never by a code path someone can forget: the guard lives in the response
//! future, then in the response body, and every way an RPC ends (success,
//! error, the caller dropping the future) drops it.

use std::{
    pin::pin,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};

use tokio::sync::Notify;

use crate::idle::Activity;

/// Count of RPCs in flight on one connection.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    count: AtomicUsize,
    /// RPCs ever counted here, for stats.
    total: AtomicU64,
    idle: Notify,
    /// The pool-wide count, when the pool has an idle timeout.
    pool: Option<Arc<Activity>>,
}

impl InFlight {
    /// A count that also feeds the pool-wide `activity`, if any.
    pub(crate) fn new(pool: Option<Arc<Activity>>) -> Self {
        Self {
            pool,
            ..Self::default()
        }
    }

    pub(crate) fn load(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    pub(crate) fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    pub(crate) fn acquire(self: &Arc<Self>) -> InFlightGuard {
        self.count.fetch_add(1, Ordering::AcqRel);
        self.total.fetch_add(1, Ordering::Relaxed);
        if let Some(pool) = &self.pool {
            pool.started();
        }
        InFlightGuard(Arc::clone(self))
    }

    /// Resolves once no RPC is in flight.
    pub(crate) async fn wait_idle(self: Arc<Self>) {
        loop {
            let mut notified = pin!(self.idle.notified());
            // Register before checking, so a release between the check and
            // the await is not missed.
            notified.as_mut().enable();
            if self.load() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// One RPC's share of a connection's in-flight count.
#[derive(Debug)]
pub(crate) struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let before = self.0.count.fetch_sub(1, Ordering::AcqRel);
        debug_assert!(before > 0, "in-flight count underflow");
        if let Some(pool) = &self.0.pool {
            pool.ended();
        }
        if before == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn guards_count_and_idle_wakes() {
        let f = Arc::new(InFlight::default());
        let a = f.acquire();
        let b = f.acquire();
        assert_eq!(f.load(), 2);
        drop(a);
        let waiter = tokio::spawn({
            let f = Arc::clone(&f);
            async move { f.wait_idle().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(b);
        waiter.await.unwrap();
        assert_eq!(f.load(), 0);
    }
}
