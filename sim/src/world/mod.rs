//! One world: a client host (a pool or a bare tonic `Channel`, plus the
//! load generator), N echo server hosts, and a fault schedule, on turmoil,
//! from a seed. This module owns what a world is ([`WorldConfig`]) and
//! running it ([`run`]); `build` makes the simulation and its hosts,
//! `step` drives it, and `setup` ([`SimSetup`]) is how every squall
//! simulation is set up, worlds and the suite's hand-driven tests alike.
//!
//! The driver steps the simulation one tick at a time and applies each
//! fault action at its exact simulated time; after each step it samples
//! the pool's connections for the stream-capacity check. Every source of
//! randomness is seeded from [`WorldConfig::seed`]: turmoil's RNG (and
//! through it tokio's, under `--cfg tokio_unstable`), and the pool's.

mod build;
mod setup;
mod step;

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    time::Duration,
};

use squall_pool::PoolConfig;

use crate::{
    check::CapacityWatch,
    fault::ScheduledFault,
    load::LoadConfig,
    middlebox::Middlebox,
    peer::TonicClient,
    server::ServerControl,
    trace::{Recorder, Trace},
    user::UserWorld,
};

pub use setup::{SimSetup, add_server};

/// The client host's name.
pub const CLIENT_HOST: &str = "client";
/// The host column of fault lines.
pub const NET_HOST: &str = "net";
/// How long servers keep running after the client host has finished.
pub const SETTLE: Duration = Duration::from_millis(100);
/// Most server hosts a world may have.
pub const MAX_SERVERS: usize = 16;

/// Server host `index` (from 0) is called `server-{index + 1}`.
pub fn server_name(index: usize) -> String {
    format!("server-{}", index + 1)
}

/// Everything that determines a run. The same config gives the same trace.
#[derive(Debug, Clone)]
pub struct WorldConfig {
    pub seed: u64,
    /// Number of echo servers, 1..=16.
    pub servers: usize,
    /// The SETTINGS_MAX_CONCURRENT_STREAMS every server announces; `None`:
    /// hyper's default (200).
    pub server_max_streams: Option<u32>,
    /// Hosts between the client and servers (NATs); the client may target
    /// them by name. Names must differ from `client` and `server-N`.
    pub middleboxes: Vec<Middlebox>,
    pub client: ClientKind,
    pub load: LoadConfig,
    pub faults: Vec<ScheduledFault>,
    /// Simulated time after which the run is cut off if the client has not
    /// finished (the load, its last deadlines and the pool's shutdown).
    pub time_limit: Duration,
    /// Length of one simulation step. Default 1 ms.
    pub tick: Duration,
    /// One-way latency of every link. Fixed (not random) so TCP segments
    /// are never reordered and timings are exact.
    pub link_latency: Duration,
    /// Jump over idle stretches (no task to run, no timer, message or
    /// fault due) in one step instead of one tick at a time. The trace is
    /// byte-identical either way (`tests/idle_skip.rs`); off only to check
    /// that, or to measure what it saves.
    pub skip_idle: bool,
    /// A user's service, client program and invariants (`crate::user`);
    /// `None`: squall's echo service and load.
    pub user: Option<UserWorld>,
}

/// What the client host runs.
#[derive(Debug, Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "built once per run; boxing the pool config would only add noise"
)]
pub enum ClientKind {
    /// A squall pool with this config, with one endpoint per target host
    /// (a server, e.g. `server-1`, or a middlebox), in this order.
    Pool {
        config: PoolConfig,
        targets: Vec<String>,
    },
    /// One of tonic's own clients (what users have without squall) over
    /// the target hosts, in this order.
    Tonic {
        client: TonicClient,
        targets: Vec<String>,
    },
}

impl ClientKind {
    /// The hosts the client dials.
    pub fn targets(&self) -> &[String] {
        match self {
            ClientKind::Pool { targets, .. } | ClientKind::Tonic { targets, .. } => targets,
        }
    }
}

/// Why a run could not be completed. The partial trace is still returned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    #[error("invalid world: {0}")]
    InvalidWorld(String),
    #[error("a host failed: {0}")]
    Host(String),
    #[error("the simulator panicked: {0}")]
    Panicked(String),
    #[error("the client did not finish within the time limit of {0:?}")]
    TimeLimit(Duration),
}

/// The result of a run: its trace, and whether it ran to completion.
#[derive(Debug, Clone)]
pub struct RunOutput {
    pub trace: Trace,
    /// The pool's connections against their stream capacity, sampled
    /// after every step (empty for a tonic `Channel` client).
    pub capacity: CapacityWatch,
    /// How many steps the driver took to cover the run's ticks: fewer
    /// steps than ticks is idle time skipped. Zero in kernel mode.
    pub steps: StepCount,
    pub outcome: Result<(), SimError>,
}

/// Ticks simulated and the steps that covered them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepCount {
    /// Simulated ticks, as many as the run lasted.
    pub ticks: u64,
    /// Calls into turmoil: one per tick, or one per skipped idle stretch.
    pub steps: u64,
}

