//! Packet-drop faults in the router: the nft rules a [`Cut`] becomes, and
//! how they are removed again.
//!
//! The router holds `table inet squall` with a `forward` filter chain. Each
//! cut is its own chain `cut_<id>`, reached by a `jump` rule in `forward`;
//! healing deletes that jump (by its handle) and the chain in one
//! transaction, so one cut's removal never touches another's rules. Rules
//! match by address, so a cut between two hosts affects exactly the
//! packets between their addresses (traffic through a NAT carries the NAT's
//! address on one leg; cut the NAT's name to cut that leg).

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;

use crate::{LabError, command};

/// The router's table, family and name.
pub(crate) const TABLE: &str = "inet squall";

/// "Every packet" in permille.
pub const ALL: u16 = 1000;

/// A packet-drop fault between groups of hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// Packets from these hosts (or NATs) ...
    pub from: Vec<String>,
    /// ... to these hosts (or NATs) are dropped.
    pub to: Vec<String>,
    /// Also drop `to` → `from`.
    pub both_ways: bool,
    /// 1000 drops every packet (a partition or black hole); less drops that
    /// random fraction, independently per packet.
    pub loss_permille: u16,
}

impl Cut {
    /// Every packet between `a` and `b`, both ways: a partition.
    pub fn partition(a: &[&str], b: &[&str]) -> Cut {
        Cut {
            from: to_strings(a),
            to: to_strings(b),
            both_ways: true,
            loss_permille: ALL,
        }
    }

    /// Every packet from `from` to `to`, one way only.
    pub fn one_way(from: &[&str], to: &[&str]) -> Cut {
        Cut {
            from: to_strings(from),
            to: to_strings(to),
            both_ways: false,
            loss_permille: ALL,
        }
    }
}

fn to_strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// Names one active cut of one lab, for [`Lab::heal`](crate::Lab::heal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CutId(pub(crate) u64);

impl fmt::Display for CutId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cut_{}", self.0)
    }
}

/// The router's table, created once per lab.
pub(crate) fn table_script() -> String {
    format!(
        "table {TABLE} {{\n  chain forward {{\n    type filter hook forward priority filter; policy accept;\n  }}\n}}\n"
    )
}

/// Checks what addresses cannot: both sides non-empty, loss in range.
pub(crate) fn validate(cut: &Cut) -> Result<(), LabError> {
    if cut.from.is_empty() || cut.to.is_empty() {
        return Err(LabError::InvalidCut(
            "`from` and `to` must each name at least one host".into(),
        ));
    }
    if cut.loss_permille > ALL {
        return Err(LabError::InvalidCut(format!(
            "loss_permille {} is over {ALL}",
            cut.loss_permille
        )));
    }
    Ok(())
}

/// The transaction that adds cut `id` dropping `from` → `to` (and back if
/// `both_ways`) with probability `loss_permille`/1000.
pub(crate) fn add_script(
    id: CutId,
    from: &BTreeSet<Ipv4Addr>,
    to: &BTreeSet<Ipv4Addr>,
    both_ways: bool,
    loss_permille: u16,
) -> String {
    // `numgen random mod 1000` is uniform in 0..1000, so `< N` is N/1000.
    let verdict = if loss_permille >= ALL {
        "drop".to_owned()
    } else {
        format!("numgen random mod {ALL} < {loss_permille} drop")
    };
    let mut script = format!("add chain {TABLE} {id}\n");
    script.push_str(&format!(
        "add rule {TABLE} {id} ip saddr {} ip daddr {} {verdict}\n",
        set(from),
        set(to)
    ));
    if both_ways {
        script.push_str(&format!(
            "add rule {TABLE} {id} ip saddr {} ip daddr {} {verdict}\n",
            set(to),
            set(from)
        ));
    }
    script.push_str(&format!("add rule {TABLE} forward jump {id}\n"));
    script
}

