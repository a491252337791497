//! The control channel from the world driver into a server host.
//!
//! The driver runs between `sim.step()` calls, outside every host, so it
//! cannot call into a server's tasks. Instead each server owns one
//! [`ServerControl`]: two `tokio::sync::watch` channels the driver writes and
//! the server's tasks read. A watch holds only the latest value, so the
//! channel is bounded by construction; one-shot commands (send GOAWAY now,
//! restart now) are epochs that the server compares with the last one it
//! acted on.
//!
//! The same `ServerControl` is handed to every incarnation of the server's
//! software, so a fault set before a crash still holds after the restart.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tonic::Code;

use crate::user::{Software, UserService};

/// How the echo service answers: what the slow-server and failing-server
/// faults set. The default is a healthy server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Behaviour {
    /// Extra service time before every answer.
    pub added_latency: Duration,
    /// Fail a share of calls with a status, or `None` for none.
    pub failure: Option<Failure>,
    /// `grpc.health.v1` reports NOT_SERVING, for the whole server (`""`)
    /// and the echo service, instead of SERVING. Calls are still served:
    /// this is what a server being drained by its operator looks like.
    pub not_serving: bool,
}

/// A share of calls to fail, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// Percent of calls that fail, 0..=100.
    pub percent: u8,
    /// The status they fail with; never `Code::Ok`.
    pub code: Code,
}

impl Failure {
    /// Whether call number `n` (from 0, counting calls made while failing)
    /// fails. Deterministic and evenly spread, with no RNG: call `n` fails
    /// when `floor((n + 1) * p / 100)` passes a whole number, so exactly
    /// `p` of every 100 consecutive calls fail (e.g. 50 %: calls 1, 3, 5...).
    pub fn fails(&self, n: u64) -> bool {
        let p = u64::from(self.percent.min(100));
        (n + 1) * p / 100 > n * p / 100
    }
}

/// One-shot commands to a server's connection handling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Commands {
    /// Bumped to make the server send a graceful GOAWAY on every open
    /// connection while it keeps accepting new ones.
    pub goaway_epoch: u64,
    /// When `Some`, the server also repeats the GOAWAY round this often
    /// until the storm is healed (set back to `None`).
    pub goaway_every: Option<Duration>,
    /// What kind of GOAWAY the rounds send.
    pub goaway_mode: GoawayMode,
    /// Bumped to start a graceful restart with [`Commands::restart`].
    pub restart_epoch: u64,
    pub restart: RestartPlan,
}

/// What a GOAWAY round sends on each connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GoawayMode {
    /// hyper's graceful shutdown: GOAWAY(NO_ERROR, 2^31-1) and a PING,
    /// then the real last stream id; streams in flight finish.
    #[default]
    Graceful,
    /// GOAWAY(NO_ERROR) with last-stream-id 0, below every stream in
    /// flight, then the connection is closed.
    Abrupt,
    /// GOAWAY(ENHANCE_YOUR_CALM, "too_many_pings"), then close.
    TooManyPings,
}

impl GoawayMode {
    pub fn name(self) -> &'static str {
        match self {
            GoawayMode::Graceful => "graceful",
            GoawayMode::Abrupt => "abrupt",
            GoawayMode::TooManyPings => "too_many_pings",
        }
    }
}

/// How a graceful restart goes: GOAWAY on every connection, stop accepting,
/// wait up to `drain_timeout` for connections to finish (then close the
/// rest), stay down for `downtime`, listen again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestartPlan {
    pub drain_timeout: Duration,
    pub downtime: Duration,
}

/// Whether the server's process runs. A stopped process is a crashed one
/// whose machine (kernel) is still up: the host answers packets, so a
/// connect is refused with a RST and a packet of an old flow is reset,
/// but nothing listens until the process runs again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Process {
    #[default]
    Running,
    Stopped,
}

/// The driver's handle on one server. Cloning shares the channels.
#[derive(Debug, Clone)]
pub struct ServerControl {
    behaviour: watch::Sender<Behaviour>,
    commands: watch::Sender<Commands>,
    process: watch::Sender<Process>,
    trace_rpcs: bool,
    /// The SETTINGS_MAX_CONCURRENT_STREAMS the server announces; `None`:
    /// hyper's default (200).
    max_streams: Option<u32>,
    crashes: Crashes,
    /// What the server runs: the echo service, or a user's service.
    software: Software,
}

/// How many times the driver has crashed a server's software, shared by
/// the driver and every incarnation. A crash drops the host's tasks in an
/// order set by process-wide task ids; what a task would record as it is
/// dropped (a stream's end) compares the count with the one it started
/// under and, if a crash came between, records nothing: the trace's
/// `host_crash` line already says every stream ended.
#[derive(Debug, Clone, Default)]
pub(crate) struct Crashes(Arc<AtomicU64>);

