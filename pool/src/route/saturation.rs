//! Saturation: whether every open connection is full, and whether it will
//! stay full until an RPC ends or only until a server says its limit.
//!
//! An RPC that finds no room waits (`rpc/wait_for_ready.rs`) rather than
//! letting h2 queue it; when the fullness is settled it also asks for an
//! extra connection (`scale`). A connection full only at the provisional
//! limit assumed before its server's first SETTINGS must not trigger that:
//! the server will most likely take more, a round trip away.

use super::ready::ReadySet;
use crate::{endpoint::EndpointId, ids::ConnId};

/// Why every ready connection is full (`ReadySet::saturated`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Saturated {
    /// Each is at its capacity: room comes when an RPC ends, or from an
    /// extra connection.
    Settled,
    /// Some are only at the provisional limit assumed until their server's
    /// first SETTINGS, a round trip away: wait, do not scale up.
    Provisional,
}

impl<S> ReadySet<S> {
    /// Whether some ready connection (not in `avoid`, its endpoint not in
    /// `out`) exists but every one is at its capacity, and if so, whether
    /// that is for good (until an RPC ends) rather than only until a server
    /// says its limit. `None`: there is room, or no such connection at all.
    pub(crate) fn saturated(&self, avoid: &[ConnId], out: &[EndpointId]) -> Option<Saturated> {
        let mut open = self
            .conns
            .iter()
            .filter(|c| !avoid.contains(&c.conn) && !out.contains(&c.endpoint))
            .peekable();
        open.peek()?;
        let mut settled = true;
        for c in open {
            if c.in_flight.has_room() {
                return None;
            }
            settled &= c.in_flight.settled_full();
        }
        Some(if settled {
            Saturated::Settled
        } else {
            Saturated::Provisional
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::{conn, load};
    use super::*;
    use crate::inflight::PROVISIONAL_PEER_LIMIT;

    #[test]
    fn full_at_the_cap_is_settled_and_room_anywhere_is_not_saturated() {
        let mut ready = ReadySet::default();
        assert_eq!(ready.saturated(&[], &[]), None, "nothing open: not full");
        ready.insert(conn(1, 0, Some(1)));
        ready.insert(conn(2, 1, Some(1)));
        let _one = load(&ready, 1, 1);
        assert_eq!(ready.saturated(&[], &[]), None, "room on 2");
        let _two = load(&ready, 2, 1);
        assert_eq!(ready.saturated(&[], &[]), Some(Saturated::Settled));
    }

    #[test]
    fn avoided_and_out_of_rotation_connections_do_not_count() {
        // Connection 2 has room, but the RPC avoids it (or its endpoint is
        // out): what it may use is full.
        let mut ready = ReadySet::default();
        ready.insert(conn(1, 0, Some(1)));
        ready.insert(conn(2, 1, Some(1)));
        let _one = load(&ready, 1, 1);
        let avoid = [ConnId(2)];
        assert_eq!(ready.saturated(&avoid, &[]), Some(Saturated::Settled));
        assert_eq!(
            ready.saturated(&[], &[EndpointId(1)]),
            Some(Saturated::Settled)
        );
        assert_eq!(ready.saturated(&[ConnId(1)], &[EndpointId(1)]), None);
    }

    #[test]
    fn full_at_the_provisional_limit_is_provisional_until_settings() {
        // No cap: full only at the limit assumed before the server's first
        // SETTINGS. Growing now would dial for room the server may give.
        let mut ready = ReadySet::default();
        ready.insert(conn(1, 0, None));
        let _all = load(&ready, 1, PROVISIONAL_PEER_LIMIT);
        assert_eq!(ready.saturated(&[], &[]), Some(Saturated::Provisional));
        let settings = PROVISIONAL_PEER_LIMIT as u32;
        ready
            .get(ConnId(1))
            .unwrap()
            .in_flight
            .peer_settings(Some(settings));
        assert_eq!(ready.saturated(&[], &[]), Some(Saturated::Settled));
    }
}
