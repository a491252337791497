//! squall-scenarios: fault scripts, the built-in ones, running and judging
//! them, and the `squall` command line ([`cli`]).
//!
//! # Layout
//! - [`script`]: the fault-script format: the [`Script`] type, its TOML
//!   loader with positioned errors, its builder, its mapping to a world.
//! - [`library`]: the built-in scripts (`scenarios/scripts/*.toml`), by name.
//! - [`judge`]: which checks (all in `squall_sim::check`) a run of a
//!   script gets: its `[expect]`, its pool, and those every run gets.
//! - [`report`]: running a script (simulation or kernel mode), the verdict and JSON.
//! - [`compare`]: `squall compare`: a script in both worlds, side by side.
//! - [`peers`]: `squall peers`: a script with the pool and with tonic's clients.
//! - [`net`]: real-network benchmarks (`squall serve`, `load`, `bench-net`).
//! - [`replay`]: saving a failing case (script + seed) for `squall replay`.
//! - [`timeline`]: a run drawn as one self-contained HTML page.
//! - [`worlds`]: the worlds scripts run in: squall's, and users' by name.
//! - [`prop`]: property tests over random fault scripts: generate, run,
//!   check, shrink, replay.

pub mod cli;
pub mod compare;
pub mod judge;
pub mod library;
pub mod net;
pub mod peers;
pub mod prop;
pub mod replay;
pub mod report;
pub mod script;
pub mod timeline;
pub mod worlds;

pub use report::{
    Report, World, run_script, run_script_in, run_script_kernel, run_script_observed,
    run_world_observed,
};
pub use script::{DEFAULT_SEED, Script};
pub use worlds::{WorldError, Worlds};
