//! `squall sweep`: a property sweep from the command line, the same runner
//! `cargo test --test properties` uses, with a case budget, a shard (from
//! the flag or the environment, `shard.rs`), worker processes (`--jobs`,
//! `jobs.rs`) and a summary (cases, failures, probes reached, cases per
//! second).

use std::{
    collections::BTreeMap,
    ffi::OsString,
    io::Write,
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant},
};

use clap::{Args, ValueEnum};

use crate::{
    Worlds,
    prop::{
        GenOptions, Shard, ShardSource, SweepConfig, SweepSummary, jobs, run_indexed, run_one,
        shard, sweep,
    },
};

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
    /// Run the cases in this user's world (its service, client program
    /// and invariants; a suite's own `squall` binary registers it).
    #[arg(long, value_name = "NAME")]
    pub world: Option<String>,
    /// Cases to run (before sharding).
    #[arg(long, default_value_t = 100)]
    pub cases: u64,
    /// Case seeds derive from this; the same seed sweeps the same cases.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Run only the cases of shard k of n (`--shard 0/4`). Without it:
    /// `SQUALL_SHARD=k/n`, else a Kubernetes Indexed Job's
    /// `JOB_COMPLETION_INDEX` with `SQUALL_SHARDS=n`, else every case.
    #[arg(long, value_parser = Shard::parse)]
    pub shard: Option<Shard>,
    /// Worker processes (default: this machine's cores). 1 runs the cases
    /// in this process. The summary is the same for every N.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub jobs: Option<u16>,
    /// The commit under test, written into every replay file (default:
    /// `SQUALL_COMMIT`, else `GITHUB_SHA`; e.g. `$(git rev-parse HEAD)`).
    #[arg(long, value_name = "REV")]
    pub commit: Option<String>,
    /// Run every k-th case twice and compare the traces (0: never).
    #[arg(long, default_value_t = 10)]
    pub determinism_every: u64,
    /// Where failing cases (replay file and timeline) are written.
    #[arg(long, default_value = "target/squall/failures")]
    pub failures_dir: PathBuf,
    /// Run only the case with this case seed (from a replay line).
    #[arg(long)]
    pub case: Option<u64>,
    /// With --jobs: give up (and kill the workers) when none has reported
    /// a case for this many seconds. A case that fails is shrunk before it
    /// is reported, which can take minutes.
    #[arg(long, value_name = "SECONDS", default_value_t = 1800)]
    pub worker_silence_max: u64,
    /// Internal: run as worker w of N of a parallel sweep, printing one
    /// JSON report per case (see `prop::jobs`).
    #[arg(long, hide = true, value_parser = Shard::parse)]
    pub worker: Option<Shard>,
}

/// The exit status of a sweep that could not run (a bad shard, a worker
/// that died): as for an invalid script.
const CANNOT_RUN: u8 = 2;

/// The commit to stamp replay files with: the flag, else `SQUALL_COMMIT`,
/// else `GITHUB_SHA` (set by GitHub Actions); blank values count as unset.
pub fn commit_from(flag: Option<&str>, env: &BTreeMap<String, String>) -> Option<String> {
    flag.map(str::to_owned)
        .into_iter()
        .chain(
            ["SQUALL_COMMIT", "GITHUB_SHA"]
                .iter()
                .filter_map(|name| env.get(*name).cloned()),
        )
        .map(|v| v.trim().to_owned())
        .find(|v| !v.is_empty())
}

fn commit_env() -> BTreeMap<String, String> {
    ["SQUALL_COMMIT", "GITHUB_SHA"]
        .into_iter()
        .filter_map(|name| Some((name.to_owned(), std::env::var(name).ok()?)))
        .collect()
}

/// Runs the sweep; exit 0 iff no case failed. `worlds`: the users' worlds
/// `--world` may name.
pub fn run(args: &SweepArgs, worlds: &Worlds) -> ExitCode {
    let world = match &args.world {
        None => None,
        Some(name) => match worlds.get(name) {
            Some(world) if world.has_client() => Some(world.clone()),
            Some(_) => {
                eprintln!(
                    "error: world `{name}` brings no client program; a sweep's cases run squall's echo load, which only squall's own world serves"
                );
                return ExitCode::from(CANNOT_RUN);
            }
            None => {
                eprintln!("error: world `{name}` is not registered in this `squall`");
                return ExitCode::from(CANNOT_RUN);
            }
        },
    };
    // One case by seed belongs to no shard: the environment's is not read.
    let resolved = match (args.case, args.shard) {
        (Some(_), shard) => Ok((shard.unwrap_or(Shard::ALL), ShardSource::Flag)),
        (None, flag) => shard::resolve(flag, &shard::shard_env()),
    };
    let (shard, source) = match resolved {
        Ok(resolved) => resolved,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(CANNOT_RUN);
        }
    };
    let config = SweepConfig {
        options: args.suite.options(),
        suite: args.suite.name().to_owned(),
        seed: args.seed,
        cases: args.cases,
        shard,
        determinism_every: (args.determinism_every > 0).then_some(args.determinism_every),
        failures_dir: args.failures_dir.clone(),
        rerun_command: match &args.world {
            // A user's world is known to the user's binary only.
            Some(name) => format!(
                "{} sweep --suite {} --world {name} --case {{seed}}",
                program_name(),
                args.suite.name()
            ),
            None => args.suite.rerun_command(),
        },
        commit: commit_from(args.commit.as_deref(), &commit_env()),
        world,
    };
    if let Some(case) = args.case {
        return run_single(&config, case);
    }
    if let Some(worker) = args.worker {
        return run_worker(&config, worker);
    }
    let cases = config.indices().count();
    let jobs = args
        .jobs
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, cases.max(1));
    if source != ShardSource::Default || jobs > 1 {
        let from = match source {
            ShardSource::Default => String::new(),
            source => format!(" of shard {shard} (from {source})"),
        };
        eprintln!("squall: {cases} case(s){from} in {jobs} process(es)");
    }
    let summary = if jobs == 1 {
        sweep(&config, &mut |_, _| {})
    } else {
        match sweep_parallel(args, &config, jobs) {
            Ok(summary) => summary,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(CANNOT_RUN);
            }
        }
    };
    print!("{}", summary.render());
    if summary.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `--case SEED`: one case, shrunk and written if it fails.
