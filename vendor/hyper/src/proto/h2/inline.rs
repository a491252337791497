//! The connection's future, and each request's body pipe and response
//! future, polled in the dispatcher's task instead of tasks of their own
//! (`client::conn::http2::Builder::connection_in_dispatch_task`).
//!
//! Why: with tasks of their own, every request crosses from the
//! dispatcher's task to the connection's (to open the stream), back (to
//! queue the body once the stream has capacity), to the connection's
//! again (to write it), and its response from the connection's task to a
//! task that waits for it and then to the caller. On a multi-threaded
//! runtime each of those hops may wake another worker, and a runtime that
//! has used up its LIFO slot does. In one task, the parts are polled in
//! turn until none has been woken, and only the caller is woken from it.
//!
//! The wire does not change: the connection writes what it has queued when
//! it is polled, as its own task would, so a request's HEADERS and its body
//! still go out in two writes unless `eager_last_chunk` is on too.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    task::{Context, Poll, Wake, Waker},
};

use atomic_waker::AtomicWaker;
use futures_core::Stream;
use futures_util::stream::FuturesUnordered;
use pin_project_lite::pin_project;

use super::client::{ConnTask, H2ClientFuture, PipeMap};
use crate::body::Body;
use crate::client::dispatch::SendWhen;
use crate::rt::bounds::{Http2ClientConnExec, Http2UpgradedExec};
use crate::rt::{Read, Write};

/// What the dispatcher's task polls besides the dispatcher itself. When
/// the dispatcher ends, or is dropped, what is left is handed to the
/// executor, as it would have been from the start, so that the connection
/// and the streams in flight still finish.
pub(super) struct Inline<B, T, E>
where
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    T: Read + Write + Unpin,
    E: Http2ClientConnExec<B, T>,
{
    /// `None` once the connection has ended (dropping it tells the
    /// dispatcher, through its `conn_eof`) or been handed off.
    conn: Option<Pin<Box<ConnTask<T, B>>>>,
    pub(super) requests: Requests<B, E>,
    task: Arc<TaskWake>,
    conn_part: Part,
    requests_part: Part,
    /// The dispatcher's own wakes: a new request, a stream opened, the
    /// connection's end.
    pub(super) dispatch_part: Part,
    exec: E,
}

/// Each request's futures that a task of its own would have polled: its
/// body pipe, while the body waits for capacity, and its response future,
/// until the response's head arrives.
pub(super) struct Requests<B, E>
where
    B: Body + 'static,
{
    futures: FuturesUnordered<LocalRequest<B, E>>,
    /// A future was pushed since `futures` was last polled: a push does
    /// not wake, and a new future must be polled once to register.
    pushed: bool,
}

impl<B: Body + 'static, E> Requests<B, E> {
    pub(super) fn push(&mut self, request: LocalRequest<B, E>) {
        self.futures.push(request);
        self.pushed = true;
    }
}

pin_project! {
    /// A request's future that runs in the dispatcher's task.
    #[project = LocalRequestProject]
    pub(crate) enum LocalRequest<B, E>
    where
        B: Body,
        B: 'static,
    {
        Pipe {
            #[pin]
            pipe: PipeMap<B>,
        },
        Send {
            #[pin]
            send_when: SendWhen<B, E>,
        },
    }
}

impl<B, E> Future for LocalRequest<B, E>
where
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: Http2UpgradedExec<B::Data>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.project() {
            LocalRequestProject::Pipe { pipe } => pipe.poll(cx),
            LocalRequestProject::Send { send_when } => send_when.poll(cx),
        }
    }
}

/// The requests' futures handed to the executor, as one future: it ends
/// when the last of them does. `pub` (in this private module), like
/// `PipeMap`, `SendWhen` and `ConnTask`: it is a field of the `pub` enum
/// `H2ClientFuture`, and rustc before 1.74 rejects a crate-private type
/// there (E0446); hyper's `rust-version` is 1.63.
#[allow(missing_debug_implementations)]
pub struct HandedOffRequests<B, E>
where
    B: Body + 'static,
{
    futures: FuturesUnordered<LocalRequest<B, E>>,
}

impl<B, E> Future for HandedOffRequests<B, E>
where
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: Http2UpgradedExec<B::Data>,
{
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // `FuturesUnordered` is `Unpin`; `None` once it is empty.
        while let Some(()) = futures_core::ready!(Pin::new(&mut self.futures).poll_next(cx)) {}
        Poll::Ready(())
    }
}

