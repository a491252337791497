//! Graceful restart: the servers announce they are going away, drain,
//! close, and come back after a downtime.
//!
//! **Real-world event.** A rolling deploy or a config reload done right:
//! the server sends GOAWAY (NO_ERROR) on every connection, stops accepting,
//! lets in-flight streams finish, closes, and a new process starts
//! listening a little later. Well-behaved clients move new RPCs to other
//! connections at the first GOAWAY and lose nothing.
//!
//! **Turmoil mechanism.** None: this is ours. The driver sends a restart
//! command on each server's control channel; the server's accept loop
//! (`sim/src/server/`) calls hyper's `Connection::graceful_shutdown` on every
//! connection (GOAWAY with last-stream-id 2^31-1 and a PING, then the final
//! GOAWAY with the real last stream id once the PING returns: h2's
//! two-phase shutdown), drops its listener so new connects are refused,
//! waits up to `drain_timeout` for the connections to close (closing the
//! rest), waits `downtime`, and listens again. One-shot: a `heal_after` has
//! no effect. Trace lines: `server_goaway` per connection, `server_stopped`,
//! `server_listening`.
//!
//! **What a real network does differently.** A real restart replaces the
//! process (state is lost); here the same software keeps its counters. A
//! real connect during the downtime may hang or be refused depending on
//! whether the port is closed or the host is gone; here it is refused.

use std::{fmt, time::Duration};

use serde::{Deserialize, Serialize};

use super::{Controls, Ending, FaultClass, HostField, Kind};
use crate::server::RestartPlan;

/// Restarts `hosts` gracefully.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GracefulRestart {
    pub hosts: Vec<String>,
    /// Longest wait for connections to finish after the GOAWAY.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
    /// Time between closing the last connection and listening again.
    #[serde(with = "humantime_serde")]
    pub downtime: Duration,
}

impl GracefulRestart {
    pub(crate) fn inject(&self, ctx: &Controls<'_>) {
        let plan = RestartPlan {
            drain_timeout: self.drain_timeout,
            downtime: self.downtime,
        };
        ctx.control(&self.hosts, |c| c.restart(plan));
    }
}

impl Kind for GracefulRestart {
    fn name(&self) -> &'static str {
        "graceful_restart"
    }

    fn class(&self) -> FaultClass {
        FaultClass::Software
    }

    fn title(&self) -> String {
        format!("graceful restart {}", self.hosts.join(","))
    }

    fn host_fields(&self) -> Vec<HostField<'_>> {
        vec![HostField::set("hosts", &self.hosts)]
    }

    /// One-shot: the restart runs its course on its own.
    fn ending(&self) -> Ending {
        Ending::Restarted(self.drain_timeout + self.downtime)
    }

    fn write_fields(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            " hosts={} drain_timeout_ms={} downtime_ms={}",
            self.hosts.join(","),
            self.drain_timeout.as_millis(),
            self.downtime.as_millis()
        )
    }
}
