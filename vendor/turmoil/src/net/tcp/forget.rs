//! Forgetting a connection without telling the peer (squall fork).
//!
//! A NAT or stateful firewall whose flow entry expires, or a host that
//! rebooted, has no state for a connection its peer still believes in.
//! The peer learns nothing until it sends: [`crate::net::TcpStream::forget`]
//! removes the local socket without a FIN or RST, and the next segment of
//! the flow that arrives is either answered with a RST (a host without the
//! socket; an AWS NAT gateway) or dropped without an answer (a firewall
//! that drops packets of unknown flows; GCP Cloud NAT).

/// What happens to segments of a forgotten connection that arrive later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forgotten {
    /// Each is answered with a RST, as by any host without the socket.
    Reset,
    /// Each is dropped without an answer.
    Dropped,
}

/// Most forgotten flows a host remembers to drop; the oldest goes first.
/// Each is a socket pair, so the bound keeps a long run's memory flat.
pub(crate) const MAX_DROPPED_FLOWS: usize = 4096;