impl WorldConfig {
    /// The server control of a new server of this world: what it runs and
    /// announces, and whether it records RPCs.
    pub fn server_control(&self) -> ServerControl {
        let control = if self.servers_trace_rpcs() {
            ServerControl::tracing_rpcs()
        } else {
            ServerControl::default()
        }
        .with_max_streams(self.server_max_streams);
        match self.user.as_ref().and_then(UserWorld::user_service) {
            Some(service) => control.with_service(service.clone()),
            None => control,
        }
    }

    /// Whether servers record their RPCs (`server_rpc`, `server_rpc_end`):
    /// see [`servers_trace_rpcs_for`].
    pub fn servers_trace_rpcs(&self) -> bool {
        matches!(&self.client, ClientKind::Pool { config, .. } if servers_trace_rpcs_for(config))
    }

    /// Checks the world is well formed; the error says what is wrong.
    pub fn validate(&self) -> Result<(), SimError> {
        let invalid = |what: String| Err(SimError::InvalidWorld(what));
        if !(1..=MAX_SERVERS).contains(&self.servers) {
            return invalid(format!("servers must be between 1 and {MAX_SERVERS}"));
        }
        // A user's client program replaces the load, and drives a pool.
        if self.user.as_ref().is_some_and(UserWorld::has_client) {
            if !matches!(self.client, ClientKind::Pool { .. }) {
                return invalid(
                    "a user's client program runs over a pool: client kind pool".into(),
                );
            }
        } else {
            self.load.validate().map_err(SimError::InvalidWorld)?;
        }
        if self.tick.is_zero() {
            return invalid("tick must be greater than zero".into());
        }
        let targets: &[String] = match &self.client {
            ClientKind::Pool { targets, config } => {
                config
                    .validate()
                    .map_err(|e| SimError::InvalidWorld(e.to_string()))?;
                targets
            }
            ClientKind::Tonic { targets, .. } => targets,
        };
        let servers = self.server_names();
        let hosts = self.host_names();
        let mut unique = hosts.clone();
        unique.sort();
        unique.dedup();
        if unique.len() != hosts.len() {
            return invalid(format!("host names must be unique: {hosts:?}"));
        }
        for middlebox in &self.middleboxes {
            middlebox
                .validate(&servers)
                .map_err(SimError::InvalidWorld)?;
        }
        let dialable: Vec<&String> = hosts.iter().filter(|h| *h != CLIENT_HOST).collect();
        if targets.is_empty() || targets.iter().any(|t| !dialable.contains(&t)) {
            return invalid(format!(
                "client targets {targets:?} must name hosts among {dialable:?}"
            ));
        }
        for scheduled in &self.faults {
            scheduled
                .fault
                .validate(&hosts, &servers)
                .map_err(SimError::InvalidWorld)?;
        }
        Ok(())
    }

    /// `server-1`..`server-N`.
    pub fn server_names(&self) -> Vec<String> {
        (0..self.servers).map(server_name).collect()
    }

    /// Every host of the world: the client, the servers, the middleboxes.
    pub fn host_names(&self) -> Vec<String> {
        std::iter::once(CLIENT_HOST.to_owned())
            .chain(self.server_names())
            .chain(self.middleboxes.iter().map(|m| m.name.clone()))
            .collect()
    }
}

/// Whether the servers of a world whose client is a pool configured as
/// `pool` record a line per RPC received and one when its stream ends:
/// when the pool has a circuit breaker, so that "no RPC reaches a server
/// while its breaker is open" is counted where it matters, on the server;
/// and when it hedges, so that "no cancelled copy leaves a stream open on
/// the server" can be checked. Off otherwise, to keep traces short.
pub fn servers_trace_rpcs_for(pool: &PoolConfig) -> bool {
    pool.breaker.is_some() || pool.hedging.is_some()
}

/// Runs one world to completion (or to its time limit). Never panics on a
/// simulator failure: that is reported in [`RunOutput::outcome`].
pub fn run(config: &WorldConfig) -> RunOutput {
    run_observed(config, &mut |_| {})
}

/// [`run`], calling `on_progress` with the simulated time reached at every
/// whole simulated second (for a progress line). It only observes: what it
/// does cannot change the run.
pub fn run_observed(config: &WorldConfig, on_progress: &mut dyn FnMut(Duration)) -> RunOutput {
    let recorder = Recorder::default();
    let mut capacity = CapacityWatch::new(match &config.client {
        ClientKind::Pool { config, .. } => config.max_streams_per_connection,
        ClientKind::Tonic { .. } => None,
    });
    let mut steps = StepCount::default();
    let outcome = match config.validate() {
        Ok(()) => catch_unwind(AssertUnwindSafe(|| {
            let world = build::build(config, &recorder);
            step::drive(
                world,
                config,
                &recorder,
                &mut capacity,
                &mut steps,
                on_progress,
            )
        }))
        .unwrap_or_else(|panic| Err(SimError::Panicked(panic_message(&panic)))),
        Err(e) => Err(e),
    };
    RunOutput {
        trace: recorder.snapshot(),
        capacity,
        steps,
        outcome,
    }
}

/// The text of a caught panic.
pub fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".into()
    }
}
