//! The limiter as the RPC path uses it: an async `acquire` bounded by the
//! RPC's deadline, and a [`LimitPermit`] that gives its slot back on drop.
//!
//! The core ([`Limiter`]) is synchronous and clockless; this wrapper owns the
//! wake-ups. Each queued caller waits on its own oneshot and, while waiting,
//! sleeps until the core's next wake-up (a token refill or a give-up time)
//! and then polls the core, so no background task is needed. A release
//! that admits no one (its slot is free but no token is) changes that
//! wake-up: while every slot was taken the next token was no reason to
//! wake, and now it is. So a release tells the sleepers to look again
//! (`wakeup_moved`); without that a queued caller slept to its give-up time
//! with a slot free and tokens refilled. Every path out
//! of a wait (admitted, rejected, or the caller's future dropped) settles
//! the caller's place in the core, so permits cannot leak.
//!
//! Every change of occupancy (in flight, queued) is published as an
//! [`EventKind::Limiter`] event, built under the lock and emitted after it,
//! so a sink may call back into the pool.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use tokio::{
    sync::{Notify, oneshot},
    time::Instant,
};

use super::{Acquire, Limiter, Permit, Rejection, Resolved, WaiterId};
use crate::{
    event::{EventKind, Events, PoolEvent},
    wait,
};

type Verdict = Result<Permit, Rejection>;

/// A shared limiter with async waiting.
#[derive(Debug)]
pub(crate) struct LimitGate {
    state: Mutex<GateState>,
    events: Events,
    /// Notified when a release may have moved the core's next wake-up.
    wakeup_moved: Notify,
}

#[derive(Debug)]
struct GateState {
    core: Limiter,
    /// Where to send each queued caller's verdict. Bounded by the core's
    /// queue length.
    waiting: BTreeMap<WaiterId, oneshot::Sender<Verdict>>,
    /// (in flight, queued) as last published.
    published: (usize, usize),
}

/// An occupancy to publish, taken under the lock.
#[must_use = "publish it with LimitGate::report"]
struct Occupancy(Option<(usize, usize)>);

/// One admitted RPC's slot; released when dropped.
#[derive(Debug)]
pub(crate) struct LimitPermit {
    gate: Arc<LimitGate>,
    permit: Option<Permit>,
}

impl Drop for LimitPermit {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.gate.release(permit);
        }
    }
}

impl LimitGate {
    pub(crate) fn new(core: Limiter, events: Events) -> Self {
        Self {
            state: Mutex::new(GateState {
                core,
                waiting: BTreeMap::new(),
                published: (0, 0),
            }),
            events,
            wakeup_moved: Notify::new(),
        }
    }

    /// (in flight, queued) now.
    pub(crate) fn occupancy(&self) -> (usize, usize) {
        let state = self.lock();
        (state.core.in_flight(), state.core.queue_len())
    }

    /// Waits for a permit until the core admits or rejects the call; the
    /// core never admits a caller past `deadline`.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        deadline: Instant,
    ) -> Result<LimitPermit, Rejection> {
        let (acquire, change) = {
            let mut state = self.lock();
            let acquire = state.core.try_acquire(Instant::now(), Some(deadline));
            let queued = match acquire {
                Acquire::Queued(waiter) => {
                    let (sender, receiver) = oneshot::channel();
                    state.waiting.insert(waiter, sender);
                    Ok((waiter, receiver))
                }
                Acquire::Admitted(permit) => Err(Ok(permit)),
                Acquire::Rejected(rejection) => Err(Err(rejection)),
            };
            (queued, state.occupancy_change())
        };
        self.report(change);
        let (waiter, receiver) = match acquire {
            Ok(queued) => queued,
            Err(decided) => return decided.map(|permit| self.permit(permit)),
        };
        let mut wait = Waiting {
            gate: self,
            waiter,
            receiver: Some(receiver),
        };
        let verdict = wait.until_resolved().await;
        verdict.map(|permit| self.permit(permit))
    }

    fn permit(self: &Arc<Self>, permit: Permit) -> LimitPermit {
        LimitPermit {
            gate: Arc::clone(self),
            permit: Some(permit),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().expect("limiter lock poisoned")
    }

    fn release(&self, permit: Permit) {
        let change = {
            let mut state = self.lock();
            let resolved = state.core.release(Instant::now(), permit);
            state.deliver(resolved);
            state.occupancy_change()
        };
        self.wakeup_moved.notify_waiters();
        self.report(change);
    }

    /// Lets the core act on the time that has passed.
    fn poll(&self) {
        let change = {
            let mut state = self.lock();
            let resolved = state.core.poll(Instant::now());
            state.deliver(resolved);
            state.occupancy_change()
        };
        self.report(change);
    }

    fn report(&self, Occupancy(change): Occupancy) {
        if let Some((in_flight, queued)) = change {
            self.events.emit(PoolEvent {
                at: Instant::now(),
                kind: EventKind::Limiter { in_flight, queued },
            });
        }
    }

    fn next_wakeup(&self) -> Option<Instant> {
        self.lock().core.next_wakeup()
    }
}

