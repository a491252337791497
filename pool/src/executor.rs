//! The executor hyper spawns its connection and stream tasks on: tokio,
//! with every task tracked, so `Pool::shutdown` can wait until none is left.
//!
//! The slot's task drives its connection's socket and streams itself
//! (`connection_in_dispatch_task`, conn/dial.rs) until it drops hyper's
//! dispatcher; then hyper spawns what is still open here, so the streams in
//! flight finish. Without tracking, a pool could report itself shut down
//! while those sockets were still open.

use std::future::Future;

use tokio_util::task::TaskTracker;

#[derive(Clone, Default)]
pub(crate) struct TrackedExecutor {
    tracker: TaskTracker,
}

impl TrackedExecutor {
    /// Waits until every tracked task has ended.
    pub(crate) async fn wait(&self) {
        self.tracker.close();
        self.tracker.wait().await;
    }

    /// How many tracked tasks are still alive.
    pub(crate) fn alive(&self) -> usize {
        self.tracker.len()
    }
}

impl<F> hyper::rt::Executor<F> for TrackedExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        // Boxed first: hyper's task futures are one enum whose largest
        // variant (the connection) makes every task ~1.4 KB, and tokio
        // moves a spawned future by value several times before it settles
        // in its task cell. (It saved ~1,500 instructions per RPC when
        // hyper spawned two tasks per stream; docs/benchmarks.md.)
        self.tracker.spawn(Box::pin(future));
    }
}
