//! The bounded FIFO of callers waiting for a permit.

use std::collections::VecDeque;

use tokio::time::Instant;

use super::error::Rejection;
use super::ticket::WaiterId;

/// A queued caller and when it stops waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Waiter {
    pub(super) id: WaiterId,
    /// The earlier of the caller's deadline and `now + max_queue_wait`.
    pub(super) give_up_at: Instant,
    /// What the caller is told if `give_up_at` arrives first.
    pub(super) give_up: Rejection,
}

/// Waiters in arrival order, at most `capacity` of them.
#[derive(Debug, Clone)]
pub(super) struct WaitQueue {
    waiters: VecDeque<Waiter>,
    capacity: usize,
}

impl WaitQueue {
    pub(super) fn new(capacity: usize) -> Self {
        WaitQueue {
            waiters: VecDeque::new(),
            capacity,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.waiters.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    pub(super) fn is_full(&self) -> bool {
        self.waiters.len() >= self.capacity
    }

    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Appends a waiter whose id is larger than every queued one.
    pub(super) fn push(&mut self, waiter: Waiter) {
        debug_assert!(!self.is_full(), "pushed onto a full wait queue");
        debug_assert!(
            self.waiters.back().is_none_or(|last| last.id < waiter.id),
            "waiter ids must grow in queue order"
        );
        self.waiters.push_back(waiter);
    }

    pub(super) fn pop_front(&mut self) -> Option<Waiter> {
        self.waiters.pop_front()
    }

    /// Removes the waiter, returning whether it was still queued.
    pub(super) fn remove(&mut self, id: WaiterId) -> bool {
        // Ids grow front to back, so the queue is sorted by id.
        match self.waiters.binary_search_by_key(&id, |w| w.id) {
            Ok(index) => self.waiters.remove(index).is_some(),
            Err(_) => false,
        }
    }

    /// Removes, in queue order, every waiter whose give-up time is at or before `now`.
    pub(super) fn drain_expired(&mut self, now: Instant) -> Vec<Waiter> {
        let mut expired = Vec::new();
        self.waiters.retain(|w| {
            let keep = w.give_up_at > now;
            if !keep {
                expired.push(*w);
            }
            keep
        });
        expired
    }

    /// The soonest give-up time of any waiter.
    pub(super) fn earliest_give_up(&self) -> Option<Instant> {
        self.waiters.iter().map(|w| w.give_up_at).min()
    }
}
