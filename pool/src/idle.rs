//! Idle timeout (gRPC channel idleness): after no RPC has been in flight for
//! `idle_timeout`, the pool closes its connections and goes IDLE; the next
//! RPC wakes it and waits for a connection instead of failing fast.
//!
//! ```text
//!            no RPC for idle_timeout          an RPC arrives
//!   Active ─────────────────────────▶ Idle ─────────────────▶ Waking
//!     ▲                                                          │
//!     └──────────── a connection is ready, or a dial failed ─────┘
//! ```
//!
//! Activity is counted by the same in-flight guards that count RPCs per
//! connection (`inflight.rs`), so an RPC whose response body is still
//! streaming keeps the pool active.

use std::{
    pin::pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    sync::{Notify, watch},
    time::Instant,
};

use crate::wait;

/// Where the pool is in its idle cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Connections are kept open.
    Active,
    /// No RPC for `idle_timeout`: connections are closed and slots wait.
    Idle,
    /// An RPC woke the pool; slots are dialling. RPCs wait rather than
    /// fail fast, since IDLE and CONNECTING are not failures.
    Waking,
}

/// RPCs in flight across the whole pool, and when that last changed.
#[derive(Debug)]
pub(crate) struct Activity {
    state: Mutex<Counted>,
    changed: Notify,
}

#[derive(Debug)]
struct Counted {
    in_flight: usize,
    last_change: Instant,
}

impl Activity {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            state: Mutex::new(Counted {
                in_flight: 0,
                last_change: now,
            }),
            changed: Notify::new(),
        }
    }

    pub(crate) fn started(&self) {
        self.change(|c| c.in_flight += 1);
    }

    pub(crate) fn ended(&self) {
        self.change(|c| {
            debug_assert!(c.in_flight > 0, "pool-wide in-flight underflow");
            c.in_flight = c.in_flight.saturating_sub(1);
        });
    }

    /// Restarts the idle clock, as if an RPC had just ended.
    fn touch(&self) {
        self.change(|_| {});
    }

    fn change(&self, f: impl FnOnce(&mut Counted)) {
        {
            let mut state = self.state.lock().expect("activity lock poisoned");
            f(&mut state);
            state.last_change = Instant::now();
        }
        self.changed.notify_waiters();
    }

    fn snapshot(&self) -> (usize, Instant) {
        let state = self.state.lock().expect("activity lock poisoned");
        (state.in_flight, state.last_change)
    }

    /// Resolves once nothing has been in flight for `quiet`.
    pub(crate) async fn quiet_for(&self, quiet: Duration) {
        loop {
            let mut changed = pin!(self.changed.notified());
            // Registered before reading, so a change in between is not missed.
            changed.as_mut().enable();
            let (in_flight, last_change) = self.snapshot();
            let quiet_at = (in_flight == 0).then(|| last_change + quiet);
            tokio::select! {
                biased;
                _ = changed => {}
                _ = wait::until_some(quiet_at) => return,
            }
        }
    }
}

/// The pool's idleness: its activity and its phase.
pub(crate) struct Idleness {
    timeout: Duration,
    pub(crate) activity: Arc<Activity>,
    phase: watch::Sender<Phase>,
}

impl Idleness {
    pub(crate) fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            activity: Arc::new(Activity::new(Instant::now())),
            phase: watch::Sender::new(Phase::Active),
        }
    }

    pub(crate) fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    pub(crate) fn watch(&self) -> watch::Receiver<Phase> {
        self.phase.subscribe()
    }

    /// An RPC found no ready connection: wake an idle pool. Returns whether
    /// the pool is idle or waking, i.e. whether the RPC should wait.
    pub(crate) fn wake(&self) -> bool {
        let mut waking = false;
        self.phase.send_if_modified(|phase| match phase {
            Phase::Idle => {
                *phase = Phase::Waking;
                waking = true;
                true
            }
            Phase::Waking => {
                waking = true;
                false
            }
            Phase::Active => false,
        });
        waking
    }

    /// A connection became ready, or a dial failed: the pool is no longer
    /// waking. Returns whether the phase changed.
    pub(crate) fn settle(&self) -> bool {
        self.phase.send_if_modified(|phase| {
            let changed = *phase == Phase::Waking;
            if changed {
                *phase = Phase::Active;
            }
            changed
        })
    }

    /// Decides when the pool goes idle, until the pool shuts down.
    pub(crate) async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut phase = self.watch();
        loop {
            if *phase.borrow_and_update() != Phase::Active {
                tokio::select! {
                    biased;
                    _ = wait::for_shutdown(&mut shutdown) => return,
                    _ = phase.wait_for(|p| *p == Phase::Active) => {}
                }
                // The idle clock starts again from the wake-up.
                self.activity.touch();
                continue;
            }
            tokio::select! {
                biased;
                _ = wait::for_shutdown(&mut shutdown) => return,
                _ = self.activity.quiet_for(self.timeout) => {
                    self.phase.send_replace(Phase::Idle);
                }
            }
        }
    }
}

/// Waits until the pool is idle (forever when idleness is off).
pub(crate) async fn until_idle(phase: Option<&mut watch::Receiver<Phase>>) {
    match phase {
        Some(phase) => {
            let _ = phase.wait_for(|p| *p == Phase::Idle).await;
        }
        None => std::future::pending().await,
    }
}

/// Waits until the pool is no longer idle.
pub(crate) async fn until_awake(phase: &mut watch::Receiver<Phase>) {
    let _ = phase.wait_for(|p| *p != Phase::Idle).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn goes_idle_after_the_timeout_without_rpcs_and_wakes() {
        let idle = Arc::new(Idleness::new(Duration::from_secs(5)));
        let (stop, shutdown) = watch::channel(false);
        let task = tokio::spawn(Arc::clone(&idle).run(shutdown));
        let start = Instant::now();

        idle.activity.started();
        tokio::time::sleep(Duration::from_secs(7)).await;
        assert_eq!(idle.phase(), Phase::Active, "an RPC in flight is activity");
        idle.activity.ended();

        let mut phase = idle.watch();
        phase.wait_for(|p| *p == Phase::Idle).await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_secs(12));

        assert!(idle.wake());
        assert_eq!(idle.phase(), Phase::Waking);
        assert!(idle.settle());
        assert!(!idle.wake(), "an active pool does not make RPCs wait");

        stop.send_replace(true);
        task.await.unwrap();
    }
}
