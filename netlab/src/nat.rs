//! The NAT model: a namespace that behaves like a cloud NAT or load
//! balancer that forgets idle TCP flows.
//!
//! Clients dial the NAT's own address and port; it DNATs to the target
//! host's address and the same port and MASQUERADEs, so the target sees the
//! NAT as the peer. Its conntrack forgets an established flow after
//! `idle_timeout`; with `nf_conntrack_tcp_loose = 0` a later mid-stream
//! packet of that flow is not adopted as a new flow but marked INVALID, and
//! INVALID packets are dropped ([`NatExpiry::Silent`]) or answered with a
//! TCP reset ([`NatExpiry::Rst`]). Both the `input` hook (a forgotten
//! client→NAT packet is addressed to the NAT itself, since without a flow
//! there is no DNAT) and `forward` filter them.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::{LabError, command, netns};

/// A NAT in front of one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatSpec {
    /// Its logical name ("nat-1"); dial [`Lab::addr`](crate::Lab::addr) of it.
    pub name: String,
    /// The host it forwards to (one of [`LabSpec::hosts`](crate::LabSpec::hosts)).
    pub forward_to: String,
    /// The TCP port it listens on and forwards to.
    pub port: u16,
    /// How long an idle established flow is remembered (rounded up to whole
    /// seconds, at least 1: conntrack's resolution).
    pub idle_timeout: Duration,
    /// What a packet of a forgotten flow gets.
    pub expiry: NatExpiry,
}

/// What a NAT does with a packet of a flow it has forgotten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatExpiry {
    /// Drops it: the sender sees nothing and retransmits into the void.
    Silent,
    /// Answers with a TCP reset: the sender's connection fails at once.
    Rst,
}

/// The NAT's table.
const TABLE: &str = "ip squall_nat";

/// Conntrack's timeout for `idle`: whole seconds, rounded up, at least 1.
pub(crate) fn timeout_secs(idle: Duration) -> u64 {
    let secs = idle.as_secs() + u64::from(idle.subsec_nanos() > 0);
    secs.max(1)
}

/// The NAT's nft table.
pub(crate) fn script(spec: &NatSpec, own: Ipv4Addr, target: Ipv4Addr) -> String {
    let port = spec.port;
    let on_invalid = match spec.expiry {
        NatExpiry::Silent => "ct state invalid drop\n".to_owned(),
        // `reject with tcp reset` only applies to TCP; anything else invalid
        // is dropped by the rule after it.
        NatExpiry::Rst => {
            "ct state invalid reject with tcp reset\n    ct state invalid drop\n".to_owned()
        }
    };
    format!(
        "table {TABLE} {{
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr {own} tcp dport {port} dnat to {target}:{port}
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    ct status dnat masquerade
  }}
  chain input {{
    type filter hook input priority filter; policy accept;
    {on_invalid}  }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    {on_invalid}  }}
}}
"
    )
}

/// The NAT namespace's sysctls. It forwards (out the interface it received
/// on, hence no redirects either) and has its own conntrack settings.
pub(crate) fn sysctls(spec: &NatSpec) -> Vec<(String, String)> {
    let mut settings = crate::topology::router_sysctls(&["eth0".to_owned()]);
    settings.push((
        "net.netfilter.nf_conntrack_tcp_timeout_established".to_owned(),
        timeout_secs(spec.idle_timeout).to_string(),
    ));
    settings.push((
        "net.netfilter.nf_conntrack_tcp_loose".to_owned(),
        "0".to_owned(),
    ));
    settings
}

/// Configures the NAT in `namespace`. The table goes first: conntrack only
/// starts in a namespace once something (here the nat chains) needs it,
/// and on kernels with modular conntrack its sysctls appear only then.
pub(crate) fn apply(
    namespace: &str,
    spec: &NatSpec,
    own: Ipv4Addr,
    target: Ipv4Addr,
) -> Result<(), LabError> {
    command::nft_script(namespace, &script(spec, own, target))?;
    netns::write_sysctls(namespace, &sysctls(spec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up_to_whole_seconds() {
        assert_eq!(timeout_secs(Duration::from_secs(2)), 2);
        assert_eq!(timeout_secs(Duration::from_millis(1500)), 2);
        assert_eq!(timeout_secs(Duration::from_nanos(1)), 1);
        assert_eq!(timeout_secs(Duration::ZERO), 1);
    }

    #[test]
    fn rst_rejects_and_silent_drops() {
        let mut spec = NatSpec {
            name: "nat-1".into(),
            forward_to: "server-1".into(),
            port: 7000,
            idle_timeout: Duration::from_secs(2),
            expiry: NatExpiry::Rst,
        };
        let (own, target) = (Ipv4Addr::new(198, 18, 3, 2), Ipv4Addr::new(198, 18, 2, 2));
        let rst = script(&spec, own, target);
        assert!(rst.contains("ip daddr 198.18.3.2 tcp dport 7000 dnat to 198.18.2.2:7000"));
        assert_eq!(
            rst.matches("reject with tcp reset").count(),
            2,
            "input and forward"
        );
        spec.expiry = NatExpiry::Silent;
        let silent = script(&spec, own, target);
        assert!(!silent.contains("reject"));
        assert_eq!(silent.matches("ct state invalid drop").count(), 2);
    }
}
