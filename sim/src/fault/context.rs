//! What a fault may act on when the driver injects or heals it: the
//! simulation, the world's host names, each server's control channel, and
//! the trace (at the action's simulated time).

use std::{collections::BTreeMap, time::Duration};

use crate::{
    server::ServerControl,
    trace::{Recorder, TraceEvent},
};

/// Handed to [`Fault::inject`](super::Fault) and `heal` by the driver.
pub(crate) struct FaultContext<'a, 'sim> {
    pub(crate) sim: &'a mut turmoil::Sim<'sim>,
    /// Every host of the world, in a fixed order.
    pub(crate) hosts: &'a [String],
    /// Each server's control channel, by host name.
    pub(crate) controls: &'a BTreeMap<String, ServerControl>,
    pub(crate) recorder: &'a Recorder,
    pub(crate) now: Duration,
    /// The world's one-way link latency, which heals restore.
    pub(crate) link_latency: Duration,
}

impl<'a> FaultContext<'a, '_> {
    /// Records a line in `host`'s column at the action's time.
    pub(crate) fn record(&self, host: &str, event: TraceEvent) {
        self.recorder.record_at(self.now, host, event);
    }

    /// The servers' control channels, for faults that act on software.
    pub(crate) fn controls(&self) -> Controls<'a> {
        Controls(self.controls)
    }

    /// Cuts `host` off from every other host, both ways.
    pub(crate) fn isolate(&mut self, host: &str) {
        for other in self.hosts.iter().filter(|h| h.as_str() != host) {
            self.sim.partition(host, other.as_str());
        }
    }

    /// Undoes [`FaultContext::isolate`].
    pub(crate) fn rejoin(&mut self, host: &str) {
        for other in self.hosts.iter().filter(|h| h.as_str() != host) {
            self.sim.repair(host, other.as_str());
        }
    }
}

/// Each server's control channel, by host name: what a fault that acts on
/// servers' software (slow, failing, restarting, GOAWAY storms) reaches, in
/// every world alike.
#[derive(Clone, Copy)]
pub struct Controls<'a>(pub &'a BTreeMap<String, ServerControl>);

impl Controls<'_> {
    /// Runs `act` on the control channel of each of `servers`. Names were
    /// validated with the world, so a missing one is skipped, not a panic.
    pub(crate) fn control(&self, servers: &[String], act: impl Fn(&ServerControl)) {
        for server in servers {
            debug_assert!(self.0.contains_key(server), "validated: {server}");
            if let Some(control) = self.0.get(server) {
                act(control);
            }
        }
    }
}

/// Every pair of a host of `a` and a different host of `b`, in list order.
pub(crate) fn pairs<'n>(a: &'n [String], b: &'n [String]) -> Vec<(&'n str, &'n str)> {
    a.iter()
        .flat_map(|x| b.iter().map(move |y| (x.as_str(), y.as_str())))
        .filter(|(x, y)| x != y)
        .collect()
}
