//! The script model: plain data, the same whether it came from a TOML file
//! ([`Script::parse`](crate::Script::parse)) or from Rust
//! ([`Script::builder`](crate::Script::builder)).
//!
//! The sections below `Script` derive `Deserialize` with
//! `deny_unknown_fields`, so a misspelt key is an error, not a silent default.

use std::time::Duration;

use serde::Deserialize;
use squall_pool::PoolConfig;
use squall_sim::ScheduledFault;

use crate::script::duration;

/// The seed used when neither the script nor `--seed` gives one.
pub const DEFAULT_SEED: u64 = 1;

/// A fault script: a world to build, load to drive, faults to inject, and
/// what must hold afterwards.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// The file's stem (`black-hole` for `black-hole.toml`).
    pub name: String,
    /// One line, for `squall list`.
    pub description: String,
    /// The seed to run with when none is given on the command line.
    pub seed: Option<u64>,
    /// The load runs from `load.start` until here.
    pub duration: Duration,
    /// The run is cut off here; `None`: `duration` + [`Script::SETTLE_TIME`].
    pub time_limit: Option<Duration>,
    pub topology: Topology,
    pub client: Client,
    pub pool: PoolOverrides,
    pub load: Load,
    pub faults: Vec<ScheduledFault>,
    pub expect: Expect,
}

impl Script {
    /// Time given after `duration` for the last deadlines and the pool's
    /// shutdown, when the script sets no `time_limit`.
    pub const SETTLE_TIME: Duration = Duration::from_secs(10);

    /// The seed a run uses when none is given.
    pub fn default_seed(&self) -> u64 {
        self.seed.unwrap_or(DEFAULT_SEED)
    }

    /// When the run is cut off.
    pub fn time_limit(&self) -> Duration {
        self.time_limit.unwrap_or(self.duration + Self::SETTLE_TIME)
    }
}

/// `[topology]`: the hosts besides `client`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// Echo servers `server-1..=server-N`.
    pub servers: usize,
    /// `[[topology.middleboxes]]` (NAT and the like). Read so that scripts
    /// written for them get a clear, positioned "not supported yet" error
    /// rather than "unknown field"; typed once the simulator has them.
    #[serde(default)]
    pub middleboxes: Vec<toml::Table>,
}

/// `[client]`: what the client host runs and which hosts it dials.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    #[serde(default)]
    pub kind: ClientKind,
    /// Host names; empty in the file means every server.
    #[serde(default)]
    pub targets: Vec<String>,
}

/// `client.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientKind {
    /// A squall pool (with `[pool]` overrides).
    #[default]
    Pool,
    /// A default tonic `Channel` to exactly one target: the baseline.
    TonicChannel,
}

/// `[pool]`: overrides of [`PoolConfig::default()`], field names as in
/// `pool/src/config.rs`. Unset fields keep the pool's defaults.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolOverrides {
    pub connections_per_endpoint: Option<usize>,
    #[serde(default, deserialize_with = "duration::optional")]
    pub default_rpc_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "duration::optional")]
    pub shutdown_grace: Option<Duration>,
    /// `None`: the run's seed, so `--seed` also varies the pool's choices.
    pub rng_seed: Option<u64>,
    #[serde(default)]
    pub keepalive: KeepaliveOverrides,
    #[serde(default)]
    pub backoff: BackoffOverrides,
}

/// `[pool.keepalive]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeepaliveOverrides {
    #[serde(default, deserialize_with = "duration::optional")]
    pub interval: Option<Duration>,
    #[serde(default, deserialize_with = "duration::optional")]
    pub timeout: Option<Duration>,
    pub while_idle: Option<bool>,
}

/// `[pool.backoff]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackoffOverrides {
    #[serde(default, deserialize_with = "duration::optional")]
    pub initial: Option<Duration>,
    pub multiplier: Option<f64>,
    pub jitter: Option<f64>,
    #[serde(default, deserialize_with = "duration::optional")]
    pub max: Option<Duration>,
    #[serde(default, deserialize_with = "duration::optional")]
    pub min_connect_timeout: Option<Duration>,
}

impl PoolOverrides {
    /// True if no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// [`PoolConfig::default()`] with these overrides; `rng_seed` defaults
    /// to `seed`. Not validated: see [`PoolConfig::validate`].
    pub fn apply(&self, seed: u64) -> PoolConfig {
        let mut config = PoolConfig::default();
        let set = |slot: &mut Duration, value: Option<Duration>| {
            if let Some(value) = value {
                *slot = value;
            }
        };
        if let Some(n) = self.connections_per_endpoint {
            config.connections_per_endpoint = n;
        }
        set(&mut config.default_rpc_timeout, self.default_rpc_timeout);
        set(&mut config.shutdown_grace, self.shutdown_grace);
        config.rng_seed = self.rng_seed.unwrap_or(seed);
        let keepalive = &mut config.keepalive;
        set(&mut keepalive.interval, self.keepalive.interval);
        set(&mut keepalive.timeout, self.keepalive.timeout);
        if let Some(b) = self.keepalive.while_idle {
            keepalive.while_idle = b;
        }
        let backoff = &mut config.backoff;
        set(&mut backoff.initial, self.backoff.initial);
        set(&mut backoff.max, self.backoff.max);
        set(
            &mut backoff.min_connect_timeout,
            self.backoff.min_connect_timeout,
        );
        if let Some(m) = self.backoff.multiplier {
            backoff.multiplier = m;
        }
        if let Some(j) = self.backoff.jitter {
            backoff.jitter = j;
        }
        config
    }
}

/// `[load]`: a steady stream of unary Echo RPCs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    /// First RPC at this simulated time.
    #[serde(default, deserialize_with = "duration::required")]
    pub start: Duration,
    /// RPCs per second, 1..=[`Load::MAX_RATE`]. Exactly one of `rate`
    /// and `interval` is given.
    #[serde(default)]
    pub rate: Option<u32>,
    /// Time between two RPCs, for loads slower than one per second (e.g.
    /// `"20s"`, so a NAT flow idles between calls).
    #[serde(default, deserialize_with = "duration::optional")]
    pub interval: Option<Duration>,
    /// Each RPC's deadline.
    #[serde(deserialize_with = "duration::required")]
    pub deadline: Duration,
}

impl Load {
    /// Highest rate a script may ask for: bounds a run's trace and time.
    pub const MAX_RATE: u32 = 10_000;

    /// Time between two RPCs. Expects a validated load (exactly one of
    /// `rate` and `interval`, non-zero).
    pub fn period(&self) -> Duration {
        match (self.rate, self.interval) {
            (_, Some(interval)) => interval,
            (rate, None) => {
                Duration::from_nanos(1_000_000_000 / u64::from(rate.unwrap_or(1).max(1)))
            }
        }
    }
}

/// `[expect]`: what the run must show, beyond the checks every run gets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Every connection a black hole cuts off is closed within this.
    #[serde(default, deserialize_with = "duration::optional")]
    pub detection_within: Option<Duration>,
    /// At most this many RPCs fail.
    pub max_failed_rpcs: Option<u64>,
    /// The pool's shutdown leaves no task running and every connection it
    /// opened reaches Closed.
    #[serde(default)]
    pub no_leaks: bool,
}
