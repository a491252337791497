//! `squall sweep`: a property sweep from the command line, the same runner
//! `cargo test --test properties` uses, with a case budget, a shard and a
//! summary (cases, failures, probes reached, cases per second).

use std::{path::PathBuf, process::ExitCode};

use clap::{Args, ValueEnum};

use crate::prop::{GenOptions, Shard, SweepConfig, run_one, sweep};

/// Which generated cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Suite {
    /// Every fault kind (swarm: each case a random subset), limiter and
    /// breaker in half the cases.
    Faults,
    /// Limiter and breaker always on, against failing, slow, crashing and
    /// black-holed servers.
    Admission,
}

impl Suite {
    pub fn name(self) -> &'static str {
        match self {
            Suite::Faults => "faults",
            Suite::Admission => "admission",
        }
    }

    pub fn options(self) -> GenOptions {
        match self {
            Suite::Faults => GenOptions::all_faults(),
            Suite::Admission => GenOptions::admission(),
        }
    }

    /// The command that regenerates case `{seed}` of this suite, shrinks
    /// it again and writes its replay file.
    pub fn rerun_command(self) -> String {
        format!(
            "SQUALL_SEED={{seed}} cargo test -p squall-suite --test properties {}",
            self.name()
        )
    }
}

#[derive(Debug, Args)]
pub struct SweepArgs {
    #[arg(long, value_enum, default_value = "faults")]
    pub suite: Suite,
    /// Cases to run (before sharding).
    #[arg(long, default_value_t = 100)]
    pub cases: u64,
    /// Case seeds derive from this; the same seed sweeps the same cases.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Run only the cases of shard k of n (`--shard 0/4`).
    #[arg(long, value_parser = Shard::parse, default_value = "0/1")]
    pub shard: Shard,
    /// Run every k-th case twice and compare the traces (0: never).
    #[arg(long, default_value_t = 10)]
    pub determinism_every: u64,
    /// Where failing cases (replay file and timeline) are written.
    #[arg(long, default_value = "target/squall/failures")]
    pub failures_dir: PathBuf,
    /// Run only the case with this case seed (from a replay line).
    #[arg(long)]
    pub case: Option<u64>,
}

/// Runs the sweep; exit 0 iff no case failed.
pub fn run(args: &SweepArgs) -> ExitCode {
    let config = SweepConfig {
        options: args.suite.options(),
        suite: args.suite.name().to_owned(),
        seed: args.seed,
        cases: args.cases,
        shard: args.shard,
        determinism_every: (args.determinism_every > 0).then_some(args.determinism_every),
        failures_dir: args.failures_dir.clone(),
        rerun_command: args.suite.rerun_command(),
    };
    if let Some(case) = args.case {
        let outcome = run_one(&config, case, true);
        return match outcome.failure {
            None => {
                println!("case {case:#018x} of {}: PASS", config.suite);
                ExitCode::SUCCESS
            }
            Some(failure) => {
                println!("case {case:#018x} of {}: FAIL", config.suite);
                for invariant in &failure.failed {
                    println!("  {}: {}", invariant.name, invariant.detail);
                }
                println!("{}", failure.replay_line);
                ExitCode::from(1)
            }
        };
    }
    let summary = sweep(&config, &mut |_, _| {});
    print!("{}", summary.render());
    if summary.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
