//! A script as a [`WorldConfig`]: the one place that knows how script
//! fields become the simulator's knobs.

use std::time::Duration;

use squall_sim::{LoadConfig, WorldConfig, world::MAX_SERVERS};

use crate::script::model::{ClientKind, Script};

/// Length of one simulation step.
pub const TICK: Duration = Duration::from_millis(1);
/// One-way latency of every link (fixed, so segments are never reordered).
pub const LINK_LATENCY: Duration = Duration::from_millis(1);

impl Script {
    /// The world this script describes, run with `seed`.
    ///
    /// Expects a validated script (every script from [`Script::parse`] or
    /// the builder is); an unknown target is left for the simulator to
    /// reject as an invalid world rather than panicking here.
    pub fn world(&self, seed: u64) -> WorldConfig {
        WorldConfig {
            seed,
            servers: self.topology.servers,
            client: self.client_kind(seed),
            load: LoadConfig {
                start: self.load.start,
                stop: self.duration,
                interval: self.load.interval(),
                deadline: self.load.deadline,
            },
            faults: self.faults.clone(),
            time_limit: self.time_limit(),
            tick: TICK,
            link_latency: LINK_LATENCY,
        }
    }

    // The merge with host-name targets (and middleboxes) changes only this.
    fn client_kind(&self, seed: u64) -> squall_sim::ClientKind {
        let servers: Vec<usize> = self
            .client
            .targets
            .iter()
            .map(|target| server_index(target).unwrap_or(MAX_SERVERS))
            .collect();
        match self.client.kind {
            ClientKind::Pool => squall_sim::ClientKind::Pool {
                config: self.pool.apply(seed),
                servers,
            },
            ClientKind::TonicChannel => squall_sim::ClientKind::TonicChannel {
                server: servers.first().copied().unwrap_or(MAX_SERVERS),
            },
        }
    }
}

/// `server-3` → 2.
fn server_index(host: &str) -> Option<usize> {
    let n: usize = host.strip_prefix("server-")?.parse().ok()?;
    n.checked_sub(1)
}
