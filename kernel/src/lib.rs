//! squall-kernel: kernel mode. A fault script's world on real Linux
//! networking instead of turmoil: every host in a network namespace of its
//! own ([`squall_netlab`]), the same server and client programs as in the
//! simulation on real tokio sockets, faults as DROP rules and real process
//! deaths, and the same trace, so the same invariants and report apply.
//!
//! Kernel mode is not deterministic: two runs of one script differ in
//! timings. It is the instrument that measures the simulation (`squall
//! compare`), never a snapshot.
//!
//! # Layout
//! - [`world`]: one run: build the lab, start hosts, apply the fault
//!   timeline on the monotonic clock, settle, clean up.
//! - [`host`]: a host's software on a thread of its own, inside its
//!   namespace, with a runtime of its own that a crash drops.
//! - [`inject`]: what each fault is on a real network.
//! - [`net`]: the server's side of real TCP, peers named by the lab.
//! - [`error`]: why a kernel run could not start.

pub mod error;
mod host;
mod inject;
mod net;
pub mod world;

pub use error::KernelError;
pub use squall_netlab::{check_preconditions, cleanup_pid, cleanup_stale, lab_namespaces};
pub use world::{KernelWorld, run, unsupported};

/// Whether a kernel-mode test can run here: `true` when it can; `false`
/// (saying what is missing on stderr) when it cannot, so the test returns
/// early on a developer's machine without root. Under `CI=true` a missing
/// precondition panics instead: kernel tests must never skip in CI.
pub fn kernel_mode_for_tests() -> bool {
    match check_preconditions() {
        Ok(()) => true,
        Err(missing) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("kernel tests must run in CI:\n{missing}")
        }
        Err(missing) => {
            eprintln!("skipping a kernel-mode test:\n{missing}");
            false
        }
    }
}
