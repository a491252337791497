//! How squall sets up a turmoil simulation: seed, epoch, tick, link
//! latency, TCP model, accept backlog, partitions. The one place these are
//! set, for worlds (`build`) and for the suite's tests that drive a pool
//! by hand (root `src/lib.rs`), and the one way an echo server host is
//! added to a simulation.

use std::time::{Duration, SystemTime};

use crate::{
    server::{self, ServerControl},
    trace::Recorder,
};

/// The knobs of a turmoil simulation. [`SimSetup::new`] gives a world's;
/// a test that needs another (turmoil's own TCP, say) changes that field,
/// so what differs from a world is written where it differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimSetup {
    /// turmoil's RNG (and through it tokio's, under `--cfg tokio_unstable`).
    pub seed: u64,
    /// The wall clock's time at the start. turmoil's default is the real
    /// wall clock; a fixed one keeps runs identical.
    pub epoch: SystemTime,
    /// Length of one simulation step.
    pub tick: Duration,
    /// turmoil's own limit on simulated time; it fails the run past it.
    pub duration: Duration,
    /// One-way latency of every link. Fixed (not random) so TCP segments
    /// are never reordered and timings are exact.
    pub link_latency: Duration,
    /// Each listener's accept backlog (`Builder::tcp_capacity`; turmoil
    /// panics past it). turmoil's default is 64.
    pub tcp_capacity: usize,
    /// Linux's TCP (ACKs, RTO retransmission, SYN retries, user timeout,
    /// keepalive; squall's fork, docs/upstream.md) with Linux's defaults,
    /// as a kernel host has them; `false`: turmoil's lossless TCP.
    pub linux_tcp: bool,
    /// A cut drops what is sent from its instant on; what is already on
    /// the link arrives, as past the firewall rule kernel mode adds
    /// (nftables), rather than being recalled. `false`: turmoil's default,
    /// a cut drops what is in flight too.
    pub partitions_spare_in_flight: bool,
}

impl SimSetup {
    /// The epoch of every world: a fixed time, 2023-11-14.
    pub fn world_epoch() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    /// A world's setup, seeded with `seed`, for `duration` of simulated
    /// time: the fixed epoch, 1 ms ticks and links, a backlog of 1024,
    /// Linux's TCP, cuts that spare what is in flight.
    pub fn new(seed: u64, duration: Duration) -> Self {
        Self {
            seed,
            epoch: Self::world_epoch(),
            tick: Duration::from_millis(1),
            duration,
            link_latency: Duration::from_millis(1),
            tcp_capacity: 1024,
            linux_tcp: true,
            partitions_spare_in_flight: true,
        }
    }

    /// The simulation, with no host yet.
    pub fn build<'a>(&self) -> turmoil::Sim<'a> {
        let mut builder = turmoil::Builder::new();
        builder
            .rng_seed(self.seed)
            .epoch(self.epoch)
            .tick_duration(self.tick)
            .simulation_duration(self.duration)
            .min_message_latency(self.link_latency)
            .max_message_latency(self.link_latency)
            .tcp_capacity(self.tcp_capacity)
            .partitions_spare_in_flight(self.partitions_spare_in_flight);
        if self.linux_tcp {
            builder.tcp_retransmission(turmoil::TcpRetransmission::default());
        }
        builder.build()
    }
}

/// Adds echo server host `name` to `sim`: its software runs under
/// `control` (every incarnation, across crashes) and records into
/// `recorder`.
pub fn add_server(
    sim: &mut turmoil::Sim<'_>,
    name: &str,
    recorder: &Recorder,
    control: &ServerControl,
) {
    let (name, recorder, control) = (name.to_owned(), recorder.clone(), control.clone());
    sim.host(name.clone(), move || {
        server::serve(name.clone(), recorder.clone(), control.clone())
    });
}
