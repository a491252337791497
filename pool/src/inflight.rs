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

use tokio::sync::{Notify, watch};

use crate::idle::Activity;

/// Count of RPCs in flight on one connection.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    count: AtomicUsize,
    /// RPCs ever counted here, for stats.
    total: AtomicU64,
    idle: Notify,
    hooks: Hooks,
}

/// Who else learns of this connection's RPCs starting and ending. Each is
/// only set when its feature is configured, so a plain pool pays nothing.
#[derive(Debug, Default)]
pub(crate) struct Hooks {
    /// The pool-wide count, when the pool has an idle timeout.
    pub(crate) pool: Option<Arc<Activity>>,
    /// This connection's own activity, when it may be scaled down.
    pub(crate) conn: Option<Arc<Activity>>,
    /// With a per-connection stream cap: the cap, and the signal bumped
    /// when an RPC ending frees room on a full connection.
    pub(crate) freed: Option<(usize, Arc<watch::Sender<u64>>)>,
}

impl InFlight {
    /// A count that also reports to `hooks`.
    pub(crate) fn new(hooks: Hooks) -> Self {
        Self {
            hooks,
            ..Self::default()
        }
    }

    /// This connection's own activity, when it may be scaled down.
    pub(crate) fn activity(&self) -> Option<&Arc<Activity>> {
        self.hooks.conn.as_ref()
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
        for activity in [&self.hooks.pool, &self.hooks.conn].into_iter().flatten() {
            activity.started();
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
        let hooks = &self.0.hooks;
        for activity in [&hooks.pool, &hooks.conn].into_iter().flatten() {
            activity.ended();
        }
        if let Some((cap, freed)) = &hooks.freed
            && before == *cap
        {
            freed.send_modify(|generation| *generation += 1);
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
