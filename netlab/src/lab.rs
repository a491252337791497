//! [`Lab`]: one run's network, from creation to removal. It ties the other
//! modules together: checks preconditions, builds the topology and NATs,
//! looks up hosts and addresses, enters namespaces, applies and heals cuts,
//! and removes everything on [`Lab::destroy`] or `Drop`.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::topology::{Node, Plan};
use crate::{
    Cut, CutId, LabError, NatSpec, check_preconditions, cleanup, command, cut, names, nat, netns,
    topology,
};

/// What to build: the hosts and the NATs in front of some of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabSpec {
    /// Logical host names ("client", "server-1", ...), not the NATs. Each
    /// gets a namespace and an address, in this order: the i-th (from 1) is
    /// 198.18.i.2.
    pub hosts: Vec<String>,
    /// NATs, numbered after the hosts.
    pub nats: Vec<NatSpec>,
}

/// A throwaway network of namespaces; removed on [`destroy`](Lab::destroy)
/// or drop. `Send + Sync`: cuts may be applied from any thread.
#[derive(Debug)]
pub struct Lab {
    id: String,
    plan: Plan,
    next_cut: AtomicU64,
    /// Active cuts; a mutex also serialises nft transactions on the router
    /// so a heal's handle lookup cannot interleave with another change.
    cuts: Mutex<BTreeSet<CutId>>,
    destroyed: bool,
}

impl Lab {
    /// Checks preconditions, then creates every namespace, link, address,
    /// route, the router's cut table and the NATs. On failure, whatever was
    /// created is removed before the error is returned.
    pub fn create(spec: &LabSpec) -> Result<Lab, LabError> {
        check_preconditions()?;
        let id = names::next_lab_id();
        let plan = topology::plan(&id, spec)?;
        // Our counter never reuses an id, so namespaces already bearing it
        // are a killed earlier process's that had this same pid.
        cleanup::delete(&cleanup::namespaces_of_lab(&id))?;
        // The lab exists (and so is dropped, removing everything) from here
        // on, also if a step below fails or panics.
        let lab = Lab {
            id,
            plan,
            next_cut: AtomicU64::new(1),
            cuts: Mutex::new(BTreeSet::new()),
            destroyed: false,
        };
        topology::build(&lab.plan)?;
        command::nft_script(&lab.plan.router, &cut::table_script())?;
        for node in &lab.plan.nodes {
            if let Some(i) = node.nat {
                let spec = &spec.nats[i];
                let target = lab.node(&spec.forward_to)?.addr();
                nat::apply(&node.namespace, spec, node.addr(), target)?;
            }
        }
        Ok(lab)
    }

    /// This lab's id, `sq<pid>x<n>`; every namespace name starts with it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The address of a host or NAT (`None` for unknown names and for the
    /// router, which has one address per link).
    pub fn addr(&self, host: &str) -> Option<Ipv4Addr> {
        self.node(host).ok().map(Node::addr)
    }

    /// The host or NAT that has `addr` (IPv4-mapped IPv6 addresses, as a
    /// dual-stack listener reports peers, are understood).
    pub fn host_of(&self, addr: IpAddr) -> Option<&str> {
        let IpAddr::V4(v4) = addr.to_canonical() else {
            return None;
        };
        self.plan
            .nodes
            .iter()
            .find(|n| n.addr() == v4)
            .map(|n| n.name.as_str())
    }

    /// The logical names of the hosts, then the NATs.
    pub fn hosts(&self) -> Vec<&str> {
        self.plan.nodes.iter().map(|n| n.name.as_str()).collect()
    }

    /// The namespace of a host, NAT or the router (`"net"`).
    pub fn namespace(&self, host: &str) -> Result<&str, LabError> {
        if host == names::ROUTER {
            return Ok(&self.plan.router);
        }
        self.node(host).map(|n| n.namespace.as_str())
    }

