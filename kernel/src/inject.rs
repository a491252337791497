//! What each fault is on a real network. Network faults are DROP rules in
//! the router between the hosts ([`squall_netlab::Cut`]); a server crash
//! stops the server's thread (its sockets close, as a killed process's do)
//! and the heal starts it again; a silent crash isolates the host first, so
//! its goodbyes are lost, and rejoins it after the restart. Faults on
//! servers' software go through their control channels exactly as in the
//! simulation.
//!
//! What real networking here cannot do is refused before the run starts
//! ([`unsupported`]): added latency or jitter (this kernel has no
//! `sch_netem`, and nftables cannot delay a packet).

use std::collections::BTreeMap;

use squall_netlab::{Cut, CutId, Lab};
use squall_sim::{
    Fault, FaultClass, LossyLink, ScheduledFault, ServerCrash, WorldConfig, fault::Controls,
};

use crate::KernelError;

/// Why kernel mode cannot run `faults` as written, if it cannot.
pub fn unsupported(config: &WorldConfig) -> Option<String> {
    config.faults.iter().find_map(|scheduled: &ScheduledFault| match &scheduled.fault {
        Fault::LossyLink(LossyLink {
            latency, jitter, ..
        }) if latency.is_some() || jitter.is_some() => Some(format!(
            "fault `{}` at {:?} adds latency or jitter: this kernel has no sch_netem (no `tc netem`) and nftables cannot delay packets; only loss_permille runs in kernel mode",
            scheduled.fault, scheduled.at
        )),
        _ => None,
    })
}

/// The rules each active fault holds, by its place in the script, so a heal
/// removes exactly its own (two overlapping cuts heal one at a time).
#[derive(Default)]
pub(crate) struct ActiveCuts {
    by_fault: BTreeMap<usize, Vec<CutId>>,
}

/// What the driver needs to inject a fault.
pub(crate) trait Servers {
    /// Stops server `host`'s software (a crash).
    fn crash(&mut self, host: &str);
    /// Starts it again.
    fn restart(&mut self, host: &str) -> Result<(), KernelError>;
    fn controls(&self) -> Controls<'_>;
}

impl ActiveCuts {
    /// Injects fault number `index` of the script.
    pub(crate) fn inject(
        &mut self,
        lab: &Lab,
        hosts: &[String],
        servers: &mut dyn Servers,
        index: usize,
        fault: &Fault,
    ) -> Result<(), KernelError> {
        match fault.class() {
            FaultClass::Software => fault.inject_software(&servers.controls()),
            FaultClass::Network => {
                let cut = network_cut(fault);
                self.hold(lab, index, &cut)?;
            }
            FaultClass::Crash => {
                let Fault::ServerCrash(ServerCrash {
                    hosts: crashed,
                    silent,
                }) = fault
                else {
                    unreachable!("the only crash fault");
                };
                for host in crashed {
                    if *silent {
                        self.hold(lab, index, &isolate(host, hosts))?;
                    }
                    servers.crash(host);
                }
            }
        }
        Ok(())
    }

    /// Heals fault number `index` of the script.
    pub(crate) fn heal(
        &mut self,
        lab: &Lab,
        servers: &mut dyn Servers,
        index: usize,
        fault: &Fault,
    ) -> Result<(), KernelError> {
        match fault.class() {
            FaultClass::Software => fault.heal_software(&servers.controls()),
            FaultClass::Network => self.release(lab, index)?,
            FaultClass::Crash => {
                let Fault::ServerCrash(ServerCrash { hosts: crashed, .. }) = fault else {
                    unreachable!("the only crash fault");
                };
                for host in crashed {
                    servers.restart(host)?;
                }
                // A silent crash rejoins the network after the restart, as
                // in the simulation.
                self.release(lab, index)?;
            }
        }
        Ok(())
    }

    fn hold(&mut self, lab: &Lab, index: usize, cut: &Cut) -> Result<(), KernelError> {
        let id = lab.cut(cut)?;
        self.by_fault.entry(index).or_default().push(id);
        Ok(())
    }

    fn release(&mut self, lab: &Lab, index: usize) -> Result<(), KernelError> {
        for id in self.by_fault.remove(&index).unwrap_or_default() {
            lab.heal(id)?;
        }
        Ok(())
    }
}

/// The DROP rule of a network fault.
fn network_cut(fault: &Fault) -> Cut {
    let cut = |from: &[String], to: &[String], both_ways: bool, loss_permille: u16| Cut {
        from: from.to_vec(),
        to: to.to_vec(),
        both_ways,
        loss_permille,
    };
    match fault {
        Fault::BlackHole(f) => cut(
            std::slice::from_ref(&f.a),
            std::slice::from_ref(&f.b),
            true,
            1000,
        ),
        Fault::Partition(f) => cut(&f.a, &f.b, true, 1000),
        Fault::OneWayPartition(f) => cut(&f.from, &f.to, false, 1000),
        Fault::LossyLink(f) => cut(&f.a, &f.b, true, f.loss_permille.min(1000)),
        other => unreachable!("not a network fault: {other}"),
    }
}

/// Every packet to or from `host`.
fn isolate(host: &str, hosts: &[String]) -> Cut {
    Cut {
        from: vec![host.to_owned()],
        to: hosts.iter().filter(|h| *h != host).cloned().collect(),
        both_ways: true,
        loss_permille: 1000,
    }
}
