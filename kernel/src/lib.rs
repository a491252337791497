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