impl GateState {
    /// The occupancy, if it changed since it was last taken.
    fn occupancy_change(&mut self) -> Occupancy {
        let now = (self.core.in_flight(), self.core.queue_len());
        debug_assert!(now.0 <= self.core.config().max_concurrency);
        debug_assert!(now.1 <= self.core.config().max_queue_len);
        if now == self.published {
            return Occupancy(None);
        }
        self.published = now;
        Occupancy(Some(now))
    }

    /// Sends each verdict to its waiter. A permit whose waiter has gone is
    /// released at once, which may admit others: hence the work list.
    fn deliver(&mut self, resolved: Vec<Resolved>) {
        let mut work = resolved;
        while let Some(item) = work.pop() {
            let Some(sender) = self.waiting.remove(&item.waiter()) else {
                debug_assert!(false, "every queued waiter has a sender");
                continue;
            };
            let verdict = match item {
                Resolved::Admitted { permit, .. } => Ok(permit),
                Resolved::GaveUp { rejection, .. } => Err(rejection),
            };
            if let Err(Ok(orphan)) = sender.send(verdict) {
                work.extend(self.core.release(Instant::now(), orphan));
            }
        }
    }
}

/// A queued caller. Dropping it (the RPC was cancelled) takes the caller
/// out of the queue, or gives back a permit that was already on its way.
struct Waiting<'a> {
    gate: &'a LimitGate,
    waiter: WaiterId,
    receiver: Option<oneshot::Receiver<Verdict>>,
}

impl Waiting<'_> {
    async fn until_resolved(&mut self) -> Verdict {
        let receiver = self.receiver.as_mut().expect("waited on once");
        loop {
            // Registered before the wake-up is read, so a release between
            // the two is not missed.
            let moved = self.gate.wakeup_moved.notified();
            let mut moved = std::pin::pin!(moved);
            moved.as_mut().enable();
            let wakeup = self.gate.next_wakeup();
            tokio::select! {
                biased;
                verdict = &mut *receiver => {
                    self.receiver = None;
                    return verdict.expect("a waiter's sender is only dropped after sending");
                }
                _ = wait::until_some(wakeup) => self.gate.poll(),
                () = &mut moved => {}
            }
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let Some(mut receiver) = self.receiver.take() else {
            return;
        };
        let change = {
            let mut state = self.gate.lock();
            if state.core.cancel(self.waiter) {
                state.waiting.remove(&self.waiter);
            } else if let Ok(Ok(permit)) = receiver.try_recv() {
                let resolved = state.core.release(Instant::now(), permit);
                state.deliver(resolved);
            }
            state.occupancy_change()
        };
        self.gate.report(change);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::policy::limit::{LimiterConfig, RateLimit};

    /// One slot, one token a 100 ms. A takes both at 0; B queues (no slot).
    /// A is released at 10 ms, when the slot frees but the next token is
    /// 90 ms away: B is admitted when that token comes, at 100 ms, not at
    /// its give-up time (1 s). Found by a property sweep: a queued caller
    /// slept to its give-up time with a slot free and tokens refilled.
    #[tokio::test(start_paused = true)]
    async fn a_release_without_a_token_wakes_the_queue_at_the_next_token() {
        let config = LimiterConfig {
            max_concurrency: 1,
            rate: Some(RateLimit {
                per_second: 10,
                burst: 1,
            }),
            max_queue_len: 1,
            max_queue_wait: Duration::from_secs(1),
        };
        let gate = Arc::new(LimitGate::new(
            Limiter::new(config).expect("valid"),
            Events::new(None),
        ));
        let start = Instant::now();
        let far = start + Duration::from_secs(10);
        let a = gate.acquire(far).await.expect("A is admitted at once");
        let b = tokio::spawn({
            let gate = Arc::clone(&gate);
            async move {
                let permit = gate.acquire(far).await;
                (Instant::now(), permit.is_ok())
            }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(gate.occupancy(), (1, 1));
        drop(a);
        let (admitted_at, admitted) = b.await.expect("B's task");
        assert!(admitted);
        assert_eq!(admitted_at - start, Duration::from_millis(100));
    }
}
