//! The lifecycle of one connection, as an explicit state machine.
//!
//! ```text
//!                 handshake done           drain (a DrainCause)
//!   Connecting ─────────────────▶ Ready ─────────────────▶ Draining
//!        │                          │                          │
//!        │ connect failed/timeout   │ keepalive timeout,       │ streams done,
//!        │                          │ peer closed, error       │ grace expired
//!        ▼                          ▼                          ▼
//!      Closed ◀──────────────────────────────────────────────────
//! ```
//!
//! A connection drains for one of [`DrainCause`]'s reasons: shutdown, max
//! age, idle, its endpoint removed, scale down, a GOAWAY from the server,
//! or its stream ids used up. It closes with a [`CloseCause`]; one that
//! drained for a reason other than shutdown closes as `Retired(cause)`.
//!
//! `Closed` is terminal: a reconnect is a new connection with a new id.
//! Transitions are methods named after the event that causes them; an event
//! that makes no sense in the current state is an [`IllegalTransition`], never
//! a silent no-op, so a bug in the driver shows up in tests.

use crate::event::{CloseCause, DrainCause};

/// Where a connection is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnState {
    /// Dialling and handshaking; takes no RPCs yet.
    Connecting,
    /// Takes new RPCs.
    Ready,
    /// Takes no new RPCs; in-flight RPCs may finish.
    Draining(DrainCause),
    /// Gone for good.
    Closed(CloseCause),
}

/// An event arrived in a state where it cannot happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("illegal connection transition: `{event}` in state {from:?}")]
pub struct IllegalTransition {
    pub from: ConnState,
    pub event: &'static str,
}

impl ConnState {
    /// The HTTP/2 session is established.
    pub fn on_ready(&mut self) -> Result<(), IllegalTransition> {
        match self {
            ConnState::Connecting => {
                *self = ConnState::Ready;
                Ok(())
            }
            _ => Err(self.illegal("ready")),
        }
    }

    /// Stop taking new RPCs.
    pub fn on_drain(&mut self, cause: DrainCause) -> Result<(), IllegalTransition> {
        match self {
            ConnState::Ready => {
                *self = ConnState::Draining(cause);
                Ok(())
            }
            _ => Err(self.illegal("drain")),
        }
    }

    /// The connection is gone, for `cause`.
    pub fn on_closed(&mut self, cause: CloseCause) -> Result<(), IllegalTransition> {
        let legal = match (&*self, &cause) {
            (ConnState::Closed(_), _) => false,
            // Only a connection that never became ready can fail to connect.
            (ConnState::Connecting, _) => true,
            (_, CloseCause::ConnectFailed(_)) => false,
            (ConnState::Ready | ConnState::Draining(_), _) => true,
        };
        if !legal {
            return Err(self.illegal("closed"));
        }
        *self = ConnState::Closed(cause);
        Ok(())
    }

    /// Whether a new RPC may be sent on a connection in this state.
    pub fn takes_new_rpcs(&self) -> bool {
        matches!(self, ConnState::Ready)
    }

    fn illegal(&self, event: &'static str) -> IllegalTransition {
        IllegalTransition {
            from: self.clone(),
            event,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ConnectError;

    #[test]
    fn happy_path_and_shutdown() {
        let mut s = ConnState::Connecting;
        s.on_ready().unwrap();
        assert!(s.takes_new_rpcs());
        s.on_drain(DrainCause::Shutdown).unwrap();
        assert!(!s.takes_new_rpcs());
        s.on_closed(CloseCause::Shutdown).unwrap();
        assert_eq!(s, ConnState::Closed(CloseCause::Shutdown));
    }

    #[test]
    fn closed_is_terminal() {
        let mut s = ConnState::Closed(CloseCause::KeepaliveTimeout);
        assert!(s.on_ready().is_err());
        assert!(s.on_drain(DrainCause::Shutdown).is_err());
        assert!(s.on_closed(CloseCause::PeerClosed).is_err());
    }

    #[test]
    fn connect_failure_only_before_ready() {
        let failed = CloseCause::ConnectFailed(ConnectError::Timeout);
        let mut s = ConnState::Connecting;
        assert!(s.clone().on_closed(failed.clone()).is_ok());
        s.on_ready().unwrap();
        assert!(s.on_closed(failed).is_err());
        assert!(s.on_ready().is_err(), "ready twice is illegal");
    }
}
