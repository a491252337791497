//! Test doubles for the routing core: a sender that only says which
//! connection it belongs to, and ready sets built from `(conn, endpoint)`
//! pairs. No socket, no runtime, no simulator.

use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{ReadyConn, ReadySet};
use crate::{
    endpoint::EndpointId,
    ids::ConnId,
    inflight::{Hooks, InFlight, InFlightGuard},
};

/// A request sender that names its connection, so a test can check that
/// the sender handed out is the chosen connection's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fake(pub(super) ConnId);

/// Connection `id` of endpoint `endpoint`, with stream cap `cap`.
pub(super) fn conn(id: u64, endpoint: u32, cap: Option<usize>) -> ReadyConn<Fake> {
    ReadyConn {
        conn: ConnId(id),
        endpoint: EndpointId(endpoint),
        sender: Fake(ConnId(id)),
        in_flight: Arc::new(InFlight::new(Hooks {
            cap,
            ..Hooks::default()
        })),
    }
}

/// A ready set of `(conn, endpoint)` pairs, no stream caps.
pub(super) fn set(conns: &[(u64, u32)]) -> ReadySet<Fake> {
    let mut ready = ReadySet::default();
    for &(id, endpoint) in conns {
        ready.insert(conn(id, endpoint, None));
    }
    ready
}

/// Puts `n` RPCs on connection `id`; they stay until the guards drop.
pub(super) fn load(ready: &ReadySet<Fake>, id: u64, n: usize) -> Vec<InFlightGuard> {
    let c = ready.get(ConnId(id)).expect("a ready connection");
    (0..n).map(|_| c.in_flight.acquire()).collect()
}

pub(super) fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}
