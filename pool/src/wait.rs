//! Small waiting helpers shared by the pool's tasks, and
//! [`ReadyChanges`], the signal RPCs waiting for a connection watch.
//!
//! A leaf: it imports nothing from the pool.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, Wake, Waker},
};

use futures_util::task::AtomicWaker;

use tokio::{
    sync::watch,
    time::{Instant, sleep_until},
};

/// Resolves once the pool's shutdown signal is set.
pub(crate) async fn for_shutdown(signal: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, which only happens with the pool.
    let _ = signal.wait_for(|shutting_down| *shutting_down).await;
}

/// The generation RPCs waiting for a connection watch, bumped whenever they
/// should look again: a connection became ready, a waking pool settled,
/// shutdown began, a full connection has room again, a replacement dial
/// ended, an endpoint returned to rotation. Cheap to clone: every clone
/// bumps the same count.
#[derive(Debug, Clone)]
pub(crate) struct ReadyChanges(Arc<watch::Sender<u64>>);

impl Default for ReadyChanges {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(0)))
    }
}

impl ReadyChanges {
    /// Wakes every waiter (sending on a `watch` draws nothing from tokio's
    /// RNG; only waiting does).
    pub(crate) fn bump(&self) {
        self.0.send_modify(|generation| *generation += 1);
    }

    /// A receiver for a waiter.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

/// Sleeps until `at`, or forever when there is nothing to wake up for.
pub(crate) async fn until_some(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A future polled only when it asked to be: after it registered a waker
/// and that waker was woken (and on the first poll).
///
/// Why: a task that `select!`s over one busy future and several quiet ones
/// polls every branch each time it wakes. A connection's slot task wakes on
/// every RPC (it drives hyper's dispatcher), and its quiet waits (shutdown,
/// GOAWAY, idle, age, ...) cost ~800 instructions per RPC to poll for
/// nothing (callgrind, docs/benchmarks.md). Gated, they are polled only
/// when one of them was woken. The task, its wakes and the order its
/// branches are looked at are unchanged, so simulated runs are too.
pub(crate) struct WhenWoken<F> {
    inner: Pin<Box<F>>,
    flag: Arc<WakeFlag>,
    /// The waker handed to `inner`: the flag's, built once.
    waker: Waker,
}

/// Set by the inner future's waker; passes the wake on to the task.
#[derive(Debug)]
struct WakeFlag {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for WakeFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl<F: Future> WhenWoken<F> {
    pub(crate) fn new(inner: F) -> Self {
        let flag = Arc::new(WakeFlag {
            // The first poll must happen: nothing has registered yet.
            woken: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        Self {
            inner: Box::pin(inner),
            waker: Waker::from(Arc::clone(&flag)),
            flag,
        }
    }
}

impl<F: Future> Future for WhenWoken<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // Registered before the flag is read, so a wake in between is not
        // lost: it either sets the flag we are about to read, or wakes the
        // waker just registered.
        self.flag.task.register(cx.waker());
        if !self.flag.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let this = &mut *self;
        let mut inner_cx = Context::from_waker(&this.waker);
        this.inner.as_mut().poll(&mut inner_cx)
    }
}

#[cfg(test)]
mod tests {
    use std::{pin::pin, sync::atomic::AtomicUsize};

    use super::*;

    /// Counts its polls; ready once `notify` was notified.
    async fn counted(polls: &AtomicUsize, notify: &tokio::sync::Notify) {
        let mut notified = pin!(notify.notified());
        std::future::poll_fn(|cx| {
            polls.fetch_add(1, Ordering::Relaxed);
            notified.as_mut().poll(cx)
        })
        .await
    }

    #[test]
    fn the_inner_future_is_polled_first_and_then_only_when_woken() {
        let polls = AtomicUsize::new(0);
        let notify = tokio::sync::Notify::new();
        let mut gated = pin!(WhenWoken::new(counted(&polls, &notify)));
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(gated.as_mut().poll(&mut cx), Poll::Pending);
        assert_eq!(polls.load(Ordering::Relaxed), 1, "the first poll goes in");
        for _ in 0..10 {
            assert_eq!(gated.as_mut().poll(&mut cx), Poll::Pending);
        }
        assert_eq!(polls.load(Ordering::Relaxed), 1, "no wake, no poll");
        notify.notify_waiters();
        assert_eq!(gated.as_mut().poll(&mut cx), Poll::Ready(()));
        assert_eq!(polls.load(Ordering::Relaxed), 2);
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_wake_reaches_the_task() {
        let at = Instant::now() + std::time::Duration::from_secs(3);
        WhenWoken::new(sleep_until(at)).await;
        assert_eq!(Instant::now(), at);
    }
}
