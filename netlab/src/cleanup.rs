//! Removing lab namespaces: a lab's own on destroy/drop, a killed run's by
//! its dead pid ([`cleanup_stale`]), one pid's on request ([`cleanup_pid`],
//! for a Ctrl-C handler), and listing what exists ([`lab_namespaces`]).
//!
//! Deleting a namespace takes its veths (and so their router-side peers),
//! nft tables and sysctls with it, so namespaces are the only thing to
//! remove. Only names of the form `sq<pid>x<n>-<host>` are ever touched.

use crate::{LabError, command, names, netns};

/// Every squall lab namespace on the machine, sorted.
pub fn lab_namespaces() -> Vec<String> {
    netns::list()
        .into_iter()
        .filter(|name| names::parse_namespace(name).is_some())
        .collect()
}

/// Removes the namespaces of labs whose creating process is no longer
/// alive (a run that was killed before it could clean up), and returns
/// their names. Namespaces of live processes, this one included, stay.
pub fn cleanup_stale() -> Result<Vec<String>, LabError> {
    let stale: Vec<String> = lab_namespaces()
        .into_iter()
        .filter(|name| names::parse_namespace(name).is_some_and(|parsed| !pid_alive(parsed.pid)))
        .collect();
    delete(&stale)
}

/// Removes every lab namespace created by process `pid`, alive or not, and
/// returns their names (e.g. from this process's Ctrl-C handler, where
/// destructors will not run).
pub fn cleanup_pid(pid: u32) -> Result<Vec<String>, LabError> {
    let owned: Vec<String> = lab_namespaces()
        .into_iter()
        .filter(|name| names::parse_namespace(name).is_some_and(|parsed| parsed.pid == pid))
        .collect();
    delete(&owned)
}

/// Every existing namespace of lab `lab_id` (also ones a failed create
/// left, which the lab never recorded).
pub(crate) fn namespaces_of_lab(lab_id: &str) -> Vec<String> {
    lab_namespaces()
        .into_iter()
        .filter(|name| names::parse_namespace(name).is_some_and(|parsed| parsed.lab_id == lab_id))
        .collect()
}

/// Deletes `namespaces`, carrying on past failures; returns the ones
/// deleted, or every failure. One that is already gone (another cleaner
/// got there first) counts as deleted.
pub(crate) fn delete(namespaces: &[String]) -> Result<Vec<String>, LabError> {
    let mut removed = Vec::new();
    let mut failures = Vec::new();
    for ns in namespaces {
        match command::run("ip", &["netns", "delete", ns], None) {
            Ok(_) => removed.push(ns.clone()),
            Err(LabError::Command { ref stderr, .. })
                if stderr.contains("No such file or directory") =>
            {
                removed.push(ns.clone());
            }
            Err(e) => failures.push(format!("{ns}: {e}")),
        }
    }
    if failures.is_empty() {
        Ok(removed)
    } else {
        Err(LabError::Cleanup(failures))
    }
}

/// Whether a process with this pid exists. `kill(pid, 0)` probes without
/// signalling; EPERM still means "exists". Values that cannot be pids are
/// dead. (A recycled pid makes a stale lab look alive; it is then left for
/// a later cleanup, which errs on the side of never deleting a live lab.)
pub(crate) fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        // 0 and negatives address process groups, not a process.
        return false;
    }
    // SAFETY: signal 0 performs only the existence and permission check.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_impossible_pids_are_not() {
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(0));
        assert!(!pid_alive(u32::MAX));
    }
}
