//! One-way partition: packets from one set of hosts to another vanish;
//! the other direction still works.
//!
//! **Real-world event.** An asymmetric failure: a misconfigured firewall or
//! ACL that only matches one direction, a broken transmit path on one NIC
//! or a one-way route withdrawal. Requests arrive but answers (or ACKs, or
//! PING acknowledgements) do not, or the reverse. Notoriously confusing:
//! each side sees the other "half alive".
//!
//! **Turmoil mechanism.** `Sim::partition_oneway(from, to)` for every pair;
//! the heal is `Sim::repair_oneway`. As with the two-way partition, turmoil
//! does not retransmit, so a stream that lost a segment stays wedged in
//! that direction. A connect from `from` to `to` is refused at once (the
//! SYN is dropped). But a connect from `to` to `from` *succeeds*: turmoil's
//! SYN-ACK is an in-memory handshake, not a packet, so only the SYN crosses
//! the link. A client cut off from a server's answers therefore gets
//! connections that look ready, carry requests, and never answer: the pool
//! closes each by keepalive, reconnects at once, and flaps until the heal.
//!
//! **What a real network does differently.** Real TCP retransmits the lost
//! direction until its timeouts; the surviving direction keeps carrying
//! (duplicate) ACKs. A real connect across a one-way cut never completes
//! (the SYN or the SYN-ACK is lost) and times out rather than being
//! refused or succeeding.

use serde::{Deserialize, Serialize};

use super::{FaultContext, pairs};

/// Drops all traffic from every host of `from` to every host of `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OneWayPartition {
    pub from: Vec<String>,
    pub to: Vec<String>,
}

impl OneWayPartition {
    pub(crate) fn inject(&self, ctx: &mut FaultContext<'_, '_>) {
        for (from, to) in pairs(&self.from, &self.to) {
            ctx.sim.partition_oneway(from, to);
        }
    }

    pub(crate) fn heal(&self, ctx: &mut FaultContext<'_, '_>) {
        for (from, to) in pairs(&self.from, &self.to) {
            ctx.sim.repair_oneway(from, to);
        }
    }
}
