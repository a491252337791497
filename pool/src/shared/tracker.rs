//! [`Tracker`]: what the pool's connections are doing, as a whole: each
//! slot's status, the pool-wide connectivity recomputed on every change,
//! the idle cycle, the replacements owed after GOAWAY, the signal that
//! wakes RPCs waiting for a connection, and the next connection id.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, Ordering},
};

use tokio::{sync::watch, time::Instant};

use super::replacements::Replacements;
use crate::{
    endpoint::EndpointId,
    idle::{Activity, Idleness},
    ids::ConnId,
    inflight::{Hooks, InFlight},
    status::{ConnLoad, Connectivity, SlotStatus},
    wait::ReadyChanges,
};

/// The pool's slots and connectivity.
pub(crate) struct Tracker {
    /// Each slot's connectivity and connection, by slot index.
    pub(super) slots: Mutex<Vec<SlotStatus>>,
    /// The pool-wide connectivity, recomputed on every slot change.
    connectivity: watch::Sender<Connectivity>,
    /// The idle cycle, when `idle_timeout` is set.
    pub(crate) idle: Option<Arc<Idleness>>,
    /// Bumped whenever an RPC waiting for a connection should look again:
    /// a connection became ready, a waking pool settled, shutdown began,
    /// a full connection has room again.
    ready_changes: ReadyChanges,
    /// Connections sent away (GOAWAY) whose replacement is on its way.
    /// While there are any, the pool is CONNECTING rather than failing,
    /// and a fail-fast RPC that finds no ready connection waits for them.
    pub(crate) replacements: Arc<Replacements>,
    /// The id of the next connection dialled; ids are never reused.
    next_conn: AtomicU64,
}

impl Tracker {
    /// `slots`: each slot's endpoint, by slot index.
    pub(crate) fn new(slots: Vec<SlotStatus>, idle: Option<Idleness>) -> Self {
        let ready_changes = ReadyChanges::default();
        Self {
            idle: idle.map(Arc::new),
            ready_changes: ready_changes.clone(),
            replacements: Arc::new(Replacements::new(ready_changes)),
            slots: Mutex::new(slots),
            connectivity: watch::Sender::new(Connectivity::Idle),
            next_conn: AtomicU64::new(1),
        }
    }

    pub(crate) fn next_conn_id(&self) -> ConnId {
        ConnId(self.next_conn.fetch_add(1, Ordering::Relaxed))
    }

    /// A new connection's in-flight count, feeding the pool-wide activity
    /// when the pool has an idle timeout.
    /// An `extra` connection (dialled to scale up) also tracks its own
    /// activity, to scale down when it has been quiet.
    pub(crate) fn new_in_flight(
        &self,
        extra: bool,
        cap: Option<usize>,
        recycle_after_streams: u64,
    ) -> Arc<InFlight> {
        Arc::new(InFlight::new(Hooks {
            pool: self.idle.as_ref().map(|idle| Arc::clone(&idle.activity)),
            conn: extra.then(|| Arc::new(Activity::new(Instant::now()))),
            cap,
            recycle_after: Some(recycle_after_streams),
            freed: Some(self.ready_changes.clone()),
        }))
    }

    /// Wakes RPCs waiting for a connection (sending on a `watch` draws
    /// nothing from tokio's RNG; only waiting does).
    pub(crate) fn ready_changed(&self) {
        self.ready_changes.bump();
    }

    /// The signal that wakes RPCs waiting for a connection, for a task
    /// that should wake them.
    pub(crate) fn ready_changes(&self) -> ReadyChanges {
        self.ready_changes.clone()
    }

    /// A receiver for an RPC waiting for a connection.
    pub(crate) fn watch_ready_changes(&self) -> watch::Receiver<u64> {
        self.ready_changes.subscribe()
    }

    /// Endpoint of each slot, by slot index.
    pub(crate) fn slot_endpoints(&self) -> Vec<EndpointId> {
        let slots = self.slots.lock().expect("slots lock poisoned");
        slots.iter().map(|s| s.endpoint).collect()
    }

    /// Applies a change to one slot's status and republishes the pool's
    /// connectivity if it changed.
    pub(crate) fn update_slot(&self, slot: usize, change: impl FnOnce(&mut SlotStatus)) {
        let mut slots = self.slots.lock().expect("slots lock poisoned");
        let was = on_its_way(&slots[slot]);
        change(&mut slots[slot]);
        if was && !on_its_way(&slots[slot]) {
            // RPCs may be waiting on this slot's dial (`connecting`):
            // whatever became of it, they look again.
            self.ready_changes.bump();
        }
        let state = Connectivity::aggregate(slots.iter().filter(|s| !s.dormant).map(|s| s.state));
        self.connectivity.send_if_modified(|current| {
            let changed = *current != state;
            *current = state;
            changed
        });
    }

    /// Whether a slot of an endpoint `usable` accepts has a connection on
    /// its way (see `on_its_way`).
    pub(crate) fn connecting(&self, usable: impl Fn(EndpointId) -> bool) -> bool {
        let slots = self.slots.lock().expect("slots lock poisoned");
        slots.iter().any(|s| on_its_way(s) && usable(s.endpoint))
    }

    pub(crate) fn watch_connectivity(&self) -> watch::Receiver<Connectivity> {
        self.connectivity.subscribe()
    }