/// The transaction that removes cut `id`, whose jump rule has `handle`.
pub(crate) fn heal_script(id: CutId, handle: u64) -> String {
    format!(
        "delete rule {TABLE} forward handle {handle}\nflush chain {TABLE} {id}\ndelete chain {TABLE} {id}\n"
    )
}

fn set(addrs: &BTreeSet<Ipv4Addr>) -> String {
    let list: Vec<String> = addrs.iter().map(Ipv4Addr::to_string).collect();
    format!("{{ {} }}", list.join(", "))
}

/// Finds the handle of `jump <id>` in `nft -a list chain inet squall forward`.
pub(crate) fn jump_handle(listing: &str, id: CutId) -> Option<u64> {
    let wanted = format!("jump {id} ");
    listing
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with(&wanted) || line.starts_with(&format!("jump {id}#")))?
        .rsplit_once("# handle ")?
        .1
        .trim()
        .parse()
        .ok()
}

/// Applies cut `id` in the router namespace.
pub(crate) fn apply(
    router: &str,
    id: CutId,
    from: &BTreeSet<Ipv4Addr>,
    to: &BTreeSet<Ipv4Addr>,
    cut: &Cut,
) -> Result<(), LabError> {
    command::nft_script(
        router,
        &add_script(id, from, to, cut.both_ways, cut.loss_permille),
    )
}

/// Removes cut `id` from the router namespace.
pub(crate) fn remove(router: &str, id: CutId) -> Result<(), LabError> {
    let args = ["-a", "list", "chain", "inet", "squall", "forward"];
    let listing = command::nft(router, &args)?;
    let handle = jump_handle(&listing, id).ok_or_else(|| LabError::UnexpectedOutput {
        command: format!("ip netns exec {router} nft {}", args.join(" ")),
        detail: format!("no `jump {id}` rule with a handle in:\n{listing}"),
    })?;
    command::nft_script(router, &heal_script(id, handle))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(last: &[u8]) -> BTreeSet<Ipv4Addr> {
        last.iter().map(|i| Ipv4Addr::new(198, 18, *i, 2)).collect()
    }

    #[test]
    fn full_cut_both_ways() {
        let script = add_script(CutId(3), &addrs(&[1]), &addrs(&[2, 3]), true, 1000);
        assert_eq!(
            script,
            "add chain inet squall cut_3\n\
             add rule inet squall cut_3 ip saddr { 198.18.1.2 } ip daddr { 198.18.2.2, 198.18.3.2 } drop\n\
             add rule inet squall cut_3 ip saddr { 198.18.2.2, 198.18.3.2 } ip daddr { 198.18.1.2 } drop\n\
             add rule inet squall forward jump cut_3\n"
        );
    }

    #[test]
    fn lossy_cut_one_way() {
        let script = add_script(CutId(0), &addrs(&[1]), &addrs(&[2]), false, 250);
        assert!(script.contains(
            "ip saddr { 198.18.1.2 } ip daddr { 198.18.2.2 } numgen random mod 1000 < 250 drop\n"
        ));
        assert_eq!(script.matches("add rule inet squall cut_0").count(), 1);
    }

    #[test]
    fn finds_the_right_jump_handle() {
        let listing = "table inet squall {\n\tchain forward { # handle 1\n\t\ttype filter hook forward priority filter; policy accept;\n\
                       \t\tjump cut_1 # handle 6\n\t\tjump cut_11 # handle 9\n\t}\n}\n";
        assert_eq!(jump_handle(listing, CutId(1)), Some(6));
        assert_eq!(jump_handle(listing, CutId(11)), Some(9));
        assert_eq!(jump_handle(listing, CutId(2)), None);
    }

    #[test]
    fn validation() {
        assert!(validate(&Cut::partition(&["a"], &["b"])).is_ok());
        assert!(validate(&Cut::one_way(&[], &["b"])).is_err());
        let mut lossy = Cut::one_way(&["a"], &["b"]);
        lossy.loss_permille = 1001;
        assert!(validate(&lossy).is_err());
    }
}
