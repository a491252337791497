//! Whether this machine can run labs at all, checked before anything is
//! created, so a user gets every missing piece (and the Debian package that
//! provides it) in one message instead of a cryptic failure half-way through.

use std::fmt;

use crate::command;

/// CAP_NET_ADMIN: veths, addresses, routes, nftables.
const CAP_NET_ADMIN: u32 = 12;
/// CAP_SYS_ADMIN: creating (`ip netns add`) and entering (`setns`) namespaces.
const CAP_SYS_ADMIN: u32 = 21;

/// The sysctl the NAT model needs; present once nf_conntrack is loaded.
const CONNTRACK_SYSCTL: &str = "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established";

/// One thing the machine lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// Neither root nor the needed capabilities (`cap_eff` is CapEff, hex).
    Privilege {
        /// The process's effective capability mask as read from /proc/self/status.
        cap_eff: String,
    },
    /// The `ip` tool (iproute2).
    Ip,
    /// The `nft` tool (nftables).
    Nft,
    /// The kernel cannot create network namespaces.
    NetworkNamespaces {
        /// What the probe saw.
        detail: String,
    },
    /// nf_conntrack is neither loaded nor available as a module.
    Conntrack {
        /// The running kernel's release.
        kernel: String,
    },
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::Privilege { cap_eff } => write!(
                f,
                "not privileged: labs need root, or CAP_NET_ADMIN (veths, routes, nftables) plus \
                 CAP_SYS_ADMIN (creating and entering namespaces); this process has CapEff={cap_eff}; \
                 run as root (e.g. `sudo -E`, Debian package sudo)"
            ),
            Missing::Ip => write!(f, "`ip` not found: install the Debian package iproute2"),
            Missing::Nft => write!(f, "`nft` not found: install the Debian package nftables"),
            Missing::NetworkNamespaces { detail } => write!(
                f,
                "no network-namespace support ({detail}): needs a kernel built with CONFIG_NET_NS=y \
                 (Debian's stock kernel, package linux-image-amd64, has it)"
            ),
            Missing::Conntrack { kernel } => write!(
                f,
                "conntrack sysctls missing ({CONNTRACK_SYSCTL}) and no nf_conntrack module found for \
                 kernel {kernel}: load it with `modprobe nf_conntrack` (Debian package kmod; the module \
                 ships in linux-image-{kernel})"
            ),
        }
    }
}

/// Every missing precondition, one per line in `Display`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PreconditionError {
    /// What is missing, in check order; never empty.
    pub missing: Vec<Missing>,
}

impl fmt::Display for PreconditionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, missing) in self.missing.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{missing}")?;
        }
        Ok(())
    }
}

/// Checks root/capabilities, `ip`, `nft`, network-namespace support and
/// conntrack, and reports *all* that are missing.
pub fn check_preconditions() -> Result<(), PreconditionError> {
    let mut missing = Vec::new();
    let cap_eff = read_cap_eff();
    let privileged =
        cap_eff.is_some_and(|caps| has(caps, CAP_NET_ADMIN) && has(caps, CAP_SYS_ADMIN));
    if !privileged {
        missing.push(Missing::Privilege {
            cap_eff: cap_eff.map_or_else(|| "unknown".to_owned(), |caps| format!("{caps:016x}")),
        });
    }
    if command::locate("ip").is_none() {
        missing.push(Missing::Ip);
    }
    if command::locate("nft").is_none() {
        missing.push(Missing::Nft);
    }
    if let Err(detail) = probe_network_namespaces(privileged) {
        missing.push(Missing::NetworkNamespaces { detail });
    }
    if !conntrack_available() {
        missing.push(Missing::Conntrack {
            kernel: kernel_release(),
        });
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(PreconditionError { missing })
    }
}

fn has(caps: u64, cap: u32) -> bool {
    caps & (1 << cap) != 0
}

/// CapEff from /proc/self/status (capabilities, not uid, decide: root in a
/// restricted container may lack them, a non-root user may have them).
fn read_cap_eff() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(line.trim(), 16).ok()
}

/// Without privilege only the namespace file can be checked; with it, a
/// throwaway thread actually unshares a network namespace (freed when the
/// thread exits), which is the only reliable test of kernel support.
fn probe_network_namespaces(privileged: bool) -> Result<(), String> {
    if std::fs::metadata("/proc/self/ns/net").is_err() {
        return Err("/proc/self/ns/net is missing".to_owned());
    }
    if !privileged {
        return Ok(());
    }
    let probe = std::thread::Builder::new()
        .name("netlab-probe".into())
        .spawn(|| {
            // SAFETY: unshare only changes this short-lived thread's namespace.
            let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
            if rc == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    match probe.map(|handle| handle.join()) {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(format!("unshare(CLONE_NEWNET) failed: {e}")),
        Ok(Err(_)) => Err("the probe thread panicked".to_owned()),
        Err(e) => Err(format!("could not spawn the probe thread: {e}")),
    }
}

/// Loaded (the sysctl exists) or loadable (a module file exists, which the
/// kernel auto-loads when a lab's NAT table first needs conntrack).
fn conntrack_available() -> bool {
    if std::fs::metadata(CONNTRACK_SYSCTL).is_ok() {
        return true;
    }
    let dir = format!("/lib/modules/{}/kernel/net/netfilter", kernel_release());
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("nf_conntrack.ko")
        })
    })
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".to_owned(), |s| s.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_line_per_missing_piece() {
        let error = PreconditionError {
            missing: vec![
                Missing::Privilege {
                    cap_eff: "0".into(),
                },
                Missing::Ip,
                Missing::Nft,
                Missing::NetworkNamespaces { detail: "x".into() },
                Missing::Conntrack {
                    kernel: "6.1.0".into(),
                },
            ],
        };
        let text = error.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(lines[0].contains("CAP_NET_ADMIN"));
        assert!(lines[1].contains("iproute2"));
        assert!(lines[2].contains("nftables"));
        assert!(lines[3].contains("CONFIG_NET_NS"));
        assert!(lines[4].contains("nf_conntrack") && lines[4].contains("kmod"));
    }
}
