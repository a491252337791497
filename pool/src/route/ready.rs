//! The ready set: the connections RPCs may be routed to, sorted by id.
//!
//! Only `Ready` connections are here: leaving `Ready` removes the entry in
//! the same step (`conn/lifecycle.rs`), so no RPC is ever routed to a
//! connection known dead or draining. The order is by [`ConnId`], never by
//! insertion, so that picking by index is deterministic for a seed.

use std::sync::Arc;

use crate::{
    endpoint::EndpointId,
    ids::ConnId,
    inflight::{InFlight, InFlightGuard},
};

/// A connection RPCs may be routed to, sending with `S`.
pub(crate) struct ReadyConn<S> {
    pub(crate) conn: ConnId,
    pub(crate) endpoint: EndpointId,
    /// What an RPC sends with (cloned for each one).
    pub(crate) sender: S,
    pub(crate) in_flight: Arc<InFlight>,
}

/// The ready connections, sorted by `ConnId`.
pub(crate) struct ReadySet<S> {
    pub(super) conns: Vec<ReadyConn<S>>,
}

impl<S> Default for ReadySet<S> {
    fn default() -> Self {
        Self { conns: Vec::new() }
    }
}

impl<S: Clone> ReadySet<S> {
    /// Adds a connection that became ready. Its id is new to the set.
    pub(crate) fn insert(&mut self, entry: ReadyConn<S>) {
        let at = self.conns.partition_point(|c| c.conn < entry.conn);
        debug_assert!(self.conns.get(at).is_none_or(|c| c.conn != entry.conn));
        self.conns.insert(at, entry);
        debug_assert!(self.conns.is_sorted_by_key(|c| c.conn));
    }

    /// Removes `conn`; returns whether it was there.
    pub(crate) fn remove(&mut self, conn: ConnId) -> bool {
        match self.conns.binary_search_by_key(&conn, |c| c.conn) {
            Ok(at) => {
                self.conns.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    /// Removes every connection of `endpoint` (it was removed from the
    /// pool; its slots drain those connections next).
    pub(crate) fn remove_endpoint(&mut self, endpoint: EndpointId) {
        self.conns.retain(|c| c.endpoint != endpoint);
    }

    pub(crate) fn len(&self) -> usize {
        self.conns.len()
    }

    /// The connection `conn`, if it is ready.
    pub(super) fn get(&self, conn: ConnId) -> Option<&ReadyConn<S>> {
        let at = self.conns.binary_search_by_key(&conn, |c| c.conn).ok()?;
        Some(&self.conns[at])
    }

    /// A stream for a health check of `endpoint`: on its ready connection
    /// with the lowest id that has room (no RNG draw, so checks change no
    /// RPC's pick), counted like an RPC against that connection's capacity.
    /// `None` when the endpoint has no ready connection with room.
    pub(crate) fn probe_of(&self, endpoint: EndpointId) -> Option<(S, InFlightGuard)> {
        self.conns
            .iter()
            .find(|c| c.endpoint == endpoint && c.in_flight.has_room())
            .map(|c| (c.sender.clone(), c.in_flight.acquire_probe()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::{Fake, conn, set};
    use super::*;

    #[test]
    fn kept_in_id_order_whatever_the_order_connections_become_ready() {
        // Picking is by index, so the order must depend on ids alone for a
        // seed to give the same picks however the dials raced.
        let mut ready = ReadySet::default();
        for id in [5, 1, 3] {
            ready.insert(conn(id, 0, None));
        }
        let ids: Vec<u64> = ready.conns.iter().map(|c| c.conn.0).collect();
        assert_eq!(ids, [1, 3, 5]);
    }

    #[test]
    fn removes_one_connection_or_a_whole_endpoint() {
        let mut ready = set(&[(1, 0), (2, 1), (3, 0), (4, 1)]);
        assert!(ready.remove(ConnId(2)));
        assert!(!ready.remove(ConnId(2)), "already gone");
        assert_eq!(ready.len(), 3);
        ready.remove_endpoint(EndpointId(0));
        let ids: Vec<u64> = ready.conns.iter().map(|c| c.conn.0).collect();
        assert_eq!(ids, [4]);
        assert!(ready.get(ConnId(4)).is_some() && ready.get(ConnId(1)).is_none());
    }

    #[test]
    fn a_probe_goes_to_the_lowest_id_with_room_and_takes_a_stream() {
        // Connection 1 is full (cap 1, one RPC on it): the probe must skip
        // it for 3, the next of endpoint 0, and never go to endpoint 1.
        let mut ready = ReadySet::default();
        ready.insert(conn(1, 0, Some(1)));
        ready.insert(conn(2, 1, None));
        ready.insert(conn(3, 0, Some(1)));
        let _rpc = ready.conns[0].in_flight.acquire();
        let (sender, stream) = ready.probe_of(EndpointId(0)).expect("room on 3");
        assert_eq!(sender, Fake(ConnId(3)));
        let three = &ready.conns[2].in_flight;
        assert_eq!((three.load(), three.rpcs()), (1, 0), "a stream, not an RPC");
        assert!(ready.probe_of(EndpointId(0)).is_none(), "both full now");
        drop(stream);
        assert_eq!(three.load(), 0);
        assert!(ready.probe_of(EndpointId(7)).is_none(), "no such endpoint");
    }
}
