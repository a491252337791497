//! Building a world: the turmoil simulation from a [`WorldConfig`]
//! (through [`SimSetup`], as every squall simulation is set up), with
//! every host on it (servers, middleboxes, the client) and the servers'
//! control channels, ready to be stepped (`step`). Nothing runs here.

use std::collections::BTreeMap;

use crate::{
    client::{self, WatchedPool},
    middlebox,
    server::ServerControl,
    trace::Recorder,
};

use super::{
    CLIENT_HOST, WorldConfig,
    setup::{SimSetup, add_server},
};

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
    let mut sim = SimSetup {
        tick: config.tick,
        link_latency: config.link_latency,
        // The driver enforces its own limit, with a clear error.
        ..SimSetup::new(config.seed, config.time_limit + config.tick * 2)
    }
    .build();

    let mut controls: BTreeMap<String, ServerControl> = BTreeMap::new();
    for name in config.server_names() {
        let control = config.server_control();
        add_server(&mut sim, &name, recorder, &control);
        controls.insert(name, control);
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
