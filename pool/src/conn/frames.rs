//! [`PeerFrames`]: what one connection's server said in its frames, and
//! what the pool does about it. The sink of `wire`'s frame reader: the
//! server's stream limit goes to the connection's in-flight count, its first
//! GOAWAY is kept for the slot and starts the count of the replacement it
//! is owed.

use std::{
    pin::pin,
    sync::{Arc, Mutex},
};

use tokio::sync::Notify;

use crate::{
    inflight::InFlight,
    shared::{Replacements, Replacing},
    wire::{Frame, FrameSink, Goaway},
};

/// What one connection's server has said, shared between the byte stream
/// that reads it and the slot task that acts on it.
#[derive(Debug)]
pub(crate) struct PeerFrames {
    /// The first GOAWAY: the one that matters (a graceful shutdown's
    /// second GOAWAY only lowers the last-stream-id).
    goaway: Mutex<Option<Goaway>>,
    goaway_notify: Notify,
    /// Takes the server's stream limit.
    in_flight: Arc<InFlight>,
    replacements: Arc<Replacements>,
    /// Counted from the moment the GOAWAY is read until the slot takes it
    /// (to hold while it dials the replacement) or the connection ends.
    replacing: Mutex<Option<Replacing>>,
}

impl PeerFrames {
    pub(crate) fn new(in_flight: Arc<InFlight>, replacements: Arc<Replacements>) -> Self {
        Self {
            goaway: Mutex::new(None),
            goaway_notify: Notify::new(),
            in_flight,
            replacements,
            replacing: Mutex::new(None),
        }
    }

    /// The count of this connection's replacement, from its GOAWAY on;
    /// `None` if it was not sent away (or it was taken already).
    pub(crate) fn take_replacing(&self) -> Option<Replacing> {
        self.replacing
            .lock()
            .expect("replacing lock poisoned")
            .take()
    }

    /// Resolves with the server's first GOAWAY. Takes an `Arc` so the
    /// future borrows nothing (hyper's executor needs `Send` futures for
    /// every lifetime).
    pub(crate) async fn goaway(self: Arc<Self>) -> Goaway {
        loop {
            let mut notified = pin!(self.goaway_notify.notified());
            // Registered before checking, so a GOAWAY in between is seen.
            notified.as_mut().enable();
            if let Some(goaway) = self.received_goaway() {
                return goaway;
            }
            notified.await;
        }
    }

    /// The server's first GOAWAY, if one came.
    pub(crate) fn received_goaway(&self) -> Option<Goaway> {
        self.goaway.lock().expect("goaway lock poisoned").clone()
    }
}

impl FrameSink for PeerFrames {
    /// Records what a frame says: the server's stream limit, or its first
    /// GOAWAY (from which a replacement is owed).
    fn frame(&self, frame: Frame) {
        match frame {
            Frame::Settings(limit) => self.in_flight.peer_settings(limit),
            Frame::Goaway(goaway) => {
                let mut first = self.goaway.lock().expect("goaway lock poisoned");
                if first.is_none() {
                    *first = Some(goaway);
                    *self.replacing.lock().expect("replacing lock poisoned") =
                        Some(self.replacements.begin());
                    self.goaway_notify.notify_waiters();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{wait::ReadyChanges, wire::FrameReader};

    fn goaway(last: u32) -> Vec<u8> {
        let mut f = vec![0, 0, 8, 0x7, 0, 0, 0, 0, 0];
        f.extend(last.to_be_bytes());
        f.extend(0u32.to_be_bytes());
        f
    }

    #[tokio::test]
    async fn the_first_goaway_is_kept_and_wakes_a_later_waiter() {
        let replacements = Arc::new(Replacements::new(ReadyChanges::default()));
        let frames = PeerFrames::new(Arc::new(InFlight::default()), Arc::clone(&replacements));
        let mut reader = FrameReader::default();
        let mut bytes = goaway(0x7fff_ffff);
        bytes.extend(goaway(5));
        reader.feed(&bytes, &mut |frame| frames.frame(frame));
        assert!(
            replacements.any(),
            "a replacement is owed from the GOAWAY on"
        );
        let frames = Arc::new(frames);
        assert_eq!(
            Arc::clone(&frames).goaway().await.last_stream_id,
            0x7fff_ffff
        );
        drop(frames.take_replacing());
        assert!(!replacements.any());
    }
}