    /// Moves the *calling thread* into the namespace of `host` (a host, NAT
    /// or `"net"`), with `setns(CLONE_NEWNET)`. Sockets it opens afterwards
    /// live there. There is no way back: use a dedicated thread (not, e.g.,
    /// a shared async runtime's worker). Needs CAP_SYS_ADMIN, like creating
    /// the lab.
    pub fn enter(&self, host: &str) -> Result<(), LabError> {
        netns::enter(self.namespace(host)?)
    }

    /// Runs `f` on a short-lived thread entered into `host`'s namespace and
    /// returns its result. Sockets `f` creates stay in that namespace when
    /// returned, so this is a convenient way to get e.g. a listener there.
    pub fn run_in<T: Send>(&self, host: &str, f: impl FnOnce() -> T + Send) -> Result<T, LabError> {
        netns::run_in(self.namespace(host)?, "run-in", f)
    }

    /// A sysctl's value inside `host`'s namespace (e.g.
    /// `net.netfilter.nf_conntrack_tcp_timeout_established`).
    pub fn sysctl(&self, host: &str, key: &str) -> Result<String, LabError> {
        netns::read_sysctl(self.namespace(host)?, key)
    }

    /// Starts dropping packets as `cut` says; returns the id to heal it.
    pub fn cut(&self, cut: &Cut) -> Result<CutId, LabError> {
        cut::validate(cut)?;
        let from = self.addresses(&cut.from)?;
        let to = self.addresses(&cut.to)?;
        let mut cuts = self
            .cuts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let id = CutId(self.next_cut.fetch_add(1, Ordering::Relaxed));
        cut::apply(&self.plan.router, id, &from, &to, cut)?;
        cuts.insert(id);
        Ok(id)
    }

    /// Stops cut `id`; other cuts stay in force.
    pub fn heal(&self, id: CutId) -> Result<(), LabError> {
        let mut cuts = self
            .cuts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !cuts.contains(&id) {
            return Err(LabError::UnknownCut(id));
        }
        cut::remove(&self.plan.router, id)?;
        cuts.remove(&id);
        Ok(())
    }

    /// The cuts in force, oldest first.
    pub fn active_cuts(&self) -> Vec<CutId> {
        self.cuts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .copied()
            .collect()
    }

    /// Every namespace this lab created, router first.
    pub fn namespaces(&self) -> Vec<String> {
        self.plan.namespaces()
    }

    /// Removes every namespace of this lab (and with them everything in
    /// them); reports what could not be removed. A thread still entered
    /// into a namespace keeps that (now nameless, unreachable) namespace
    /// alive until it exits; its name, and so the lab, is gone at once.
    pub fn destroy(mut self) -> Result<(), LabError> {
        self.destroyed = true;
        self.remove_all()
    }

    fn remove_all(&self) -> Result<(), LabError> {
        // Also any namespace a half-finished create left under this id.
        let mut all: BTreeSet<String> = self.plan.namespaces().into_iter().collect();
        all.extend(cleanup::namespaces_of_lab(&self.id));
        let all: Vec<String> = all.into_iter().collect();
        cleanup::delete(&all).map(drop)
    }

    fn node(&self, host: &str) -> Result<&Node, LabError> {
        self.plan
            .nodes
            .iter()
            .find(|n| n.name == host)
            .ok_or_else(|| LabError::UnknownHost(host.to_owned()))
    }

    fn addresses(&self, hosts: &[String]) -> Result<BTreeSet<Ipv4Addr>, LabError> {
        hosts.iter().map(|h| self.node(h).map(Node::addr)).collect()
    }
}

impl Drop for Lab {
    /// Best-effort removal, also while unwinding from a panic; errors are
    /// reported on stderr because a destructor cannot return them.
    fn drop(&mut self) {
        if self.destroyed {
            return;
        }
        if let Err(e) = self.remove_all() {
            eprintln!("squall-netlab: removing lab {}: {e}", self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    /// Cuts are applied from whichever thread runs the fault script.
    #[test]
    fn lab_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<super::Lab>();
    }
}