/// The task's side of the wakes: whether its poll is running, and its
/// waker. Each part's wake sets the part's flag, and wakes the task only
/// when the task is not polling: when it is, the poll loop sees the flag
/// and polls the part again before it returns. Waking a task from inside
/// its own poll makes tokio reschedule it at the back of its queue and
/// wake another worker for it.
struct TaskWake {
    polling: AtomicBool,
    waker: AtomicWaker,
}

/// One part's wake: a flag, and the task to wake.
struct PartWake {
    woken: AtomicBool,
    task: Arc<TaskWake>,
}

impl Wake for PartWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // SeqCst pairs with `settle`: either this sees `polling` false and
        // wakes the task, or `settle` sees `woken` true and polls again.
        self.woken.store(true, Ordering::SeqCst);
        if !self.task.polling.load(Ordering::SeqCst) {
            self.task.waker.wake();
        }
    }
}

/// A part's flag and the waker that sets it, built once.
pub(super) struct Part {
    wake: Arc<PartWake>,
    waker: Waker,
}

impl Part {
    fn new(task: &Arc<TaskWake>) -> Self {
        let wake = Arc::new(PartWake {
            // The first poll must happen: nothing has registered yet.
            woken: AtomicBool::new(true),
            task: Arc::clone(task),
        });
        Part {
            waker: Waker::from(Arc::clone(&wake)),
            wake,
        }
    }

    /// Takes the flag: whether the part must be polled.
    pub(super) fn take(&self) -> bool {
        self.wake.woken.swap(false, Ordering::SeqCst)
    }

    fn is_woken(&self) -> bool {
        self.wake.woken.load(Ordering::SeqCst)
    }

    pub(super) fn waker(&self) -> &Waker {
        &self.waker
    }
}

impl<B, T, E> Inline<B, T, E>
where
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    T: Read + Write + Unpin,
    E: Http2ClientConnExec<B, T>,
{
    pub(super) fn new(conn: ConnTask<T, B>, exec: E) -> Self {
        let task = Arc::new(TaskWake {
            polling: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        });
        Inline {
            conn: Some(Box::pin(conn)),
            requests: Requests {
                futures: FuturesUnordered::new(),
                pushed: false,
            },
            conn_part: Part::new(&task),
            requests_part: Part::new(&task),
            dispatch_part: Part::new(&task),
            task,
            exec,
        }
    }

    /// Starts the task's poll: until `settle`, the parts' wakes only set
    /// their flags.
    pub(super) fn begin(&self, task: &Waker) {
        self.task.polling.store(true, Ordering::SeqCst);
        self.task.waker.register(task);
    }

    /// Polls the connection if it was woken since its last poll.
    pub(super) fn poll_conn(&mut self) {
        if !self.conn_part.take() {
            return;
        }
        if let Some(conn) = self.conn.as_mut() {
            let mut cx = Context::from_waker(&self.conn_part.waker);
            if conn.as_mut().poll(&mut cx).is_ready() {
                self.conn = None;
            }
        }
    }

    /// Polls the requests' futures that were woken or are new.
    pub(super) fn poll_requests(&mut self) {
        let requests = &mut self.requests;
        if !self.requests_part.take() && !requests.pushed {
            return;
        }
        requests.pushed = false;
        let mut cx = Context::from_waker(&self.requests_part.waker);
        // Drains the ready ones; `FuturesUnordered` yields (waking this
        // part) after a bounded number of polls, so this loop is bounded.
        while let Poll::Ready(Some(())) = Pin::new(&mut requests.futures).poll_next(&mut cx) {}
    }

    /// Whether a part was woken since it was last polled.
    pub(super) fn is_woken(&self) -> bool {
        (self.conn.is_some() && self.conn_part.is_woken())
            || self.requests_part.is_woken()
            || self.requests.pushed
            || self.dispatch_part.is_woken()
    }

    /// Ends the task's poll. Returns whether a part was woken in the
    /// meantime, in which case the caller polls again.
    pub(super) fn settle(&self) -> bool {
        self.task.polling.store(false, Ordering::SeqCst);
        self.is_woken()
    }
}

impl<B, T, E> Drop for Inline<B, T, E>
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
        if !self.requests.futures.is_empty() {
            let futures = std::mem::replace(&mut self.requests.futures, FuturesUnordered::new());
            self.exec.execute_h2_future(H2ClientFuture::Requests {
                requests: HandedOffRequests { futures },
            });
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
