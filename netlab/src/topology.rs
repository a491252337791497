//! The shape of a lab: which namespaces, which links, which addresses
//! ([`plan`], pure), and the `ip` commands that build it ([`build`]).
//!
//! A star: one router namespace ("net") in the middle, and for every host
//! and NAT a namespace with `lo` and one veth `eth0` to the router. Link `i`
//! (from 1) is 198.18.i.0/24: router side `.1` (interface `eth<i>`), host
//! side `.2`, the host's default route via `.1`. All of it is inside
//! 198.18.0.0/15 (RFC 2544 benchmarking space) and inside namespaces this
//! crate made; veths are created with both ends already in lab namespaces,
//! so nothing ever appears in the root namespace. IPv6 is switched off in
//! every lab namespace, so no link-local addresses or traffic appear either.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use crate::{LabError, LabSpec, command, names, netns};

/// Link numbers are the third octet of 198.18.i.0/24.
const MAX_LINKS: usize = 255;

/// One host or NAT and its link to the router.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// The logical name ("client", "server-1", "nat-1").
    pub name: String,
    /// Its namespace, `sq<pid>x<n>-<name>`.
    pub namespace: String,
    /// The link number `i`.
    pub link: u8,
    /// Whether this node is a NAT (index into the spec's `nats`).
    pub nat: Option<usize>,
}

impl Node {
    /// The node's own address, 198.18.i.2.
    pub fn addr(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.link, 2)
    }

    /// The router's address on this link, 198.18.i.1.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.link, 1)
    }

    /// The router's interface for this link.
    pub fn router_interface(&self) -> String {
        format!("eth{}", self.link)
    }
}

/// Everything a lab will create, before creating any of it.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// The router's namespace.
    pub router: String,
    /// Hosts in spec order, then NATs in spec order.
    pub nodes: Vec<Node>,
}

impl Plan {
    /// Every namespace, router first.
    pub fn namespaces(&self) -> Vec<String> {
        std::iter::once(self.router.clone())
            .chain(self.nodes.iter().map(|n| n.namespace.clone()))
            .collect()
    }
}

/// Validates `spec` and assigns namespaces, links and addresses.
pub(crate) fn plan(lab_id: &str, spec: &LabSpec) -> Result<Plan, LabError> {
    let mut seen = BTreeSet::new();
    let all = spec
        .hosts
        .iter()
        .map(String::as_str)
        .chain(spec.nats.iter().map(|n| n.name.as_str()));
    for name in all {
        names::validate_host(name).map_err(LabError::InvalidSpec)?;
        if !seen.insert(name) {
            return Err(LabError::InvalidSpec(format!(
                "`{name}` appears twice among hosts and NATs"
            )));
        }
    }
    for nat in &spec.nats {
        if !spec.hosts.contains(&nat.forward_to) {
            return Err(LabError::InvalidSpec(format!(
                "NAT `{}` forwards to `{}`, which is not one of the hosts",
                nat.name, nat.forward_to
            )));
        }
        if nat.port == 0 {
            return Err(LabError::InvalidSpec(format!(
                "NAT `{}` has port 0",
                nat.name
            )));
        }
    }
    let count = spec.hosts.len() + spec.nats.len();
    if count > MAX_LINKS {
        return Err(LabError::InvalidSpec(format!(
            "{count} hosts and NATs; at most {MAX_LINKS} fit 198.18.1-255.0/24"
        )));
    }
    let kinds = spec.hosts.iter().map(|h| (h, None)).chain(
        spec.nats
            .iter()
            .enumerate()
            .map(|(i, n)| (&n.name, Some(i))),
    );
    let nodes = kinds
        .enumerate()
        .map(|(i, (name, nat))| Node {
            name: name.clone(),
            namespace: names::namespace_name(lab_id, name),
            // `count <= 255` was checked, so `i + 1` fits.
            link: u8::try_from(i + 1).unwrap_or(u8::MAX),
            nat,
        })
        .collect();
    Ok(Plan {
        router: names::namespace_name(lab_id, names::ROUTER),
        nodes,
    })
}

