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
//! the heal is `Sim::repair_oneway`. With squall's turmoil fork's TCP
//! (docs/upstream.md) the lost direction is retransmitted while the other
//! keeps carrying (duplicate) ACKs; a connection that cannot get its data
//! acknowledged ends at its user timeout, an idle one by keepalive. The
//! handshake is three packets, so a connect across the cut in either
//! direction never completes while it holds (the SYN or the SYN-ACK is
//! lost): it stays pending in SYN retries and completes on the first retry
//! after the heal.
//!
//! **What a real network does differently.** Little, for what the scripts
//! test (docs/fidelity.md measures it); the kernel's TCP has SACK and this
//! one does not, which only changes how fast recovery is after the heal.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Cut, FaultClass, FaultContext, HostField, Kind, pairs};

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

impl Kind for OneWayPartition {
    fn name(&self) -> &'static str {
        "one_way_partition"
    }

    fn class(&self) -> FaultClass {
        FaultClass::Network
    }

    fn title(&self) -> String {
        format!(
            "one-way partition {} → {}",
            self.from.join(","),
            self.to.join(",")
        )
    }

    fn host_fields(&self) -> Vec<HostField<'_>> {
        vec![
            HostField::set("from", &self.from),
            HostField::set("to", &self.to),
        ]
    }

    fn cut(&self) -> Cut<'_> {
        Cut::Dropped {
            a: &self.from,
            b: &self.to,
        }
    }

    fn write_fields(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, " from={} to={}", self.from.join(","), self.to.join(","))
    }
}
