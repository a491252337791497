//! The crate's error type, [`LabError`]: every way building, faulting,
//! entering or removing a lab can fail. Nothing in the crate panics on
//! input; it returns one of these instead.

use std::io;
use std::process::ExitStatus;

use crate::CutId;
use crate::precondition::PreconditionError;

/// Why a lab operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The machine cannot run labs (not root, a tool or kernel feature missing).
    #[error(transparent)]
    Precondition(#[from] PreconditionError),

    /// The [`LabSpec`](crate::LabSpec) is unusable (a bad or duplicate name, a
    /// NAT forwarding to a host that is not in the lab, too many hosts, ...).
    #[error("invalid lab spec: {0}")]
    InvalidSpec(String),

    /// The [`Cut`](crate::Cut) is unusable (empty side, loss over 1000 permille).
    #[error("invalid cut: {0}")]
    InvalidCut(String),

    /// A host name that is not one of this lab's hosts (or NATs).
    #[error("unknown host `{0}` in this lab")]
    UnknownHost(String),

    /// A cut id this lab never returned, or one that is already healed.
    #[error("unknown cut {0} (not made by this lab, or already healed)")]
    UnknownCut(CutId),

    /// An `ip` or `nft` invocation exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line, as it would be typed.
        command: String,
        /// How it exited.
        status: ExitStatus,
        /// What it wrote to stderr (trimmed).
        stderr: String,
    },

    /// An `ip` or `nft` invocation could not be started at all.
    #[error("could not run `{command}`: {source}")]
    Spawn {
        /// The command line, as it would be typed.
        command: String,
        /// The operating system's reason.
        source: io::Error,
    },

    /// A tool's output was not what this crate parses (e.g. no rule handle).
    #[error("unexpected output from `{command}`: {detail}")]
    UnexpectedOutput {
        /// The command line, as it would be typed.
        command: String,
        /// What was missing or malformed.
        detail: String,
    },

    /// `setns(2)` into a lab namespace failed (or its file could not be opened).
    #[error("could not enter network namespace `{namespace}`: {source}")]
    Setns {
        /// The namespace's name under /run/netns.
        namespace: String,
        /// The operating system's reason.
        source: io::Error,
    },

    /// Writing a sysctl inside a lab namespace failed.
    #[error("could not set {key}={value} in namespace `{namespace}`: {source}")]
    Sysctl {
        /// The namespace's name under /run/netns.
        namespace: String,
        /// The sysctl, dotted (`net.ipv4.ip_forward`).
        key: String,
        /// The value written.
        value: String,
        /// The operating system's reason.
        source: io::Error,
    },

    /// A sysctl was written but reads back differently (the kernel clamped or
    /// ignored it), so the lab would not behave as specified.
    #[error("{key} in namespace `{namespace}` reads back `{got}` after writing `{wanted}`")]
    SysctlMismatch {
        /// The namespace's name under /run/netns.
        namespace: String,
        /// The sysctl, dotted.
        key: String,
        /// The value written.
        wanted: String,
        /// The value read back.
        got: String,
    },

    /// A helper thread (used to act inside a namespace) panicked.
    #[error("helper thread panicked while {0}")]
    HelperPanicked(String),

    /// Removing namespaces failed; one message per namespace that is left.
    #[error("cleanup failed: {}", .0.join("; "))]
    Cleanup(Vec<String>),
}
