//! Black hole: every packet between two hosts silently vanishes.
//!
//! **Real-world event.** A NAT or load balancer forgets a flow, a firewall
//! starts dropping it, a cable or VM network goes away without telling
//! anyone. Neither end gets a RST or a FIN: writes are accepted, reads never
//! return. The connection is a "zombie" until something times out.
//!
//! **Turmoil mechanism.** `Sim::partition(a, b)` drops every message both
//! ways; `Sim::repair(a, b)` heals the link. squall's turmoil fork gives TCP
//! Linux's retransmission (docs/upstream.md): a segment dropped during the
//! black hole is sent again (tail loss probe, RTOs doubling), so a short
//! black hole heals without breaking connections (600 ms heals, as on a
//! real kernel); a long one ends a connection with data outstanding at its
//! user timeout, and an idle one when keepalive gives up. A connect into
//! the black hole stays pending in SYN retries (1 s apart, then doubling)
//! until the heal or its connect timeout.
//!
//! **What a real network does differently.** Little, for what the scripts
//! test (docs/fidelity.md): a real NAT that forgot the flow drops its
//! packets for good, which is the `nat` middlebox's silent expiry here.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Cut, FaultClass, HostField, Kind};

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

impl Kind for BlackHole {
    fn name(&self) -> &'static str {
        "black_hole"
    }

    fn class(&self) -> FaultClass {
        FaultClass::Network
    }

    fn title(&self) -> String {
        format!("black hole {} ↔ {}", self.a, self.b)
    }

    fn host_fields(&self) -> Vec<HostField<'_>> {
        vec![HostField::one("a", &self.a), HostField::one("b", &self.b)]
    }

    fn cut(&self) -> Cut<'_> {
        Cut::Dropped {
            a: std::slice::from_ref(&self.a),
            b: std::slice::from_ref(&self.b),
        }
    }

    fn write_fields(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, " a={} b={}", self.a, self.b)
    }
}
