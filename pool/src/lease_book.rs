//! [`Leases`]: the pool's book of leases held, and the task that reports
//! a lease held longer than `lease_leak_threshold` (a `lease_held` event
//! naming the line of code that took it).
//!
//! Below the RPC path: the pool's lifecycle owns the book (shutdown reports
//! leases left), `rpc/lease.rs` writes to it when a lease is taken and dropped.

use std::{collections::BTreeMap, panic::Location, pin::pin, sync::Arc, time::Duration};

use tokio::{sync::watch, time::Instant};

use crate::{
    endpoint::EndpointId,
    event::{ConnEvent, EventKind, Events, PoolEvent},
    ids::{ConnId, LeaseId},
    wait,
};

/// The pool's record of outstanding leases.
#[derive(Default)]
pub(crate) struct Leases {
    state: std::sync::Mutex<LeaseBook>,
    /// Wakes the watcher when a lease is taken or given back.
    changed: tokio::sync::Notify,
}

#[derive(Default)]
struct LeaseBook {
    next_id: u64,
    held: BTreeMap<LeaseId, Held>,
}

struct Held {
    conn: ConnId,
    endpoint: EndpointId,
    site: &'static Location<'static>,
    taken_at: Instant,
    reported: bool,
}

impl Leases {
    /// Records a lease of `conn` taken at `site`; returns its id.
    pub(crate) fn take(
        &self,
        conn: ConnId,
        endpoint: EndpointId,
        site: &'static Location<'static>,
    ) -> LeaseId {
        let mut book = self.lock();
        book.next_id += 1;
        let id = LeaseId(book.next_id);
        book.held.insert(
            id,
            Held {
                conn,
                endpoint,
                site,
                taken_at: Instant::now(),
                reported: false,
            },
        );
        drop(book);
        self.changed.notify_one();
        id
    }

    /// The lease `id` was dropped.
    pub(crate) fn give_back(&self, id: LeaseId) {
        let removed = self.lock().held.remove(&id);
        debug_assert!(removed.is_some(), "a lease is given back once");
        self.changed.notify_one();
    }

    /// How many leases are held now.
    pub(crate) fn held(&self) -> usize {
        self.lock().held.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LeaseBook> {
        self.state.lock().expect("lease lock poisoned")
    }

    /// When the next unreported lease crosses `threshold`.
    fn next_overdue(&self, threshold: Duration) -> Option<Instant> {
        let book = self.lock();
        book.held
            .values()
            .filter(|h| !h.reported)
            .map(|h| h.taken_at + threshold)
            .min()
    }

    /// Marks every lease held longer than `threshold` as reported, and
    /// returns one event for each, in lease order.
    fn overdue(&self, now: Instant, threshold: Duration) -> Vec<PoolEvent> {
        let mut book = self.lock();
        let mut events = Vec::new();
        for (id, held) in book.held.iter_mut() {
            let age = now.saturating_duration_since(held.taken_at);
            if held.reported || age < threshold {
                continue;
            }
            held.reported = true;
            events.push(PoolEvent {
                at: now,
                kind: EventKind::Conn {
                    endpoint: held.endpoint,
                    conn: held.conn,
                    event: ConnEvent::LeaseHeld {
                        lease: *id,
                        age,
                        site: held.site,
                    },
                },
            });
        }
        events
    }
}

/// Reports leases held past `threshold` to `events`, once each, until
/// shutdown.
pub(crate) async fn watch_leases(
    leases: Arc<Leases>,
    threshold: Duration,
    mut shutdown: watch::Receiver<bool>,
    events: Events,
) {
    loop {
        let mut changed = pin!(leases.changed.notified());
        // Register before reading the book, so a change in between is seen.
        changed.as_mut().enable();
        let next = leases.next_overdue(threshold);
        tokio::select! {
            biased;
            _ = wait::for_shutdown(&mut shutdown) => return,
            _ = changed => {}
            _ = wait::until_some(next) => {
                for event in leases.overdue(Instant::now(), threshold) {
                    events.emit(event);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lease held past the threshold is reported once, naming where it
    /// was taken; a lease given back is reported never.
    #[tokio::test(start_paused = true)]
    async fn an_overdue_lease_is_reported_once() {
        let leases = Leases::default();
        let threshold = Duration::from_secs(10);
        let site = Location::caller();
        let kept = leases.take(ConnId(7), EndpointId(1), site);
        let returned = leases.take(ConnId(8), EndpointId(1), site);
        assert_eq!((kept, returned), (LeaseId(1), LeaseId(2)));
        let start = Instant::now();
        assert_eq!(leases.next_overdue(threshold), Some(start + threshold));
        leases.give_back(returned);

        tokio::time::advance(threshold).await;
        let events = leases.overdue(Instant::now(), threshold);
        assert_eq!(events.len(), 1);
        let EventKind::Conn { conn, event, .. } = &events[0].kind else {
            panic!("{events:?}")
        };
        assert_eq!(*conn, ConnId(7));
        assert!(
            matches!(event, ConnEvent::LeaseHeld { lease, site: at, .. } if *lease == kept && *at == site)
        );
        assert!(leases.overdue(Instant::now(), threshold).is_empty());
        assert_eq!(leases.next_overdue(threshold), None);
        assert_eq!(leases.held(), 1);
    }
}
