//! The limiter as the RPC path uses it: an async `acquire` bounded by the
//! RPC's deadline, and a [`LimitPermit`] that gives its slot back on drop.
//!
//! The core ([`Limiter`]) is synchronous and clockless; this wrapper owns the
//! wake-ups. Each queued caller waits on its own oneshot and, while waiting,
//! sleeps until the core's next wake-up (a token refill or a give-up time)
//! and then polls the core, so no background task is needed. Every path out
//! of a wait (admitted, rejected, or the caller's future dropped) settles
//! the caller's place in the core, so permits cannot leak.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use tokio::{sync::oneshot, time::Instant};

use super::{Acquire, Limiter, Permit, Rejection, Resolved, WaiterId};
use crate::wait;

type Verdict = Result<Permit, Rejection>;

/// A shared limiter with async waiting.
#[derive(Debug)]
pub(crate) struct LimitGate {
    state: Mutex<GateState>,
}

#[derive(Debug)]
struct GateState {
    core: Limiter,
    /// Where to send each queued caller's verdict. Bounded by the core's
    /// queue length.
    waiting: BTreeMap<WaiterId, oneshot::Sender<Verdict>>,
}

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
    pub(crate) fn new(core: Limiter) -> Self {
        Self {
            state: Mutex::new(GateState {
                core,
                waiting: BTreeMap::new(),
            }),
        }
    }

    /// Waits for a permit until the core admits or rejects the call; the
    /// core never admits a caller past `deadline`.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        deadline: Instant,
    ) -> Result<LimitPermit, Rejection> {
        let (waiter, receiver) = {
            let mut state = self.lock();
            match state.core.try_acquire(Instant::now(), Some(deadline)) {
                Acquire::Admitted(permit) => return Ok(self.permit(permit)),
                Acquire::Rejected(rejection) => return Err(rejection),
                Acquire::Queued(waiter) => {
                    let (sender, receiver) = oneshot::channel();
                    state.waiting.insert(waiter, sender);
                    (waiter, receiver)
                }
            }
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
        let mut state = self.lock();
        let resolved = state.core.release(Instant::now(), permit);
        state.deliver(resolved);
    }

    /// Lets the core act on the time that has passed.
    fn poll(&self) {
        let mut state = self.lock();
        let resolved = state.core.poll(Instant::now());
        state.deliver(resolved);
    }

    fn next_wakeup(&self) -> Option<Instant> {
        self.lock().core.next_wakeup()
    }
}

impl GateState {
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
            let wakeup = self.gate.next_wakeup();
            tokio::select! {
                biased;
                verdict = &mut *receiver => {
                    self.receiver = None;
                    return verdict.expect("a waiter's sender is only dropped after sending");
                }
                _ = wait::until_some(wakeup) => self.gate.poll(),
            }
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let Some(mut receiver) = self.receiver.take() else {
            return;
        };
        let mut state = self.gate.lock();
        if state.core.cancel(self.waiter) {
            state.waiting.remove(&self.waiter);
        } else if let Ok(Ok(permit)) = receiver.try_recv() {
            let resolved = state.core.release(Instant::now(), permit);
            state.deliver(resolved);
        }
    }
}
