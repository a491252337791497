//! squall-netlab: throwaway networks of Linux network namespaces for
//! squall's kernel mode, with packet-drop faults and forgetful NATs.
//!
//! A [`Lab`] is one run's network: a router namespace in the middle and one
//! namespace per host and per NAT, each linked to the router by a veth.
//! Threads join a host with [`Lab::enter`]; faults are [`Cut`]s (nft drop
//! rules in the router) applied with [`Lab::cut`] and removed with
//! [`Lab::heal`]. Everything is removed on [`Lab::destroy`], on drop (also
//! while a panic unwinds), or after a killed run by [`cleanup_stale`].
//!
//! The crate only does plumbing: it knows nothing of gRPC or async
//! runtimes. It needs root (see [`check_preconditions`]).
//!
//! # Rules it keeps
//!
//! - Addresses come only from 198.18.0.0/15 and are only put on interfaces
//!   inside namespaces it created (plus `lo` there); nothing is ever added
//!   to the root namespace, and veths are created with both ends already in
//!   lab namespaces.
//! - Everything is named `sq<pid>x<n>-<host>` (pid of the owning process, a
//!   per-process counter), so parallel labs never collide and a dead run's
//!   leftovers are recognisable.
//!
//! # Layout
//!
//! - [`lab`](crate::Lab): the `Lab` type tying it all together.
//! - `topology`: the plan (namespaces, links, addresses) and building it.
//! - `cut`: the router's nft table and one chain per cut.
//! - `nat`: the NAT namespaces' DNAT/MASQUERADE and conntrack expiry.
//! - `cleanup`: deleting namespaces; stale and per-pid cleanup; listing.
//! - `precondition`: what the machine must have, all reported at once.
//! - `netns`: `setns`, helper threads inside a namespace, sysctls.
//! - `command`: running `ip` and `nft` with captured stderr.
//! - `names`: the naming scheme and its parser.
//! - `error`: [`LabError`].

mod cleanup;
mod command;
mod cut;
mod error;
mod lab;
mod names;
mod nat;
mod netns;
mod precondition;
mod topology;

pub use cleanup::{cleanup_pid, cleanup_stale, lab_namespaces};
pub use cut::{ALL as LOSS_ALL, Cut, CutId};
pub use error::LabError;
pub use lab::{Lab, LabSpec};
pub use names::ROUTER;
pub use nat::{NatExpiry, NatSpec};
pub use precondition::{Missing, PreconditionError, check_preconditions};
