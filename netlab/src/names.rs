//! Names of everything a lab creates, and parsing them back.
//!
//! Every namespace is `sq<pid>x<n>-<host>`: the owning process's pid (so a
//! killed run's leftovers can be told apart from a live run's, see
//! [`cleanup`](crate::cleanup)) and a per-process counter (so parallel test
//! threads, each with its own lab, never collide). Veths, nft tables and
//! sysctls live inside those namespaces and need no names of their own.

use std::sync::atomic::{AtomicU32, Ordering};

/// Every lab namespace starts with this.
pub(crate) const PREFIX: &str = "sq";

/// The logical host name of the router namespace in the middle.
pub const ROUTER: &str = "net";

/// Longest host name accepted; keeps namespace names short and readable.
const MAX_HOST_LEN: usize = 32;

static NEXT_LAB: AtomicU32 = AtomicU32::new(0);

/// A fresh lab id for this process: `sq<pid>x<n>`.
pub(crate) fn next_lab_id() -> String {
    let n = NEXT_LAB.fetch_add(1, Ordering::Relaxed);
    format!("{PREFIX}{}x{n}", std::process::id())
}

/// The namespace of `host` in lab `lab_id`.
pub(crate) fn namespace_name(lab_id: &str, host: &str) -> String {
    format!("{lab_id}-{host}")
}

/// A lab namespace name taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedName<'a> {
    /// The pid of the process that created it.
    pub pid: u32,
    /// `sq<pid>x<n>`, the lab it belongs to.
    pub lab_id: &'a str,
    /// The logical host.
    pub host: &'a str,
}

/// Parses `sq<pid>x<n>-<host>`; `None` for anything else (other software's
/// namespaces are never touched).
pub(crate) fn parse_namespace(name: &str) -> Option<ParsedName<'_>> {
    let rest = name.strip_prefix(PREFIX)?;
    let (pid, rest) = split_digits(rest)?;
    let rest = rest.strip_prefix('x')?;
    let (_n, rest) = split_digits(rest)?;
    let host = rest.strip_prefix('-')?;
    if host.is_empty() {
        return None;
    }
    let lab_len = name.len() - host.len() - 1;
    Some(ParsedName {
        pid: pid.parse().ok()?,
        lab_id: &name[..lab_len],
        host,
    })
}

/// Splits a non-empty run of ASCII digits off the front.
fn split_digits(s: &str) -> Option<(&str, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    (end > 0).then(|| s.split_at(end))
}

/// Checks a logical host (or NAT) name: it becomes part of a file name under
/// /run/netns and of command lines, so only a conservative alphabet.
pub(crate) fn validate_host(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a host name is empty".into());
    }
    if name.len() > MAX_HOST_LEN {
        return Err(format!(
            "host name `{name}` is longer than {MAX_HOST_LEN} characters"
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "host name `{name}` must start with a letter or digit"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "host name `{name}` contains `{bad}` (allowed: letters, digits, `-`, `_`)"
        ));
    }
    if name == ROUTER {
        return Err(format!("host name `{ROUTER}` is reserved for the router"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_generated_names() {
        let id = next_lab_id();
        let ns = namespace_name(&id, "server-1");
        let parsed = parse_namespace(&ns).expect("parses");
        assert_eq!(parsed.pid, std::process::id());
        assert_eq!(parsed.lab_id, id);
        assert_eq!(parsed.host, "server-1");
    }

    #[test]
    fn ids_are_unique_within_a_process() {
        assert_ne!(next_lab_id(), next_lab_id());
    }

    #[test]
    fn rejects_foreign_names() {
        for name in [
            "",
            "sq",
            "sq12",
            "sq12x",
            "sq12x3",
            "sq12x3-",
            "sqx3-a",
            "sq12y3-a",
            "docker0",
            "sq-12x3-a",
        ] {
            assert_eq!(parse_namespace(name), None, "{name}");
        }
        assert_eq!(parse_namespace("sq99999999999x1-a"), None, "pid beyond u32");
    }

    #[test]
    fn host_names_are_checked() {
        assert!(validate_host("server-1").is_ok());
        assert!(validate_host("nat_2").is_ok());
        for bad in ["", "net", "-a", "a/b", "a b", "a.b", &"x".repeat(33)] {
            assert!(validate_host(bad).is_err(), "{bad}");
        }
    }
}
