//! A script as a [`WorldConfig`]: the one place that knows how script
//! fields become the simulator's knobs.

use std::time::Duration;

use squall_sim::{LoadConfig, Middlebox, TonicClient, WorldConfig};

use crate::script::model::{ClientKind, MixEntry, Script};

/// Length of one simulation step.
pub const TICK: Duration = Duration::from_millis(1);
/// One-way latency of every link (fixed, so segments are never reordered).
pub const LINK_LATENCY: Duration = Duration::from_millis(1);

impl Script {
    /// The world this script describes, run with `seed`.
    ///
    /// Expects a validated script (every script from [`Script::parse`] or
    /// the builder is); anything invalid is left for the simulator to
    /// reject as an invalid world rather than panicking here.
    pub fn world(&self, seed: u64) -> WorldConfig {
        WorldConfig {
            seed,
            servers: self.topology.servers,
            server_max_streams: self.topology.max_concurrent_streams,
            client: self.client_kind(seed),
            load: self.load_config(),
            faults: self.faults.clone(),
            middleboxes: self.middleboxes(),
            time_limit: self.time_limit(),
            tick: TICK,
            link_latency: LINK_LATENCY,
            skip_idle: true,
            // A user's world is found by name: `Worlds::world_of`.
            user: None,
        }
    }

    /// `[load]` as the simulator's load; without one (a user's world with
    /// its own client program, which the load is not run beside), the
    /// builder's default.
    fn load_config(&self) -> LoadConfig {
        let load = self.load.clone().unwrap_or_default();
        LoadConfig {
            start: load.start,
            stop: self.duration,
            pace: load.pace(),
            deadline: load.deadline,
            mix: load.mix.iter().map(MixEntry::weighted_call).collect(),
            idempotent: load.idempotent,
        }
    }

    fn client_kind(&self, seed: u64) -> squall_sim::ClientKind {
        let targets = self.client.targets.clone();
        match self.client.kind {
            ClientKind::Pool => squall_sim::ClientKind::Pool {
                config: self.pool.apply(seed),
                targets,
            },
            ClientKind::TonicChannel => squall_sim::ClientKind::Tonic {
                client: TonicClient::Channel,
                targets,
            },
            ClientKind::TonicChannelKeepalive => {
                let keepalive = self.pool.apply(seed).keepalive;
                squall_sim::ClientKind::Tonic {
                    client: TonicClient::ChannelKeepalive {
                        interval: keepalive.interval,
                        timeout: keepalive.timeout,
                    },
                    targets,
                }
            }
            ClientKind::TonicBalance => squall_sim::ClientKind::Tonic {
                client: TonicClient::Balance,
                targets,
            },
        }
    }

    /// The script's middleboxes as the simulator's type. A table that does
    /// not convert is left out: validation has already reported it.
    pub fn middleboxes(&self) -> Vec<Middlebox> {
        self.topology
            .middleboxes
            .iter()
            .filter_map(|table| middlebox(table).ok())
            .collect()
    }
}

/// One `[[topology.middleboxes]]` table as a [`Middlebox`].
pub(crate) fn middlebox(table: &toml::Table) -> Result<Middlebox, String> {
    toml::Value::Table(table.clone())
        .try_into::<Middlebox>()
        .map_err(|e| e.message().to_owned())
}
