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
#[derive(Debug)]
pub(crate) struct InFlight {
    count: AtomicUsize,
    /// RPCs ever counted here: each took one stream id.
    total: AtomicU64,
    /// Woken when `total` reaches `hooks.recycle_after`.
    ids_used: Notify,
    idle: Notify,
    hooks: Hooks,
    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS (`usize::MAX` until it
    /// says), read from its frames (`frames.rs`).
    peer_limit: AtomicUsize,
}

/// Who else learns of this connection's RPCs starting and ending. Each is
/// only set when its feature is configured, so a plain pool pays nothing.
#[derive(Debug, Default)]
pub(crate) struct Hooks {
    /// The pool-wide count, when the pool has an idle timeout.
    pub(crate) pool: Option<Arc<Activity>>,
    /// This connection's own activity, when it may be scaled down.
    pub(crate) conn: Option<Arc<Activity>>,
    /// The configured per-connection stream cap, if any.
    pub(crate) cap: Option<usize>,
    /// The signal bumped when an RPC ending frees room on a full
    /// connection (full by the cap or by the server's limit).
    pub(crate) freed: Option<Arc<watch::Sender<u64>>>,
    /// After this many RPCs the connection is replaced
    /// (`recycle_after_streams`); `None`: never.
    pub(crate) recycle_after: Option<u64>,
}

impl InFlight {
    /// A count that also reports to `hooks`.
    pub(crate) fn new(hooks: Hooks) -> Self {
        Self {
            hooks,
            ..Self::default()
        }
    }

    /// How many RPCs this connection may carry at once: the configured cap
    /// or the server's limit, whichever is lower (`usize::MAX`: no limit).
    pub(crate) fn capacity(&self) -> usize {
        let peer = self.peer_limit.load(Ordering::Acquire);
        self.hooks.cap.map_or(peer, |cap| cap.min(peer))
    }

    /// Whether one more RPC fits.
    pub(crate) fn has_room(&self) -> bool {
        self.load() < self.capacity()
    }

    /// The server announced SETTINGS_MAX_CONCURRENT_STREAMS = `limit`. A
    /// raised limit frees room, so waiters are told.
    pub(crate) fn limit_to_peer(&self, limit: u32) {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let before = self.peer_limit.swap(limit, Ordering::AcqRel);
        if limit > before
            && let Some(freed) = &self.hooks.freed
        {
            freed.send_modify(|generation| *generation += 1);
        }
    }

    /// The server's stream limit, once it has announced one.
    pub(crate) fn peer_limit(&self) -> Option<usize> {
        let limit = self.peer_limit.load(Ordering::Acquire);
        (limit != usize::MAX).then_some(limit)
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
        let total = self.total.fetch_add(1, Ordering::AcqRel) + 1;
        if self.hooks.recycle_after == Some(total) {
            self.ids_used.notify_waiters();
        }
        for activity in [&self.hooks.pool, &self.hooks.conn].into_iter().flatten() {
            activity.started();
        }
        InFlightGuard(Arc::clone(self))
    }

    /// Resolves once `recycle_after_streams` RPCs have been counted here
    /// (never, when connections are not recycled).
    pub(crate) async fn stream_ids_used(self: Arc<Self>) {
        let Some(limit) = self.hooks.recycle_after else {
            return std::future::pending().await;
        };
        loop {
            let mut notified = pin!(self.ids_used.notified());
            notified.as_mut().enable();
            if self.total.load(Ordering::Acquire) >= limit {
                return;
            }
            notified.await;
        }
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

impl Default for InFlight {
    fn default() -> Self {
        Self {
            count: AtomicUsize::new(0),
            total: AtomicU64::new(0),
            ids_used: Notify::new(),
            idle: Notify::new(),
            hooks: Hooks::default(),
            peer_limit: AtomicUsize::new(usize::MAX),
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
        if let Some(freed) = &hooks.freed
            && before >= self.0.capacity()
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
