//! Property suites: random fault scripts (see `squall_scenarios::prop`),
//! every invariant checked on every case, failures shrunk and written to
//! `target/squall/failures/<suite>-<case>.toml` with a one-line replay.
//!
//! Budgets and knobs (environment):
//! - `SQUALL_CASES=N`: cases per suite (default: the CI budget below).
//! - `SQUALL_SEED=S`: run only case `S` (the number in a replay line).
//! - `SQUALL_SWEEP_SEED=S`: sweep other cases than CI's (default 0).
//! - `SQUALL_SHARD=k/n`: run only shard `k` of `n` (for CI matrices).
//!
//! The cases that once failed, kept in `tests/regressions/`, are tests of
//! their own in `tests/regressions.rs`.

use std::{env, path::PathBuf};

use squall_scenarios::prop::{Shard, SweepConfig, cli::Suite, run_one, sweep};

/// Cases per suite in a plain `cargo test` (and CI): enough to reach
/// every fault kind many times, small enough for CI's time budget.
const CI_CASES: u64 = 64;
/// One case in this many runs twice, and the two traces must match.
const DETERMINISM_EVERY: u64 = 8;

fn env_number(name: &str) -> Option<u64> {
    let text = env::var(name).ok()?;
    Some(
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text}: not a number")),
    )
}

fn config(suite: Suite) -> SweepConfig {
    let shard = env::var("SQUALL_SHARD")
        .ok()
        .map(|text| Shard::parse(&text).unwrap_or_else(|e| panic!("SQUALL_SHARD: {e}")))
        .unwrap_or(Shard::ALL);
    SweepConfig {
        options: suite.options(),
        suite: suite.name().to_owned(),
        seed: env_number("SQUALL_SWEEP_SEED").unwrap_or(0),
        cases: env_number("SQUALL_CASES").unwrap_or(CI_CASES),
        shard,
        determinism_every: Some(DETERMINISM_EVERY),
        failures_dir: PathBuf::from("target/squall/failures"),
        rerun_command: suite.rerun_command(),
        commit: env::var("SQUALL_COMMIT").ok(),
        world: None,
    }
}

fn run_suite(suite: Suite) {
    let config = config(suite);
    if let Some(case) = env_number("SQUALL_SEED") {
        let outcome = run_one(&config, case, true);
        if let Some(failure) = outcome.failure {
            let failed: Vec<String> = failure
                .failed
                .iter()
                .map(|i| format!("{}: {}", i.name, i.detail))
                .collect();
            panic!("{}\n{}", failed.join("\n"), failure.replay_line);
        }
        return;
    }
    let summary = sweep(&config, &mut |_, _| {});
    println!("{}", summary.render());
    assert!(summary.cases_run > 0, "no case ran: {:?}", config.shard);
    assert!(summary.failures.is_empty(), "{}", summary.render());
}

#[test]
fn faults() {
    run_suite(Suite::Faults);
}

#[test]
fn admission() {
    run_suite(Suite::Admission);
}
