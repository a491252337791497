//! Partition: every packet between two sets of hosts vanishes, both ways.
//!
//! **Real-world event.** A network split: a switch or router fails, a
//! security group or firewall rule changes, an availability zone loses its
//! links to the others. Hosts on each side keep running and can talk among
//! themselves; nothing crosses. Neither side gets a RST or a FIN.
//!
//! **Turmoil mechanism.** `Sim::partition(a, b)` for every pair of a host in
//! `a` and a host in `b`; the heal is `Sim::repair` on the same pairs.
//! Turmoil's TCP has no ACKs and no retransmission, so a segment dropped
//! during the partition is gone for good: a connection that carried data
//! across the cut stays wedged after the repair. A new connection across
//! the cut is refused at once. `repair` clears the link whatever cut it
//! (also a black hole or a one-way partition on the same pair), so
//! overlapping cuts of one pair heal together.
//!
//! **What a real network does differently.** Real TCP retransmits, so a
//! partition shorter than the retransmission timeouts heals without breaking
//! connections; a longer one ends them after `tcp_retries2` (~15 min) or
//! `TCP_USER_TIMEOUT`, or leaves them as zombies. A SYN into a real
//! partition is not refused: it is retried until the connect timeout.

use serde::{Deserialize, Serialize};

use super::{FaultContext, pairs};

/// Drops all traffic between every host of `a` and every host of `b`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partition {
    pub a: Vec<String>,
    pub b: Vec<String>,
}

impl Partition {
    pub(crate) fn inject(&self, ctx: &mut FaultContext<'_, '_>) {
        for (a, b) in pairs(&self.a, &self.b) {
            ctx.sim.partition(a, b);
        }
    }

    pub(crate) fn heal(&self, ctx: &mut FaultContext<'_, '_>) {
        for (a, b) in pairs(&self.a, &self.b) {
            ctx.sim.repair(a, b);
        }
    }
}
