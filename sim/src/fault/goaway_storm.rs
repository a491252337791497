//! GOAWAY storm: servers send GOAWAY on every connection at once, once or
//! repeatedly, while still accepting new connections. Three kinds (`mode`).
//!
//! **Real-world event.** `graceful`: a server enforcing
//! `max_connection_age` on connections opened together, a proxy reload
//! (Envoy, nginx) draining every downstream connection, a fleet-wide config
//! push: GOAWAY(NO_ERROR), in-flight streams finish, clients reconnect all
//! at once (a thundering herd). `abrupt`: a server or proxy that is shutting
//! down hard (drain timeout zero, overload protection, a crash handler):
//! GOAWAY whose last-stream-id is below the streams in flight (here 0: none
//! was processed, all are safe to retry), then the connection is closed.
//! `too-many-pings`: a gRPC server whose keepalive policy
//! (`permit_keepalive_time`) the client violated sends
//! GOAWAY(ENHANCE_YOUR_CALM, debug data "too_many_pings") and closes; gRPC
//! clients are expected to double their keepalive interval.
//!
//! **Turmoil mechanism.** None: this is ours. The driver starts a round on
//! each server's control channel (`sim/src/server/control.rs`); every
//! connection task then says goodbye. `graceful` calls hyper's
//! `Connection::graceful_shutdown` (h2's two-phase GOAWAY: last stream id
//! 2^31-1 plus a PING, then the real last stream id). hyper's server offers
//! nothing else, so `abrupt` and `too-many-pings` are injected by a
//! frame-aware relay that sits between every server socket and hyper
//! (`sim/src/server/frames.rs`): it follows the 9-byte frame headers both
//! ways, writes the GOAWAY frame at the next boundary between two of the
//! server's frames, and closes the socket (turmoil: a FIN). The listener
//! stays open. With `every`, the server repeats the round on whatever
//! connections are then open, until the heal.
//!
//! **What a real network does differently.** Real servers usually jitter
//! connection ages so GOAWAYs are spread out; a storm is the worst case. A
//! real abrupt shutdown may end with a RST rather than a FIN. A real
//! `too_many_pings` is provoked by the client's pings; here it is imposed
//! whatever the client's keepalive.

use std::{fmt, time::Duration};

use serde::{Deserialize, Serialize};

use super::{Controls, Ending, FaultClass, HostField, Kind};
use crate::server::GoawayMode;

/// GOAWAY of `mode` on every connection of `hosts`, once or every `every`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoawayStorm {
    pub hosts: Vec<String>,
    /// Repeat the round this often until healed; `None`: once.
    #[serde(default, with = "humantime_serde")]
    pub every: Option<Duration>,
    /// `graceful` (default), `abrupt` or `too-many-pings`.
    #[serde(default)]
    pub mode: GoawayMode,
}

impl GoawayStorm {
    pub(crate) fn inject(&self, ctx: &Controls<'_>) {
        let (mode, every) = (self.mode, self.every);
        ctx.control(&self.hosts, |c| c.goaway(mode, every));
    }

    pub(crate) fn heal(&self, ctx: &Controls<'_>) {
        ctx.control(&self.hosts, |c| c.stop_goaway());
    }
}

impl Kind for GoawayStorm {
    fn name(&self) -> &'static str {
        "goaway_storm"
    }

    fn class(&self) -> FaultClass {
        FaultClass::Software
    }

    fn title(&self) -> String {
        format!(
            "GOAWAY storm ({}) {}",
            self.mode.name(),
            self.hosts.join(",")
        )
    }

    fn host_fields(&self) -> Vec<HostField<'_>> {
        vec![HostField::set("hosts", &self.hosts)]
    }

    /// A storm that does not repeat is one round of GOAWAYs.
    fn ending(&self) -> Ending {
        match self.every {
            Some(_) => Ending::Healed,
            None => Ending::AtOnce,
        }
    }

    fn check_fields(&self) -> Result<(), String> {
        match self.every {
            Some(every) if every.is_zero() => Err("every must be greater than zero".to_owned()),
            _ => Ok(()),
        }
    }

    fn write_fields(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            " hosts={} mode={}",
            self.hosts.join(","),
            self.mode.name()
        )?;
        match self.every {
            Some(every) => write!(f, " every_ms={}", every.as_millis()),
            None => f.write_str(" every_ms=-"),
        }
    }
}
