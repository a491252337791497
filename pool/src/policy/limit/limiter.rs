//! The limiter state machine: who is in flight, who waits, who gives up.
//!
//! Two rules shape every method. A queued caller is only ever admitted from
//! the front of the queue, so nobody overtakes an earlier caller that is
//! still waiting. And every method that admits from the queue first drops the
//! waiters whose give-up time has come, so nobody is admitted late.

use tokio::time::Instant;

use super::bucket::TokenBucket;
use super::config::LimiterConfig;
use super::error::{ConfigError, Rejection};
use super::queue::{WaitQueue, Waiter};
use super::ticket::{Acquire, Permit, Resolved, WaiterId};

/// Concurrency cap + token bucket + bounded FIFO wait queue, driven by the
/// caller's clock. See the [module docs](super) for how to wrap it.
///
/// Not `Clone`: a copy would count the original's permits as its own.
#[derive(Debug)]
pub struct Limiter {
    config: LimiterConfig,
    bucket: Option<TokenBucket>,
    queue: WaitQueue,
    in_flight: usize,
    next_waiter: u64,
    next_permit: u64,
}

impl Limiter {
    /// A limiter with no call in flight, an empty queue and a full bucket.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first out-of-range field.
    pub fn new(config: LimiterConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Limiter {
            bucket: config.rate.map(TokenBucket::new),
            queue: WaitQueue::new(config.max_queue_len),
            config,
            in_flight: 0,
            next_waiter: 0,
            next_permit: 0,
        })
    }

    /// Asks for a permit at `now` for a call that must finish by `deadline`.
    /// The call is rejected at once if `deadline` has passed or the queue is full.
    ///
    /// A caller that cannot go at once is queued behind everyone already
    /// waiting, even if capacity has freed up meanwhile: the next
    /// [`poll`](Self::poll) admits in queue order.
    pub fn try_acquire(&mut self, now: Instant, deadline: Option<Instant>) -> Acquire {
        // Spending a slot or a token on a call that is already late only
        // delays the calls that still have a chance.
        if deadline.is_some_and(|d| d <= now) {
            return Acquire::Rejected(Rejection::DeadlineExceeded);
        }
        if self.queue.is_empty() && self.has_capacity(now) {
            return Acquire::Admitted(self.admit(now));
        }
        if self.queue.is_full() {
            return Acquire::Rejected(Rejection::QueueFull {
                capacity: self.queue.capacity(),
            });
        }
        let waiter = self.new_waiter(now, deadline);
        self.queue.push(waiter);
        self.debug_check();
        Acquire::Queued(waiter.id)
    }

    /// Returns a permit's slot, then [`poll`](Self::poll)s, since the freed
    /// slot may admit the next waiter.
    pub fn release(&mut self, now: Instant, permit: Permit) -> Vec<Resolved> {
        debug_assert!(
            self.in_flight > 0,
            "released {permit:?} with nothing in flight"
        );
        self.in_flight = self.in_flight.saturating_sub(1);
        self.poll(now)
    }

    /// Removes a waiter that stopped waiting (its future was dropped).
    /// Returns `false` if it had already been resolved; then the wrapper
    /// owns whatever [`Resolved`] it was given and must release its permit.
    ///
    /// Removing a waiter never lets another one in: all waiters need the
    /// same slot and token, so if the front one could not go, none can.
    pub fn cancel(&mut self, waiter: WaiterId) -> bool {
        self.queue.remove(waiter)
    }

    /// Brings the queue up to date at `now`: first every waiter whose
    /// give-up time has come is told so, then waiters are admitted from the
    /// front while there is capacity. Call it at [`next_wakeup`](Self::next_wakeup).
    pub fn poll(&mut self, now: Instant) -> Vec<Resolved> {
        let mut resolved = self.expire(now);
        self.admit_waiters(now, &mut resolved);
        self.debug_check();
        resolved
    }

    /// When [`poll`](Self::poll) next has something to do: the soonest
    /// give-up time, or, if only a token is missing, when the next one
    /// accrues. `None` while nobody waits. The instant may be in the past.
    pub fn next_wakeup(&self) -> Option<Instant> {
        let give_up = self.queue.earliest_give_up();
        // While every slot is taken, only a release can admit anyone, and
        // release polls by itself.
        let token = if self.queue.is_empty() || self.in_flight >= self.config.max_concurrency {
            None
        } else {
            self.bucket.as_ref().and_then(TokenBucket::ready_at)
        };
        give_up.into_iter().chain(token).min()
    }

    /// Permits handed out and not yet released.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Callers waiting for a permit.
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    /// The configuration this limiter was built with.
    pub fn config(&self) -> &LimiterConfig {
        &self.config
    }

    fn expire(&mut self, now: Instant) -> Vec<Resolved> {
        self.queue
            .drain_expired(now)
            .into_iter()
            .map(|w| Resolved::GaveUp {
                waiter: w.id,
                rejection: w.give_up,
            })
            .collect()
    }

    fn admit_waiters(&mut self, now: Instant, resolved: &mut Vec<Resolved>) {
        while !self.queue.is_empty() && self.has_capacity(now) {
            let Some(waiter) = self.queue.pop_front() else {
                break;
            };
            debug_assert!(
                waiter.give_up_at > now,
                "admitted {waiter:?} after it gave up"
            );
            let permit = self.admit(now);
            resolved.push(Resolved::Admitted {
                waiter: waiter.id,
                permit,
            });
        }
    }

    fn has_capacity(&mut self, now: Instant) -> bool {
        self.in_flight < self.config.max_concurrency
            && self.bucket.as_mut().is_none_or(|b| b.has_token(now))
    }

    fn admit(&mut self, now: Instant) -> Permit {
        if let Some(bucket) = self.bucket.as_mut() {
            bucket.take(now);
        }
        self.in_flight += 1;
        self.next_permit += 1;
        self.debug_check();
        Permit::new(self.next_permit)
    }

    fn new_waiter(&mut self, now: Instant, deadline: Option<Instant>) -> Waiter {
        self.next_waiter += 1;
        let queue_limit = now + self.config.max_queue_wait;
        // On a tie the deadline wins: the call could not have succeeded anyway.
        let (give_up_at, give_up) = match deadline {
            Some(d) if d <= queue_limit => (d, Rejection::DeadlineExceeded),
            _ => (queue_limit, Rejection::QueueTimeout),
        };
        Waiter {
            id: WaiterId(self.next_waiter),
            give_up_at,
            give_up,
        }
    }

    fn debug_check(&self) {
        debug_assert!(self.in_flight <= self.config.max_concurrency);
        debug_assert!(self.queue.len() <= self.config.max_queue_len);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::policy::limit::RateLimit;

    const MS: Duration = Duration::from_millis(1);

    fn limiter(max_concurrency: usize, max_queue_len: usize) -> Limiter {
        Limiter::new(LimiterConfig {
            max_concurrency,
            max_queue_len,
            max_queue_wait: 100 * MS,
            rate: None,
        })
        .unwrap()
    }

    fn admitted(acquire: Acquire) -> Permit {
        match acquire {
            Acquire::Admitted(permit) => permit,
            other => panic!("expected admission, got {other:?}"),
        }
    }

    fn queued(acquire: Acquire) -> WaiterId {
        match acquire {
            Acquire::Queued(id) => id,
            other => panic!("expected to queue, got {other:?}"),
        }
    }

    #[test]
    fn rejects_at_once_when_the_queue_is_full() {
        let t0 = Instant::now();
        let mut l = limiter(1, 1);
        let _held = admitted(l.try_acquire(t0, None));
        let _waiting = queued(l.try_acquire(t0, None));
        let full = l.try_acquire(t0, None);
        assert_eq!(
            full,
            Acquire::Rejected(Rejection::QueueFull { capacity: 1 })
        );
        assert_eq!(
            Rejection::QueueFull { capacity: 1 }.code().name(),
            "RESOURCE_EXHAUSTED"
        );
    }

    #[test]
    fn release_admits_the_oldest_waiter() {
        let t0 = Instant::now();
        let mut l = limiter(1, 2);
        let held = admitted(l.try_acquire(t0, None));
        let first = queued(l.try_acquire(t0, None));
        let _second = queued(l.try_acquire(t0, None));
        let resolved = l.release(t0 + MS, held);
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].waiter(), first);
        assert_eq!((l.in_flight(), l.queue_len()), (1, 1));
    }

    #[test]
    fn waiters_give_up_at_the_earlier_of_deadline_and_queue_wait() {
        let t0 = Instant::now();
        let mut l = limiter(1, 2);
        let _held = admitted(l.try_acquire(t0, None));
        let patient = queued(l.try_acquire(t0, None));
        let hurried = queued(l.try_acquire(t0, Some(t0 + 10 * MS)));
        assert_eq!(l.next_wakeup(), Some(t0 + 10 * MS));
        let resolved = l.poll(t0 + 100 * MS);
        let expected = vec![
            Resolved::GaveUp {
                waiter: patient,
                rejection: Rejection::QueueTimeout,
            },
            Resolved::GaveUp {
                waiter: hurried,
                rejection: Rejection::DeadlineExceeded,
            },
        ];
        assert_eq!(resolved, expected);
    }

    #[test]
    fn a_cancelled_waiter_is_never_admitted() {
        let t0 = Instant::now();
        let mut l = limiter(1, 1);
        let held = admitted(l.try_acquire(t0, None));
        let waiter = queued(l.try_acquire(t0, None));
        assert!(l.cancel(waiter));
        assert!(!l.cancel(waiter));
        assert_eq!(l.release(t0, held), vec![]);
        assert_eq!(l.in_flight(), 0);
    }

    #[test]
    fn rate_limited_waiters_wake_at_the_next_token() {
        let t0 = Instant::now();
        let mut l = Limiter::new(LimiterConfig {
            rate: Some(RateLimit {
                per_second: 100,
                burst: 1,
            }),
            ..LimiterConfig::default()
        })
        .unwrap();
        let _first = admitted(l.try_acquire(t0, None));
        let second = queued(l.try_acquire(t0, None));
        assert_eq!(l.next_wakeup(), Some(t0 + 10 * MS));
        assert_eq!(l.poll(t0 + 9 * MS), vec![]);
        let resolved = l.poll(t0 + 10 * MS);
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].waiter(), second);
    }

    #[test]
    fn a_call_already_past_its_deadline_is_rejected() {
        let t0 = Instant::now();
        let mut l = limiter(1, 1);
        let late = l.try_acquire(t0, Some(t0));
        assert_eq!(late, Acquire::Rejected(Rejection::DeadlineExceeded));
        assert_eq!(l.in_flight(), 0);
    }
}
