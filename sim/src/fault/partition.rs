//! Partition: every packet between two sets of hosts vanishes, both ways.
//!
//! **Real-world event.** A network split: a switch or router fails, a
//! security group or firewall rule changes, an availability zone loses its
//! links to the others. Hosts on each side keep running and can talk among
//! themselves; nothing crosses. Neither side gets a RST or a FIN.
//!
//! **Turmoil mechanism.** `Sim::partition(a, b)` for every pair of a host in
//! `a` and a host in `b`; the heal is `Sim::repair` on the same pairs.
//! squall's turmoil fork gives TCP Linux's retransmission (docs/upstream.md):
//! what the cut drops is sent again (tail loss probe, then RTOs doubling
//! from ~200 ms), so a short partition heals with every connection intact;
//! a longer one ends a connection with data outstanding at its user timeout
//! (the pool sets it to its keepalive timeout) and an idle one by keepalive.
//! A connect across the cut stays pending in SYN retries and completes on
//! the first retry after the heal, or fails at the caller's connect
//! timeout. `repair` clears the link whatever cut it (also a black hole or
//! a one-way partition on the same pair), so overlapping cuts of one pair
//! heal together.
//!
//! **What a real network does differently.** Little, for what the scripts
//! test (docs/fidelity.md measures it): the kernel's timings have a
//! millisecond of scheduling noise, and its TCP has SACK, so after a heal
//! it resends on the first SACK rather than at the next RTO.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Cut, FaultClass, FaultContext, HostField, Kind, pairs};

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

impl Kind for Partition {
    fn name(&self) -> &'static str {
        "partition"
    }

    fn class(&self) -> FaultClass {
        FaultClass::Network
    }

    fn title(&self) -> String {
        format!("partition {} | {}", self.a.join(","), self.b.join(","))
    }

    fn host_fields(&self) -> Vec<HostField<'_>> {
        vec![HostField::set("a", &self.a), HostField::set("b", &self.b)]
    }

    fn cut(&self) -> Cut<'_> {
        Cut::Dropped {
            a: &self.a,
            b: &self.b,
        }
    }

    fn write_fields(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, " a={} b={}", self.a.join(","), self.b.join(","))
    }
}
