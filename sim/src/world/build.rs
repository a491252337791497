//! Building a world: the turmoil simulation from a [`WorldConfig`], with
//! every host on it (servers, middleboxes, the client) and the servers'
//! control channels, ready to be stepped (`step`). Nothing runs here.

use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime},
};

use crate::{
    client::{self, WatchedPool},
    middlebox,
    server::{self, ServerControl},
    trace::Recorder,
};

use super::{CLIENT_HOST, WorldConfig};

/// A built world, before its first step.
pub(crate) struct World {
    pub(crate) sim: turmoil::Sim<'static>,
    /// One control channel per server, shared by every incarnation of its
    /// software (a crashed server restarts with the faults still set).
    pub(crate) controls: BTreeMap<String, ServerControl>,
    /// The client's pool, once its program has built one (for sampling
    /// its connections' load).
    pub(crate) watched: WatchedPool,
}

/// The simulation of `config`, every host added; every line is recorded
/// into `recorder`.
pub(crate) fn build(config: &WorldConfig, recorder: &Recorder) -> World {
    let mut sim = turmoil::Builder::new()
        .rng_seed(config.seed)
        // The default epoch is the wall clock; a fixed one keeps runs identical.
        .epoch(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .tick_duration(config.tick)
        // The driver enforces its own limit, with a clear error.
        .simulation_duration(config.time_limit + config.tick * 2)
        .min_message_latency(config.link_latency)
        .max_message_latency(config.link_latency)
        .tcp_capacity(1024)
        // Linux's TCP (ACKs, RTO retransmission, SYN retries, user timeout,
        // keepalive) in place of turmoil's lossless one: squall's fork,
        // docs/upstream.md. Linux's defaults, as a kernel host has them.
        .tcp_retransmission(turmoil::TcpRetransmission::default())
        // A cut drops what is sent from its instant on; what is already on
        // the link arrives, as past the firewall rule kernel mode adds
        // (nftables), rather than being recalled.
        .partitions_spare_in_flight(true)
        .build();

    let mut controls: BTreeMap<String, ServerControl> = BTreeMap::new();
    for name in config.server_names() {
        let control = if config.servers_trace_rpcs() {
            ServerControl::tracing_rpcs()
        } else {
            ServerControl::default()
        }
        .with_max_streams(config.server_max_streams);
        controls.insert(name.clone(), control.clone());
        let recorder = recorder.clone();
        sim.host(name.clone(), move || {
            server::serve(name.clone(), recorder.clone(), control.clone())
        });
    }
    for middlebox in &config.middleboxes {
        let (middlebox, recorder) = (middlebox.clone(), recorder.clone());
        sim.host(middlebox.name.clone(), move || {
            middlebox::nat::run(middlebox.clone(), recorder.clone())
        });
    }
    let watched = WatchedPool::default();
    sim.client(
        CLIENT_HOST,
        client::program(
            config.clone(),
            recorder.clone(),
            watched.clone(),
            client::Network::turmoil(),
        ),
    );
    World {
        sim,
        controls,
        watched,
    }
}
