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
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
};

use tokio::sync::Notify;

use crate::{idle::Activity, wait::ReadyChanges};

/// The server's stream limit assumed until its first SETTINGS frame
/// arrives (one round trip after connecting): one stream. hyper's h2 is
/// given the same value (`initial_max_send_streams`), so the pool never
/// counts a stream as sent that h2 would queue.
///
/// Why one, not h2's default of 100: a server's real limit may be lower,
/// and a server may punish streams beyond it sent before its SETTINGS were
/// acknowledged. gRPC C-core (grpcio 1.85) with a limit of 2 refused some
/// and reset others with ENHANCE_YOUR_CALM, which no client may resend
/// (tests/interop.rs). gRPC's own clients wait for the server's SETTINGS
/// before a connection counts as ready; one stream in that round trip
/// keeps what that buys (no limit can be exceeded) while the first RPC
/// need not wait, and a peer that is not an HTTP/2 server is still
/// reported by the RPC that found it out (`PoolError::NotHttp2`).
pub const PROVISIONAL_PEER_LIMIT: usize = 1;

/// Count of RPCs in flight on one connection.
#[derive(Debug)]
pub(crate) struct InFlight {
    count: AtomicUsize,
    /// Streams ever counted here (RPCs and health checks): each took one
    /// stream id.
    total: AtomicU64,
    /// Of those, health checks.
    probes: AtomicU64,
    /// Woken when `total` reaches `hooks.recycle_after`.
    ids_used: Notify,
    idle: Notify,
    hooks: Hooks,
    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS, read from its frames
    /// (`wire/frame.rs`): `PROVISIONAL_PEER_LIMIT` until its first SETTINGS,
    /// `usize::MAX` if that did not set one (no limit, as RFC 9113 says).
    peer_limit: AtomicUsize,
    /// Whether the server's first SETTINGS frame has been read.
    peer_settled: AtomicBool,
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
    pub(crate) freed: Option<ReadyChanges>,
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

    /// The capacity as stats report it: `None` when nothing limits it.
    pub(crate) fn capacity_limit(&self) -> Option<usize> {
        Some(self.capacity()).filter(|&cap| cap != usize::MAX)
    }

    /// Whether one more RPC fits.
    pub(crate) fn has_room(&self) -> bool {
        self.load() < self.capacity()
    }

    /// The server sent a SETTINGS frame, setting MAX_CONCURRENT_STREAMS to
    /// `limit` or leaving it out. As h2 does: the first frame replaces the
    /// provisional limit (with no limit if it sets none), a later one only
    /// changes it if it sets one. A raised limit frees room, so waiters
    /// are told.
    pub(crate) fn peer_settings(&self, limit: Option<u32>) {
        let first = !self.peer_settled.swap(true, Ordering::AcqRel);
        let limit = match limit {
            Some(limit) => usize::try_from(limit).unwrap_or(usize::MAX),
            None if first => usize::MAX,
            None => return,
        };
        let before = self.peer_limit.swap(limit, Ordering::AcqRel);
        if limit > before
            && let Some(freed) = &self.hooks.freed
        {
            freed.bump();
        }
    }

    /// The server's stream limit, once it has announced one.
    pub(crate) fn peer_limit(&self) -> Option<usize> {
        let limit = self.peer_limit.load(Ordering::Acquire);
        (self.peer_settled() && limit != usize::MAX).then_some(limit)
    }

    /// Whether the server's limit is known (its first SETTINGS was read),
    /// rather than the provisional one.
    pub(crate) fn peer_settled(&self) -> bool {
        self.peer_settled.load(Ordering::Acquire)
    }

    /// Full now, and will stay full until an RPC ends (not merely until
    /// the server says how many streams it takes).
    pub(crate) fn settled_full(&self) -> bool {
        !self.has_room()
            && (self.peer_settled() || self.hooks.cap.is_some_and(|cap| self.load() >= cap))
    }

    /// This connection's own activity, when it may be scaled down.
    pub(crate) fn activity(&self) -> Option<&Arc<Activity>> {
        self.hooks.conn.as_ref()
    }

