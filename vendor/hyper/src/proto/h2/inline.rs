//! The connection's future polled in the dispatcher's task instead of a
//! task of its own (`client::conn::http2::Builder::connection_in_dispatch_task`).
//!
//! Why: with a task of its own, every request crosses from the dispatcher's
//! task to the connection's, and back for its response. On a multi-threaded
//! runtime that hop is where the request's HEADERS get written before its
//! body is queued (two writes), where the two tasks contend for h2's stream
//! lock when they run on two threads, and where a runtime that has used up
//! its LIFO slot wakes another worker. In one task, the frames the
//! dispatcher queues are written in the same poll.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    task::{Context, Wake, Waker},
};

use atomic_waker::AtomicWaker;

use super::client::{ConnTask, H2ClientFuture};
use crate::body::Body;
use crate::rt::bounds::Http2ClientConnExec;
use crate::rt::{Read, Write};

/// The connection's future, owned by the dispatcher. When the dispatcher
/// ends, or is dropped, the connection is handed to the executor, as it
/// would have been from the start, so that streams in flight still finish.
pub(super) struct InlineConn<B, T, E>
where
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    T: Read + Write + Unpin,
    E: Http2ClientConnExec<B, T>,
{
    /// `None` once the connection has ended (dropping it tells the
    /// dispatcher, through its `conn_eof`) or been handed off.
    conn: Option<Pin<Box<ConnTask<T, B>>>>,
    wake: Arc<InlineWake>,
    /// `wake` as a `Waker`, built once.
    waker: Waker,
    exec: E,
}

/// Records that the connection was woken, and wakes the dispatcher's task
/// unless that task is polling: then the poll loop sees the flag and polls
/// the connection again before it returns. Waking a task from inside its
/// own poll makes tokio reschedule it at the back of its queue and wake
/// another worker for it. (The dispatcher's own wakers, which the
/// connection's poll may still wake, as when a stream waits to open at
/// the peer's limit, are the task's: those wakes still do that.)
struct InlineWake {
    woken: AtomicBool,
    polling: AtomicBool,
    task: AtomicWaker,
}

impl Wake for InlineWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // SeqCst pairs with `settle`: either this sees `polling` false and
        // wakes the task, or `settle` sees `woken` true and polls again.
        self.woken.store(true, Ordering::SeqCst);
        if !self.polling.load(Ordering::SeqCst) {
            self.task.wake();
        }
    }
}

impl<B, T, E> InlineConn<B, T, E>
where
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    T: Read + Write + Unpin,
    E: Http2ClientConnExec<B, T>,
{
    pub(super) fn new(conn: ConnTask<T, B>, exec: E) -> Self {
        let wake = Arc::new(InlineWake {
            // The first poll must happen: nothing has registered yet.
            woken: AtomicBool::new(true),
            polling: AtomicBool::new(false),
            task: AtomicWaker::new(),
        });
        InlineConn {
            conn: Some(Box::pin(conn)),
            waker: Waker::from(Arc::clone(&wake)),
            wake,
            exec,
        }
    }

    /// Polls the connection once if it was woken since its last poll.
    /// Until `settle`, its wakes only set the flag: the caller is polling.
    pub(super) fn poll(&mut self, task: &Waker) {
        self.wake.polling.store(true, Ordering::SeqCst);
        self.wake.task.register(task);
        if !self.wake.woken.swap(false, Ordering::SeqCst) {
            return;
        }
        if let Some(conn) = self.conn.as_mut() {
            if conn
                .as_mut()
                .poll(&mut Context::from_waker(&self.waker))
                .is_ready()
            {
                self.conn = None;
            }
        }
    }

    /// Whether the connection was woken since `poll` and must be polled
    /// again (the dispatcher queued frames, or a wake came from elsewhere).
    pub(super) fn is_woken(&self) -> bool {
        self.conn.is_some() && self.wake.woken.load(Ordering::SeqCst)
    }

    /// Ends the caller's poll. Returns whether the connection was woken in
    /// the meantime, in which case the caller polls it again.
    pub(super) fn settle(&self) -> bool {
        self.wake.polling.store(false, Ordering::SeqCst);
        self.is_woken()
    }
}

impl<B, T, E> Drop for InlineConn<B, T, E>
where
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    T: Read + Write + Unpin,
    E: Http2ClientConnExec<B, T>,
{
    fn drop(&mut self) {
        if let Some(task) = self.conn.take() {
            self.exec
                .execute_h2_future(H2ClientFuture::HandedOff { task });
        }
    }
}

/// `Sync` whatever `T` is, because it gives out only `&mut T` (the
/// `sync_wrapper` crate's type, in a few lines): nothing can reach `T`
/// through a shared reference, so sharing the wrapper shares nothing.
pub(super) struct SyncWrapper<T>(T);

impl<T> SyncWrapper<T> {
    pub(super) fn new(value: T) -> Self {
        SyncWrapper(value)
    }

    pub(super) fn get_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

// SAFETY: a `&SyncWrapper<T>` gives no access to the `T` inside (there is
// no `&self` method), so sharing one across threads cannot share a `T`.
unsafe impl<T> Sync for SyncWrapper<T> {}
