//! Property testing over random fault scripts: generate a case
//! ([`cases`]), run it and check every invariant (the script checks of
//! [`crate::report`] plus [`crate::checks`]), count coverage probes
//! ([`probes`]), shrink a failure and write its replay file ([`sweep`]).
//! See docs/testing.md.

pub mod cases;
pub mod cli;
pub mod probes;
pub mod sweep;

pub use cases::{CaseSpec, FaultKind, GenOptions, case_strategy};
pub use probes::{PROBES, ProbeCounts};
pub use sweep::{Failure, Shard, SweepConfig, SweepSummary, case_seed, run_case, run_one, sweep};
