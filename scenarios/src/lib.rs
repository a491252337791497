//! squall-scenarios: the built-in chaos scenarios, running and judging them,
//! and the `squall` command line (`src/main.rs`).
//!
//! # Layout
//! - [`scenario`]: what a scenario is (a world plus expectations).
//! - [`builtin`]: the scenarios that ship with squall, by name.
//! - [`report`]: running a scenario, checking invariants, the verdict and JSON.

pub mod builtin;
pub mod report;
pub mod scenario;

pub use builtin::{DEFAULT_SEED, builtin};
pub use report::{Report, run_scenario};
pub use scenario::{Expectations, Scenario};
