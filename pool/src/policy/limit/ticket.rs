//! The values the limiter hands out: permits, waiter ids, and the answers
//! to "may this call go?".

use super::error::Rejection;

/// One in-flight slot.
///
/// It is neither `Clone` nor `Copy` and only [`Limiter::release`]
/// consumes it, so a slot cannot be released twice; an async wrapper holds
/// it in an `Option` and releases it from `Drop`, so it cannot leak either.
///
/// [`Limiter::release`]: super::Limiter::release
#[must_use = "a permit holds a concurrency slot until it is passed to Limiter::release"]
#[derive(Debug, PartialEq, Eq)]
pub struct Permit {
    id: u64,
}

impl Permit {
    pub(super) fn new(id: u64) -> Self {
        Permit { id }
    }

    /// A number unique among this limiter's permits, for logs and events.
    pub fn id(&self) -> u64 {
        self.id
    }
}

/// Names one queued caller. Ids grow in queue order, so comparing two ids
/// says which caller queued first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WaiterId(pub(super) u64);

/// The answer to [`Limiter::try_acquire`](super::Limiter::try_acquire).
#[must_use = "an admitted permit must be released and a queued waiter polled or cancelled"]
#[derive(Debug, PartialEq, Eq)]
pub enum Acquire {
    /// The call may go now.
    Admitted(Permit),
    /// The call waits; its fate arrives later as a [`Resolved`] naming this id.
    Queued(WaiterId),
    /// The call must fail now.
    Rejected(Rejection),
}

/// What happened to a queued caller.
#[must_use = "an admitted permit must be handed to its waiter or released"]
#[derive(Debug, PartialEq, Eq)]
pub enum Resolved {
    /// The waiter got a permit and may go.
    Admitted {
        /// Who was waiting.
        waiter: WaiterId,
        /// Its permit.
        permit: Permit,
    },
    /// The waiter's give-up time passed first.
    GaveUp {
        /// Who was waiting.
        waiter: WaiterId,
        /// [`Rejection::QueueTimeout`] or [`Rejection::DeadlineExceeded`].
        rejection: Rejection,
    },
}

impl Resolved {
    /// The waiter this is about.
    pub fn waiter(&self) -> WaiterId {
        match self {
            Resolved::Admitted { waiter, .. } | Resolved::GaveUp { waiter, .. } => *waiter,
        }
    }
}
