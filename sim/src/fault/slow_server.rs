//! Slow server: every call to the servers takes longer to answer.
//!
//! **Real-world event.** A server under load, in a long GC pause, on a
//! noisy neighbour, or waiting on a slow dependency. The network is fine and
//! connections stay healthy (PINGs are answered at once by the HTTP/2
//! layer), but RPCs take longer and start missing their deadlines.
//!
//! **Turmoil mechanism.** None: this is ours. The driver sets
//! `added_latency` on each server's control channel
//! ([`ServerControl`](crate::server::ServerControl)); the echo service
//! sleeps that long (tokio's clock, so simulated time) before answering.
//! The heal sets it back to zero; calls already sleeping finish their sleep.
//!
//! **What a real network does differently.** Nothing at the network level.
//! A real slow server is rarely uniformly slow: latency has a long tail and
//! grows with load (queueing), where here every call gets exactly the added
//! latency, so the effect on deadlines is exact.

use std::{fmt, time::Duration};

use serde::{Deserialize, Serialize};

use super::{Controls, FaultClass, HostField, Kind};

/// Adds `added_latency` to every call answered by `hosts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowServer {
    pub hosts: Vec<String>,
    #[serde(with = "humantime_serde")]
    pub added_latency: Duration,
}

impl SlowServer {
    pub(crate) fn inject(&self, ctx: &Controls<'_>) {
        let latency = self.added_latency;
        ctx.control(&self.hosts, |c| {
            c.set_behaviour(|b| b.added_latency = latency)
        });
    }

    pub(crate) fn heal(&self, ctx: &Controls<'_>) {
        ctx.control(&self.hosts, |c| {
            c.set_behaviour(|b| b.added_latency = Duration::ZERO)
        });
    }
}

impl Kind for SlowServer {
    fn name(&self) -> &'static str {
        "slow_server"
    }

    fn class(&self) -> FaultClass {
        FaultClass::Software
    }

    fn title(&self) -> String {
        format!(
            "slow server {} (+{} ms)",
            self.hosts.join(","),
            self.added_latency.as_millis()
        )
    }

    fn host_fields(&self) -> Vec<HostField<'_>> {
        vec![HostField::set("hosts", &self.hosts)]
    }

    fn write_fields(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            " hosts={} added_latency_ms={}",
            self.hosts.join(","),
            self.added_latency.as_millis()
        )
    }
}
