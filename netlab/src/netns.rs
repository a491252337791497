//! Network namespaces as the kernel sees them: moving the calling thread
//! into one (`setns(2)`), running a closure on a helper thread inside one,
//! writing sysctls there, and listing the names under /run/netns.
//!
//! Namespaces are per *thread* for `setns`, so all of this works inside a
//! multi-threaded process without disturbing other threads.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use crate::LabError;

/// Where `ip netns add` bind-mounts named namespaces.
pub(crate) const NETNS_DIR: &str = "/run/netns";

fn path_of(namespace: &str) -> PathBuf {
    PathBuf::from(NETNS_DIR).join(namespace)
}

/// Moves the calling thread into the named network namespace. Sockets it
/// creates afterwards belong to that namespace (and stay there even if used
/// from other threads); sockets it made before stay where they were.
pub(crate) fn enter(namespace: &str) -> Result<(), LabError> {
    let setns_error = |source| LabError::Setns {
        namespace: namespace.to_owned(),
        source,
    };
    let file = File::open(path_of(namespace)).map_err(setns_error)?;
    // SAFETY: `file` is an open descriptor for the duration of the call;
    // setns only reads it, and CLONE_NEWNET affects only this thread.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(setns_error(std::io::Error::last_os_error()))
    }
}

/// Runs `f` on a fresh thread that first entered `namespace`, and returns
/// its result. The thread ends with `f`, so no thread is left behind in a
/// namespace that is about to be deleted.
pub(crate) fn run_in<T: Send>(
    namespace: &str,
    what: &str,
    f: impl FnOnce() -> T + Send,
) -> Result<T, LabError> {
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name(format!("netlab-{what}"))
            .spawn_scoped(scope, || enter(namespace).map(|()| f()))
            .map_err(|e| LabError::HelperPanicked(format!("{what} (could not spawn: {e})")))?;
        handle
            .join()
            .map_err(|_| LabError::HelperPanicked(what.to_owned()))?
    })
}

/// Sets sysctls inside `namespace` and reads each back. `/proc/sys/net`
/// shows the namespace of the thread that opens it, so a helper thread
/// inside the namespace writes there without spawning `sysctl`.
pub(crate) fn write_sysctls(
    namespace: &str,
    settings: &[(String, String)],
) -> Result<(), LabError> {
    run_in(namespace, "sysctl", || {
        for (key, value) in settings {
            let path = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
            let sysctl_error = |source| LabError::Sysctl {
                namespace: namespace.to_owned(),
                key: key.clone(),
                value: value.clone(),
                source,
            };
            std::fs::write(&path, format!("{value}\n")).map_err(sysctl_error)?;
            let got = std::fs::read_to_string(&path).map_err(sysctl_error)?;
            if got.trim() != value {
                return Err(LabError::SysctlMismatch {
                    namespace: namespace.to_owned(),
                    key: key.clone(),
                    wanted: value.clone(),
                    got: got.trim().to_owned(),
                });
            }
        }
        Ok(())
    })?
}

/// Reads one sysctl inside `namespace` (for verification and tests).
pub(crate) fn read_sysctl(namespace: &str, key: &str) -> Result<String, LabError> {
    run_in(namespace, "sysctl", || {
        let path = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
        std::fs::read_to_string(path)
            .map(|s| s.trim().to_owned())
            .map_err(|source| LabError::Sysctl {
                namespace: namespace.to_owned(),
                key: key.to_owned(),
                value: "(read)".to_owned(),
                source,
            })
    })?
}

/// Every named network namespace on the machine (empty if none was ever made).
pub(crate) fn list() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}
