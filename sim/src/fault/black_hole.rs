//! Black hole: every packet between two hosts silently vanishes.
//!
//! **Real-world event.** A NAT or load balancer forgets a flow, a firewall
//! starts dropping it, a cable or VM network goes away without telling
//! anyone. Neither end gets a RST or a FIN: writes are accepted, reads never
//! return. The connection is a "zombie" until something times out.
//!
//! **Turmoil mechanism.** `Sim::partition(a, b)` drops every message both ways;
//! `Sim::repair(a, b)` heals the link. Turmoil's TCP has no ACKs and no
//! retransmission, so a segment dropped during the partition is gone for
//! good: a connection that lost data stays wedged even after the repair,
//! like a real connection whose peer has since dropped its state.
//!
//! **What a real network does differently.** Real TCP retransmits, so a
//! short black hole (seconds) can heal without breaking connections, and the
//! kernel gives up on unacknowledged data after `tcp_retries2` (~15 min) or
//! `TCP_USER_TIMEOUT`. And a new connection attempt into a real black hole
//! hangs until the SYN times out; turmoil refuses it at once.

use serde::{Deserialize, Serialize};

/// Drops all traffic between hosts `a` and `b`, in both directions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlackHole {
    pub a: String,
    pub b: String,
}

impl BlackHole {
    pub(crate) fn inject(&self, sim: &mut turmoil::Sim<'_>) {
        sim.partition(self.a.as_str(), self.b.as_str());
    }

    pub(crate) fn heal(&self, sim: &mut turmoil::Sim<'_>) {
        sim.repair(self.a.as_str(), self.b.as_str());
    }
}
