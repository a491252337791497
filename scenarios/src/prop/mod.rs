//! Property testing over random fault scripts: generate a case
//! ([`cases`]), run it and check every invariant (the script checks of
//! [`crate::judge`], every one in `squall_sim::check`), count coverage probes
//! ([`probes`]), shrink a failure ([`sweep`], then [`ddmin`] over
//! [`simplify`]'s steps) and write its replay file, on this machine's
//! share of the cases ([`shard`]), in one process or several ([`jobs`]).
//! See docs/testing.md.

pub mod cases;
pub mod cli;
pub mod ddmin;
pub mod jobs;
pub mod probes;
pub mod shard;
pub mod simplify;
pub mod sweep;

pub use cases::{CaseSpec, FaultKind, GenOptions, case_strategy};
pub use probes::{PROBES, ProbeCounts};
pub use shard::{Shard, ShardError, ShardSource};
pub use sweep::{
    CaseReport, FailedCheck, Failure, SweepConfig, SweepSummary, case_seed, run_case, run_indexed,
    run_one, sweep,
};