    pub(crate) fn load(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// RPCs ever counted here (health checks left out).
    pub(crate) fn rpcs(&self) -> u64 {
        self.total.load(Ordering::Relaxed) - self.probes.load(Ordering::Relaxed)
    }

    /// Counts one RPC.
    pub(crate) fn acquire(self: &Arc<Self>) -> InFlightGuard {
        self.acquire_as(Traffic::Rpc)
    }

    /// Counts one health check. It takes a stream like an RPC, so it counts
    /// against the capacity and the stream ids; but it is the pool's own
    /// traffic, so it keeps neither the pool nor the connection from idling.
    pub(crate) fn acquire_probe(self: &Arc<Self>) -> InFlightGuard {
        self.acquire_as(Traffic::Probe)
    }

    fn acquire_as(self: &Arc<Self>, traffic: Traffic) -> InFlightGuard {
        self.count.fetch_add(1, Ordering::AcqRel);
        let total = self.total.fetch_add(1, Ordering::AcqRel) + 1;
        if self.hooks.recycle_after == Some(total) {
            self.ids_used.notify_waiters();
        }
        match traffic {
            Traffic::Rpc => {
                for activity in self.activities() {
                    activity.started();
                }
            }
            Traffic::Probe => {
                self.probes.fetch_add(1, Ordering::Relaxed);
            }
        }
        InFlightGuard {
            in_flight: Arc::clone(self),
            traffic,
        }
    }

    fn activities(&self) -> impl Iterator<Item = &Arc<Activity>> {
        [&self.hooks.pool, &self.hooks.conn].into_iter().flatten()
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
            probes: AtomicU64::new(0),
            ids_used: Notify::new(),
            idle: Notify::new(),
            hooks: Hooks::default(),
            peer_limit: AtomicUsize::new(PROVISIONAL_PEER_LIMIT),
            peer_settled: AtomicBool::new(false),
        }
    }
}

/// Whose stream a guard counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Traffic {
    /// A caller's RPC.
    Rpc,
    /// The pool's own health check.
    Probe,
}

/// One stream's share of a connection's in-flight count.
#[derive(Debug)]
pub(crate) struct InFlightGuard {
    in_flight: Arc<InFlight>,
    traffic: Traffic,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let in_flight = &self.in_flight;
        let before = in_flight.count.fetch_sub(1, Ordering::AcqRel);
        debug_assert!(before > 0, "in-flight count underflow");
        if self.traffic == Traffic::Rpc {
            for activity in in_flight.activities() {
                activity.ended();
            }
        }
        if let Some(freed) = &in_flight.hooks.freed
            && before >= in_flight.capacity()
        {
            freed.bump();
        }
        if before == 1 {
            in_flight.idle.notify_waiters();
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

    #[test]
    fn the_provisional_limit_holds_until_the_first_settings() {
        let f = InFlight::default();
        assert_eq!(
            (f.capacity(), f.peer_limit()),
            (PROVISIONAL_PEER_LIMIT, None)
        );
        // The first SETTINGS without a limit lifts it altogether...
        f.peer_settings(None);
        assert_eq!((f.capacity(), f.peer_limit()), (usize::MAX, None));
        f.peer_settings(Some(4));
        assert_eq!((f.capacity(), f.peer_limit()), (4, Some(4)));
        // ...a later one without a limit leaves it as it was.
        f.peer_settings(None);
        assert_eq!((f.capacity(), f.peer_limit()), (4, Some(4)));
    }

    #[test]
    fn full_only_provisionally_is_not_settled() {
        let f = Arc::new(InFlight::default());
        let guards: Vec<_> = (0..PROVISIONAL_PEER_LIMIT).map(|_| f.acquire()).collect();
        assert!(!f.has_room() && !f.settled_full());
        f.peer_settings(Some(PROVISIONAL_PEER_LIMIT as u32));
        assert!(f.settled_full());
        drop(guards);
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_takes_a_stream_but_is_not_activity() {
        let activity = Arc::new(Activity::new(tokio::time::Instant::now()));
        let f = Arc::new(InFlight::new(Hooks {
            conn: Some(Arc::clone(&activity)),
            cap: Some(1),
            ..Hooks::default()
        }));
        let probe = f.acquire_probe();
        assert_eq!((f.load(), f.rpcs(), f.has_room()), (1, 0, false));
        // The connection goes quiet on schedule although a probe is open.
        let quiet = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            activity.quiet_for(std::time::Duration::from_secs(1)),
        );
        assert!(quiet.await.is_ok());
        drop(probe);
        let rpc = f.acquire();
        assert_eq!(
            (f.load(), f.rpcs(), f.total.load(Ordering::Relaxed)),
            (1, 1, 2)
        );
        drop(rpc);
    }
}
