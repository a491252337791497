//! Server crash: the server's software dies; the heal starts it again.
//!
//! **Real-world event.** With `silent = false`: a process crash (OOM kill,
//! panic, `kill -9`). The process is gone but its kernel is alive and closes
//! its sockets, so clients see the connections end at once (FIN), and new
//! connections are refused until it restarts. With `silent = true`: a
//! machine dies (power loss, kernel panic, a VM paused or live-migrated
//! away): nothing is sent, clients are left with zombie connections until
//! their keepalive notices, and a later packet to the rebooted machine gets
//! a RST because its kernel has no state for the flow.
//!
//! **Turmoil mechanism.** `Sim::crash(host)` drops the host's runtime and
//! every task on it; the dropped sockets send FIN (or RST when unread data
//! was waiting), which is the process-crash case. A silent crash is
//! "partition → crash → bounce → repair": the host is first partitioned
//! from every other host, so the FINs of the crash vanish; the heal calls
//! `Sim::bounce(host)` (the software starts again from scratch, with the
//! same control channel, so slow/failing settings survive) and then repairs
//! the partition. Packets for the old flows then reach a host without those
//! sockets, and turmoil answers them with a RST, as a rebooted kernel would.
//! While a host is crashed turmoil does not process packets sent to it: a
//! connect to it hangs (like a SYN to a dead machine) until the restart,
//! when it is refused (the SYN is handled before the new software listens).
//! In the silent case the partition refuses connects at once instead.
//!
//! **What a real network does differently.** A real process crash leaves
//! the kernel up, which refuses connects at once (RST); here they hang until
//! the restart or the pool's connect timeout. After a real machine crash a
//! connect times out; here, in the silent case, it is refused. A real
//! restart takes seconds to minutes, not zero time. The silent repair also
//! clears any other partition of the same host pairs.

use serde::{Deserialize, Serialize};

use super::FaultContext;
use crate::trace::TraceEvent;

/// Crashes the software of `hosts`; the heal restarts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerCrash {
    pub hosts: Vec<String>,
    /// `true`: the machine dies without a goodbye (no FIN), see above.
    #[serde(default)]
    pub silent: bool,
}

impl ServerCrash {
    pub(crate) fn inject(&self, ctx: &mut FaultContext<'_, '_>) {
        for host in &self.hosts {
            if self.silent {
                ctx.isolate(host);
            }
            ctx.sim.crash(host.as_str());
            ctx.record(host, TraceEvent::HostCrash);
        }
    }

    pub(crate) fn heal(&self, ctx: &mut FaultContext<'_, '_>) {
        for host in &self.hosts {
            ctx.sim.bounce(host.as_str());
            ctx.record(host, TraceEvent::HostRestart);
            if self.silent {
                ctx.rejoin(host);
            }
        }
    }
}
