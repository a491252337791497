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
//! **Turmoil mechanism.** A process crash (`silent = false`) is
//! `Sim::crash(host)` then `Sim::bounce(host)` at once, with the server's
//! [`Process`] set to `Stopped`: the crash drops the software and every
//! socket (each sends its FIN, or a RST when unread data was waiting), and
//! the new incarnation waits, not listening, until the heal sets the
//! process running. Meanwhile the host is up, as the crashed process's
//! kernel is: a SYN is answered with a RST (nothing listens) and a packet
//! of an old flow with a RST, so the pool's connects are refused at once
//! and it backs off, as against a real kernel. A silent crash is
//! "partition → crash → bounce → repair": the host is first partitioned
//! from every other host, so the FINs of the crash vanish and every SYN
//! (retried as Linux does) goes unanswered; the heal calls
//! `Sim::bounce(host)` (the software starts again from scratch, with the
//! same control channel, so slow/failing settings survive) and then repairs
//! the partition. Packets for the old flows then reach a host without those
//! sockets and are answered with a RST, as a rebooted kernel would.
//!
//! **What a real network does differently.** A real restart takes seconds
//! to minutes, not zero time. The silent repair also clears any other
//! partition of the same host pairs.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Cut, FaultClass, FaultContext, HostField, Kind};
use crate::{
    server::{Process, ServerControl},
    trace::TraceEvent,
};

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
            ctx.controls()
                .control(std::slice::from_ref(host), ServerControl::note_crash);
            if self.silent {
                ctx.isolate(host);
                ctx.sim.crash(host.as_str());
            } else {
                ctx.controls().control(std::slice::from_ref(host), |c| {
                    c.set_process(Process::Stopped);
                });
                ctx.sim.crash(host.as_str());
                ctx.sim.bounce(host.as_str());
            }
            ctx.record(host, TraceEvent::HostCrash);
        }
    }

    pub(crate) fn heal(&self, ctx: &mut FaultContext<'_, '_>) {
        for host in &self.hosts {
            if self.silent {
                ctx.sim.bounce(host.as_str());
            } else {
                ctx.controls().control(std::slice::from_ref(host), |c| {
                    c.set_process(Process::Running);
                });
            }
            ctx.record(host, TraceEvent::HostRestart);
            if self.silent {
                ctx.rejoin(host);
            }
        }
    }
}

impl Kind for ServerCrash {
    fn name(&self) -> &'static str {
        "server_crash"
    }

    fn class(&self) -> FaultClass {
        FaultClass::Crash
    }

    fn title(&self) -> String {
        let how = if self.silent { "silent" } else { "process" };
        format!("{how} crash {}", self.hosts.join(","))
    }

    fn host_fields(&self) -> Vec<HostField<'_>> {
        vec![HostField::set("hosts", &self.hosts)]
    }

    /// A silent crash is a machine that vanishes; a process crash ends
    /// its connections visibly (FIN, then RST to new SYNs).
    fn cut(&self) -> Cut<'_> {
        if self.silent {
            Cut::Silent(&self.hosts)
        } else {
            Cut::None
        }
    }

    fn write_fields(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, " hosts={} silent={}", self.hosts.join(","), self.silent)
    }
}