    /// Adds `count` slots for `endpoint`; returns their indexes.
    pub(crate) fn add_slots(&self, endpoint: EndpointId, count: usize) -> Vec<usize> {
        let mut slots = self.slots.lock().expect("slots lock poisoned");
        let first = slots.len();
        slots.extend((0..count).map(|_| SlotStatus::new(endpoint)));
        (first..first + count).collect()
    }

    /// Each slot's live connection, by slot index: its load and capacity.
    pub(crate) fn loads(&self) -> Vec<ConnLoad> {
        let slots = self.slots.lock().expect("slots lock poisoned");
        slots
            .iter()
            .filter_map(|s| s.conn.as_ref())
            .map(|c| ConnLoad {
                conn: c.id,
                in_flight: c.in_flight.load(),
                capacity: c.in_flight.capacity_limit(),
                settled: c.in_flight.peer_settled(),
            })
            .collect()
    }
}

/// Whether `slot`, awake, is CONNECTING (its first dial, or a redial after
/// its connection was lost or sent away, not one that failed since: that
/// slot is TRANSIENT_FAILURE), or IDLE and so about to dial (a slot is
/// IDLE from `build()` until its task starts dialling, and between a lost
/// connection and the redial). gRPC queues a fail-fast RPC on a channel in
/// either state.
fn on_its_way(slot: &SlotStatus) -> bool {
    !slot.dormant && matches!(slot.state, Connectivity::Connecting | Connectivity::Idle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pool's connectivity is gRPC's aggregate over its awake slots,
    /// published only when it changes, so a watcher sees each change once.
    #[test]
    fn connectivity_is_republished_only_when_the_aggregate_changes() {
        let slots = vec![
            SlotStatus::new(EndpointId(0)),
            SlotStatus::new(EndpointId(0)),
        ];
        let tracker = Tracker::new(slots, None);
        let mut watch = tracker.watch_connectivity();
        assert_eq!(*watch.borrow_and_update(), Connectivity::Idle);

        tracker.update_slot(0, |s| s.state = Connectivity::Connecting);
        assert!(watch.has_changed().unwrap());
        assert_eq!(*watch.borrow_and_update(), Connectivity::Connecting);

        // Another slot connecting leaves the aggregate where it was.
        tracker.update_slot(1, |s| s.state = Connectivity::Connecting);
        assert!(!watch.has_changed().unwrap());

        // A dormant slot is left out of the aggregate.
        tracker.update_slot(0, |s| s.dormant = true);
        tracker.update_slot(1, |s| s.state = Connectivity::TransientFailure);
        assert_eq!(*watch.borrow_and_update(), Connectivity::TransientFailure);
    }

    /// A slot CONNECTING on a usable endpoint is what a fail-fast RPC may
    /// wait for; its dial ending, however, wakes the waiters to look again.
    #[test]
    fn connecting_slots_are_found_and_their_end_wakes_waiters() {
        let slots = vec![
            SlotStatus::new(EndpointId(0)),
            SlotStatus::new(EndpointId(1)),
        ];
        let tracker = Tracker::new(slots, None);
        let mut waiter = tracker.watch_ready_changes();
        waiter.borrow_and_update();
        assert!(tracker.connecting(|_| true), "a new slot is about to dial");
        tracker.update_slot(0, |s| s.state = Connectivity::TransientFailure);
        assert!(
            waiter.has_changed().unwrap(),
            "its dial failed: waiters look"
        );
        waiter.borrow_and_update();

        tracker.update_slot(1, |s| s.state = Connectivity::Connecting);
        assert!(tracker.connecting(|_| true));
        assert!(
            !tracker.connecting(|e| e != EndpointId(1)),
            "an endpoint out of rotation does not count"
        );
        assert!(!waiter.has_changed().unwrap(), "still connecting");
        tracker.update_slot(1, |s| s.dormant = true);
        assert!(
            !tracker.connecting(|_| true),
            "a dormant slot does not count"
        );
        tracker.update_slot(1, |s| s.dormant = false);
        waiter.borrow_and_update();

        tracker.update_slot(1, |s| s.state = Connectivity::TransientFailure);
        assert!(
            waiter.has_changed().unwrap(),
            "the failed dial wakes waiters"
        );
        assert!(!tracker.connecting(|_| true));
    }

    /// Slots added at runtime come after the first ones; connection ids
    /// start at 1 and are never reused.
    #[test]
    fn slots_are_appended_and_ids_count_up() {
        let tracker = Tracker::new(vec![SlotStatus::new(EndpointId(0))], None);
        assert_eq!(tracker.add_slots(EndpointId(1), 2), vec![1, 2]);
        assert_eq!(
            tracker.slot_endpoints(),
            vec![EndpointId(0), EndpointId(1), EndpointId(1)]
        );
        assert_eq!(tracker.next_conn_id(), ConnId(1));
        assert_eq!(tracker.next_conn_id(), ConnId(2));
        assert!(tracker.loads().is_empty(), "no slot has a connection yet");
    }

    /// A replacement owed after GOAWAY wakes waiting RPCs when its dial
    /// ends, through the tracker's own signal.
    #[test]
    fn a_replacement_ending_wakes_waiters() {
        let tracker = Tracker::new(Vec::new(), None);
        let changes = tracker.watch_ready_changes();
        let replacing = tracker.replacements.begin();
        assert!(tracker.replacements.any());
        assert!(!changes.has_changed().unwrap());
        drop(replacing);
        assert!(!tracker.replacements.any());
        assert!(changes.has_changed().unwrap());
    }
}