impl Crashes {
    /// The count now: the epoch a new stream lives in.
    pub(crate) fn epoch(&self) -> u64 {
        // One thread runs the simulation; kernel mode needs no ordering
        // with other memory either, only the count.
        self.0.load(Ordering::Relaxed)
    }

    fn note(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl Default for ServerControl {
    fn default() -> Self {
        Self {
            behaviour: watch::Sender::new(Behaviour::default()),
            commands: watch::Sender::new(Commands::default()),
            process: watch::Sender::new(Process::Running),
            trace_rpcs: false,
            max_streams: None,
            crashes: Crashes::default(),
            software: Software::Echo,
        }
    }
}

impl ServerControl {
    /// A control whose server also traces every RPC it receives
    /// (`server_rpc`), for checks that count calls on the server's side.
    pub fn tracing_rpcs() -> Self {
        Self {
            trace_rpcs: true,
            ..Self::default()
        }
    }

    pub(crate) fn traces_rpcs(&self) -> bool {
        self.trace_rpcs
    }

    /// This control with the server announcing `max` as its
    /// SETTINGS_MAX_CONCURRENT_STREAMS (`None`: hyper's default, 200).
    pub fn with_max_streams(self, max: Option<u32>) -> Self {
        Self {
            max_streams: max,
            ..self
        }
    }

    /// This control with the server running `service` instead of the
    /// echo service.
    pub fn with_service(self, service: UserService) -> Self {
        Self {
            software: Software::User(service),
            ..self
        }
    }

    pub(crate) fn software(&self) -> &Software {
        &self.software
    }

    pub(crate) fn max_streams(&self) -> Option<u32> {
        self.max_streams
    }

    /// Changes how the echo service answers from now on.
    pub fn set_behaviour(&self, change: impl FnOnce(&mut Behaviour)) {
        // `send_modify` works with or without receivers (a crashed server
        // has none), and wakes the ones there are.
        self.behaviour.send_modify(change);
    }

    /// Makes the server's health service report SERVING or NOT_SERVING.
    pub fn set_serving(&self, serving: bool) {
        self.set_behaviour(|b| b.not_serving = !serving);
    }

    /// Sends a GOAWAY round now; with `every`, keeps repeating it.
    pub fn goaway(&self, mode: GoawayMode, every: Option<Duration>) {
        self.commands.send_modify(|c| {
            c.goaway_epoch += 1;
            c.goaway_every = every;
            c.goaway_mode = mode;
        });
    }

    /// Stops a repeating GOAWAY storm.
    pub fn stop_goaway(&self) {
        self.commands.send_modify(|c| c.goaway_every = None);
    }

    /// Starts a graceful restart.
    pub fn restart(&self, plan: RestartPlan) {
        self.commands.send_modify(|c| {
            c.restart_epoch += 1;
            c.restart = plan;
        });
    }

    /// Stops or starts the server's process (see [`Process`]). An
    /// incarnation started while stopped waits before it listens.
    pub fn set_process(&self, process: Process) {
        self.process.send_replace(process);
    }

    /// Returns once the process may run: at once unless it is stopped.
    pub(crate) async fn running(&self) {
        let mut process = self.process.subscribe();
        // The sender lives in this control, so the channel cannot close.
        let _ = process.wait_for(|p| *p == Process::Running).await;
    }

    /// Says the server's software is about to be crashed: call it before
    /// the crash drops the host's tasks (see [`Crashes`]).
    pub(crate) fn note_crash(&self) {
        self.crashes.note();
    }

    pub(crate) fn crashes(&self) -> Crashes {
        self.crashes.clone()
    }

    pub(crate) fn behaviour(&self) -> watch::Receiver<Behaviour> {
        self.behaviour.subscribe()
    }

    pub(crate) fn commands(&self) -> watch::Receiver<Commands> {
        self.commands.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failing(percent: u8) -> Failure {
        Failure {
            percent,
            code: Code::Unavailable,
        }
    }

    #[test]
    fn exactly_the_chosen_share_of_calls_fails() {
        for percent in [0u8, 1, 25, 33, 50, 99, 100] {
            let failed = (0..1000).filter(|&n| failing(percent).fails(n)).count();
            assert_eq!(failed, usize::from(percent) * 10, "{percent} %");
        }
        let pattern: Vec<bool> = (0..4).map(|n| failing(50).fails(n)).collect();
        assert_eq!(pattern, [false, true, false, true]);
    }
}
