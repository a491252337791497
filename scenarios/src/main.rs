//! `squall`: run squall's chaos scenarios from the command line.
//!
//! `squall run black-hole` prints the trace and a verdict and exits 0 iff
//! every invariant held; `--seed N` replays a seed; `--json` prints one JSON
//! object instead.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use squall_scenarios::{DEFAULT_SEED, builtin, builtin::NAMES, run_scenario};

#[derive(Parser)]
#[command(
    name = "squall",
    version,
    about = "Deterministic chaos scenarios for gRPC connection pools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a built-in scenario: print its trace and verdict.
    Run {
        /// Scenario name (see `squall list`).
        name: String,
        /// Simulation seed; the same seed replays the same run exactly.
        #[arg(long, default_value_t = DEFAULT_SEED)]
        seed: u64,
        /// Print one JSON object (scenario, seed, trace_hash, rpcs,
        /// detections, invariants) instead of the trace.
        #[arg(long)]
        json: bool,
    },
    /// List the built-in scenarios.
    List,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::List => {
            for name in NAMES {
                let scenario = builtin(name, DEFAULT_SEED).expect("NAMES lists built-ins");
                println!("{name:<12} {}", scenario.summary);
            }
            ExitCode::SUCCESS
        }
        Command::Run { name, seed, json } => {
            let Some(scenario) = builtin(&name, seed) else {
                eprintln!(
                    "squall: no scenario named `{name}`; built-in: {}",
                    NAMES.join(", ")
                );
                return ExitCode::from(2);
            };
            let report = run_scenario(&scenario);
            if json {
                println!("{}", report.json());
            } else {
                print!("{}", report.trace.text());
                println!();
                print!("{}", report.verdict());
                println!("replay: cargo run -p squall-scenarios -- run {name} --seed {seed}");
            }
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