fn run_single(config: &SweepConfig, case: u64) -> ExitCode {
    let outcome = run_one(config, case, true);
    match outcome.failure {
        None => {
            println!("case {case:#018x} of {}: PASS", config.suite);
            ExitCode::SUCCESS
        }
        Some(failure) => {
            println!(
                "case {case:#018x} of {}: FAIL (shrunk in {} runs, {:.1} s)",
                config.suite, failure.shrink_runs, failure.shrink_seconds
            );
            for invariant in &failure.failed {
                println!("  {}: {}", invariant.name, invariant.detail);
            }
            println!("{}", failure.replay_line);
            ExitCode::from(1)
        }
    }
}

/// `--worker w/N`: this worker's cases, one JSON line each. Exits 0 when
/// every case was reported, failing or not; the parent judges them.
fn run_worker(config: &SweepConfig, worker: Shard) -> ExitCode {
    let mut out = std::io::stdout().lock();
    for index in jobs::worker_indices(config.indices(), worker) {
        let (report, _) = run_indexed(config, index);
        let line = match serde_json::to_string(&report) {
            Ok(line) => line,
            Err(e) => {
                eprintln!("error: worker {worker}: case {index}: {e}");
                return ExitCode::from(CANNOT_RUN);
            }
        };
        if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
            // The parent is gone (or gave up on us): nobody to report to.
            eprintln!("error: worker {worker}: cannot report case {index}: {e}");
            return ExitCode::from(CANNOT_RUN);
        }
    }
    ExitCode::SUCCESS
}

/// The sweep in `jobs` worker processes, merged into the summary `--jobs
/// 1` would print (its time is this process's wall time).
fn sweep_parallel(
    args: &SweepArgs,
    config: &SweepConfig,
    jobs: usize,
) -> Result<SweepSummary, jobs::JobsError> {
    let started = Instant::now();
    let workers = u64::try_from(jobs).unwrap_or(1);
    let expected: Vec<Vec<u64>> = (0..workers)
        .map(|w| {
            jobs::worker_indices(
                config.indices(),
                Shard {
                    index: w,
                    count: workers,
                },
            )
            .collect()
        })
        .collect();
    // Workers get the resolved shard and commit, not the environment's.
    let mut worker_args: Vec<OsString> = vec![
        "sweep".into(),
        "--suite".into(),
        config.suite.clone().into(),
        "--cases".into(),
        config.cases.to_string().into(),
        "--seed".into(),
        config.seed.to_string().into(),
        "--shard".into(),
        config.shard.to_string().into(),
        "--determinism-every".into(),
        config.determinism_every.unwrap_or(0).to_string().into(),
        "--failures-dir".into(),
        config.failures_dir.clone().into_os_string(),
    ];
    if let Some(world) = &config.world {
        worker_args.extend(["--world".into(), world.name().into()]);
    }
    if let Some(commit) = &config.commit {
        worker_args.extend(["--commit".into(), commit.into()]);
    }
    let reports = jobs::run_workers(jobs::Plan {
        exe: std::env::current_exe().map_err(jobs::JobsError::Exe)?,
        args: worker_args,
        expected,
        silence_max: Duration::from_secs(args.worker_silence_max.max(1)),
    })?;
    let mut summary = SweepSummary::new(&config.suite);
    for report in reports {
        summary.add(report);
    }
    summary.wall_seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// This program's name, as the user ran it, for rerun lines.
fn program_name() -> String {
    std::env::args()
        .next()
        .and_then(|arg0| {
            std::path::Path::new(&arg0)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "squall".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_comes_from_the_flag_then_squall_commit_then_github_sha() {
        let env: BTreeMap<String, String> = [
            ("SQUALL_COMMIT".to_owned(), "aaa".to_owned()),
            ("GITHUB_SHA".to_owned(), "bbb".to_owned()),
        ]
        .into();
        assert_eq!(commit_from(Some("ccc"), &env).as_deref(), Some("ccc"));
        assert_eq!(commit_from(None, &env).as_deref(), Some("aaa"));
        let github: BTreeMap<String, String> = [("GITHUB_SHA".to_owned(), "bbb".to_owned())].into();
        assert_eq!(commit_from(None, &github).as_deref(), Some("bbb"));
        let blank: BTreeMap<String, String> = [("SQUALL_COMMIT".to_owned(), " ".to_owned())].into();
        assert_eq!(commit_from(None, &blank), None);
        assert_eq!(commit_from(None, &BTreeMap::new()), None);
    }
}
