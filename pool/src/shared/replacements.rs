//! [`Replacements`]: how many connections the server sent away have a
//! replacement on its way, each counted by a [`Replacing`] guard from the
//! moment the GOAWAY is read until the slot's replacement dial ends.
//!
//! While there are any, the pool is CONNECTING rather than failing, and a
//! fail-fast RPC that finds no ready connection waits for them. Owned by
//! the pool's tracker: the connection's frame sink (`conn/frames.rs`)
//! starts the count, the slot holds it, `wait_for_ready` reads it.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use crate::wait::ReadyChanges;

/// How many connections sent away have a replacement on its way.
#[derive(Debug)]
pub(crate) struct Replacements {
    count: AtomicUsize,
    /// The pool's `ready_changes`: bumped when a replacement dial ends,
    /// so RPCs that waited for it look again.
    ready_changes: ReadyChanges,
}

impl Replacements {
    pub(crate) fn new(ready_changes: ReadyChanges) -> Self {
        Self {
            count: AtomicUsize::new(0),
            ready_changes,
        }
    }

    /// Whether a replacement is on its way: gRPC's CONNECTING.
    pub(crate) fn any(&self) -> bool {
        self.count.load(Ordering::Acquire) > 0
    }

    /// A connection was sent away; counted until the guard drops.
    pub(crate) fn begin(self: &Arc<Self>) -> Replacing {
        self.count.fetch_add(1, Ordering::AcqRel);
        Replacing(Arc::clone(self))
    }
}

/// One replacement on its way, counted in [`Replacements`] until dropped
/// (its dial ended, or there will be none).
#[derive(Debug)]
pub(crate) struct Replacing(Arc<Replacements>);

impl Drop for Replacing {
    fn drop(&mut self) {
        let before = self.0.count.fetch_sub(1, Ordering::AcqRel);
        debug_assert!(before > 0, "replacement count underflow");
        self.0.ready_changes.bump();
    }
}
