//! The executor hyper spawns its connection and stream tasks on: tokio,
//! with every task tracked, so `Pool::shutdown` can wait until none is left.
//!
//! hyper's HTTP/2 client runs the socket-owning half of each connection in a
//! task of its own; without tracking, a pool could report itself shut down
//! while sockets were still open.

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
        // variant (the connection) makes every per-stream task ~1.4 KB,
        // and tokio moves a spawned future by value several times before
        // it settles in its task cell. Moving a box instead saves ~1,500
        // instructions per RPC (callgrind, docs/benchmarks.md).
        self.tracker.spawn(Box::pin(future));
    }
}