/// Creates the namespaces, links, addresses and routes of `plan`, and turns
/// the router into a router. NATs are configured afterwards by
/// [`nat`](crate::nat).
pub(crate) fn build(plan: &Plan) -> Result<(), LabError> {
    // One `ip` process for all namespaces.
    let mut script = String::new();
    for ns in plan.namespaces() {
        let _ = writeln!(script, "netns add {ns}");
    }
    command::ip_batch(None, &script)?;

    // Router first: its `conf.default` must say "no redirects" before its
    // interfaces exist, so they inherit it. Redirects would tell a host to
    // bypass the router, and so the cuts in it; the kernel ORs `all` and the
    // per-interface value, so both are written (per-interface below).
    let no_ipv6 = ipv6_off();
    netns::write_sysctls(
        &plan.router,
        &[no_ipv6.clone(), router_sysctls(&[])].concat(),
    )?;
    for node in &plan.nodes {
        netns::write_sysctls(&node.namespace, &no_ipv6)?;
    }

    // Veths are made from the router with the peer placed straight into the
    // host's namespace: neither end ever exists in the root namespace.
    let mut router = String::from("link set lo up\n");
    for node in &plan.nodes {
        let (rif, gw, host_ns) = (node.router_interface(), node.gateway(), &node.namespace);
        let _ = writeln!(
            router,
            "link add {rif} type veth peer name eth0 netns {host_ns}"
        );
        let _ = writeln!(router, "addr add {gw}/24 dev {rif}");
        let _ = writeln!(router, "link set {rif} up");
    }
    command::ip_batch(Some(&plan.router), &router)?;
    let interfaces: Vec<String> = plan.nodes.iter().map(Node::router_interface).collect();
    netns::write_sysctls(&plan.router, &router_sysctls(&interfaces))?;

    for node in &plan.nodes {
        let (addr, gw) = (node.addr(), node.gateway());
        let script = format!(
            "link set lo up\naddr add {addr}/24 dev eth0\nlink set eth0 up\nroute add default via {gw} dev eth0\n"
        );
        command::ip_batch(Some(&node.namespace), &script)?;
    }
    Ok(())
}

/// IPv6 off in a fresh namespace, before its veth exists. Otherwise the
/// kernel gives `lo` ::1 and every veth an fe80:: address and sends
/// neighbour discovery and MLD on the links: addresses and traffic outside
/// 198.18.0.0/15. `all` also switches off the existing `lo`, `default`
/// covers interfaces made later. Nothing to do on a kernel without IPv6.
pub(crate) fn ipv6_off() -> Vec<(String, String)> {
    if std::fs::metadata("/proc/sys/net/ipv6").is_err() {
        return Vec::new();
    }
    ["all", "default"]
        .iter()
        .map(|which| {
            (
                format!("net.ipv6.conf.{which}.disable_ipv6"),
                "1".to_owned(),
            )
        })
        .collect()
}

/// Forwarding on, redirects off (on `all`, `default` and each interface).
pub(crate) fn router_sysctls(interfaces: &[String]) -> Vec<(String, String)> {
    let mut settings = vec![
        ("net.ipv4.ip_forward".to_owned(), "1".to_owned()),
        (
            "net.ipv4.conf.all.send_redirects".to_owned(),
            "0".to_owned(),
        ),
        (
            "net.ipv4.conf.default.send_redirects".to_owned(),
            "0".to_owned(),
        ),
    ];
    settings.extend(
        interfaces
            .iter()
            .map(|i| (format!("net.ipv4.conf.{i}.send_redirects"), "0".to_owned())),
    );
    settings
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{NatExpiry, NatSpec};

    fn spec(hosts: &[&str], nats: &[(&str, &str)]) -> LabSpec {
        LabSpec {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            nats: nats
                .iter()
                .map(|(name, to)| NatSpec {
                    name: name.to_string(),
                    forward_to: to.to_string(),
                    port: 80,
                    idle_timeout: Duration::from_secs(1),
                    expiry: NatExpiry::Silent,
                })
                .collect(),
        }
    }

    #[test]
    fn hosts_then_nats_get_consecutive_links() {
        let plan = plan(
            "sq1x2",
            &spec(&["client", "server-1"], &[("nat-1", "server-1")]),
        )
        .unwrap();
        assert_eq!(plan.router, "sq1x2-net");
        let got: Vec<_> = plan
            .nodes
            .iter()
            .map(|n| (n.namespace.as_str(), n.addr(), n.gateway(), n.nat))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "sq1x2-client",
                    Ipv4Addr::new(198, 18, 1, 2),
                    Ipv4Addr::new(198, 18, 1, 1),
                    None
                ),
                (
                    "sq1x2-server-1",
                    Ipv4Addr::new(198, 18, 2, 2),
                    Ipv4Addr::new(198, 18, 2, 1),
                    None
                ),
                (
                    "sq1x2-nat-1",
                    Ipv4Addr::new(198, 18, 3, 2),
                    Ipv4Addr::new(198, 18, 3, 1),
                    Some(0)
                ),
            ]
        );
        assert_eq!(plan.nodes[2].router_interface(), "eth3");
    }

    #[test]
    fn rejects_bad_specs() {
        for bad in [
            spec(&["a", "a"], &[]),
            spec(&["a"], &[("a", "a")]),
            spec(&["net"], &[]),
            spec(&["a/b"], &[]),
            spec(&["a"], &[("n", "b")]),
        ] {
            assert!(
                matches!(plan("sq1x0", &bad), Err(LabError::InvalidSpec(_))),
                "{bad:?}"
            );
        }
        let many: Vec<String> = (0..256).map(|i| format!("h{i}")).collect();
        let many = LabSpec {
            hosts: many,
            nats: vec![],
        };
        assert!(matches!(
            plan("sq1x0", &many),
            Err(LabError::InvalidSpec(_))
        ));
        let mut zero_port = spec(&["a"], &[("n", "a")]);
        zero_port.nats[0].port = 0;
        assert!(matches!(
            plan("sq1x0", &zero_port),
            Err(LabError::InvalidSpec(_))
        ));
    }
}
