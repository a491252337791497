//! The sweep: generate cases, run each in the simulator, check every
//! invariant, shrink a failure to a minimal script, and write it where one
//! command replays it.
//!
//! Case `i` of a sweep with seed `S` is generated from its own seed,
//! [`case_seed`]`(S, i)`, so any single case can be regenerated from that
//! number alone (`SQUALL_SEED`), and shards (`--shard k/n`: the cases with
//! `i % n == k`) can run on different machines and still cover exactly the
//! cases one machine would.
//!
//! The runner drives proptest's value trees itself (rather than the
//! `proptest!` macro) so that it can run the simulator, count probes, check
//! determinism and write replay files in one place.

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    path::{Path, PathBuf},
    time::Instant,
};

use proptest::{
    strategy::{Strategy, ValueTree},
    test_runner::{Config, RngAlgorithm, TestRng, TestRunner},
};
use squall_sim::check::Invariant;

use crate::{
    prop::{
        cases::{CaseSpec, GenOptions, case_strategy},
        probes::{ProbeCounts, probes_hit},
    },
    report::{Report, run_script},
    timeline,
};

/// Most extra runs spent shrinking one failure.
pub const MAX_SHRINK_RUNS: u32 = 256;

/// What to sweep.
#[derive(Debug, Clone)]
pub struct SweepConfig {
    /// Which suite's cases.
    pub options: GenOptions,
    /// The suite's name, used in case names and replay file names.
    pub suite: String,
    /// Case seeds derive from this.
    pub seed: u64,
    /// Cases `0..cases` (before sharding).
    pub cases: u64,
    pub shard: Shard,
    /// Run every `n`th case twice and compare traces; `None`: never.
    pub determinism_every: Option<u64>,
    /// Where failing cases are written.
    pub failures_dir: PathBuf,
    /// The command that reruns one case by seed, with `{seed}` in it, for
    /// the replay line (e.g. the `cargo test` that runs this suite).
    pub rerun_command: String,
}

/// `k/n`: this machine runs the cases `i` with `i % n == k`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Parses `k/n` with `k < n`.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let (k, n) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}`: a shard is written k/n, e.g. 0/4"))?;
        let index: u64 = k
            .trim()
            .parse()
            .map_err(|_| format!("`{text}`: `{k}` is not a number"))?;
        let count: u64 = n
            .trim()
            .parse()
            .map_err(|_| format!("`{text}`: `{n}` is not a number"))?;
        if count == 0 || index >= count {
            return Err(format!("`{text}`: need 0 <= k < n"));
        }
        Ok(Shard { index, count })
    }

    fn includes(self, case: u64) -> bool {
        case % self.count == self.index
    }
}

/// One failing case, shrunk.
#[derive(Debug, Clone)]
pub struct Failure {
    pub case_seed: u64,
    /// The invariants that failed on the shrunk case.
    pub failed: Vec<Invariant>,
    /// The shrunk case's replay file.
    pub replay_file: PathBuf,
    /// Its timeline, next to it.
    pub timeline_file: Option<PathBuf>,
    /// The one line that reproduces it.
    pub replay_line: String,
    /// Runs spent shrinking.
    pub shrink_runs: u32,
}

/// What a sweep did.
#[derive(Debug, Clone)]
pub struct SweepSummary {
    pub suite: String,
    pub cases_run: u64,
    pub failures: Vec<Failure>,
    pub probes: ProbeCounts,
    pub determinism_checks: u64,
    pub wall_seconds: f64,
}

impl SweepSummary {
    /// The summary block: cases, failures, probes, speed.
    pub fn render(&self) -> String {
        let mut out = format!(
            "sweep {}: {} case(s), {} failure(s), {} determinism check(s), {:.1} cases/s ({:.1} s)\n",
            self.suite,
            self.cases_run,
            self.failures.len(),
            self.determinism_checks,
            self.cases_run as f64 / self.wall_seconds.max(1e-9),
            self.wall_seconds
        );
        out.push_str("probes (cases that reached each):\n");
        for (probe, count) in &self.probes.0 {
            out.push_str(&format!("  {probe:<32} {count}\n"));
        }
        let never = self.probes.never_hit();
        if !never.is_empty() {
            out.push_str(&format!("never reached: {}\n", never.join(", ")));
        }
        for failure in &self.failures {
            out.push_str(&format!(
                "FAIL case {:#018x} (shrunk in {} runs):\n",
                failure.case_seed, failure.shrink_runs
            ));
            for invariant in &failure.failed {
                out.push_str(&format!("  {}: {}\n", invariant.name, invariant.detail));
            }
            out.push_str(&format!("  {}\n", failure.replay_line));
        }
        out
    }
}

/// The seed of case `index` of a sweep seeded `sweep_seed` (splitmix64:
/// neighbouring indices give unrelated seeds).
pub fn case_seed(sweep_seed: u64, index: u64) -> u64 {
    let mut z = sweep_seed
        .wrapping_add(index.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The outcome of running one case.
pub struct CaseRun {
    pub report: Option<Report>,
    /// Every invariant that failed (script checks, property checks, a
    /// panic, an invalid generated script).
    pub failed: Vec<Invariant>,
    pub probes: Vec<&'static str>,
}

/// Runs `case` and checks everything. Never panics: a panic in the
/// simulator or the pool is a failed `no_panic` invariant.
pub fn run_case(case: &CaseSpec, name: &str) -> CaseRun {
    let script = match case.script(name) {
        Ok(script) => script,
        Err(errors) => {
            return CaseRun {
                report: None,
                failed: vec![Invariant {
                    name: "generated_script_valid",
                    ok: false,
                    detail: errors.to_string(),
                }],
                probes: Vec::new(),
            };
        }
    };
    let seed = script.default_seed();
    let report = match catch_unwind(AssertUnwindSafe(|| run_script(&script, seed))) {
        Ok(report) => report,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "a panic without a message".to_owned());
            return CaseRun {
                report: None,
                failed: vec![Invariant {
                    name: "no_panic",
                    ok: false,
                    detail: message,
                }],
                probes: Vec::new(),
            };
        }
    };
    // The script carries its expectations (`no_leaks`, `live_within`), so
    // `squall replay` of the written case checks exactly what failed here.
    let failed: Vec<Invariant> = report
        .invariants
        .iter()
        .filter(|i| !i.ok)
        .cloned()
        .collect();
    let queue = case.pool.limiter.map(|l| usize::from(l.max_queue_len));
    let probes = probes_hit(&report.trace, queue);
    CaseRun {
        report: Some(report),
        failed,
        probes,
    }
}

/// The value tree of case `case_seed`: the same seed always gives the
/// same case and the same shrinking steps.
fn case_tree(
    options: &GenOptions,
    case_seed: u64,
) -> Result<impl ValueTree<Value = CaseSpec>, String> {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&case_seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    case_strategy(options)
        .new_tree(&mut runner)
        .map_err(|reason| format!("case {case_seed:#x} could not be generated: {reason}"))
}

/// Runs the sweep.
pub fn sweep(config: &SweepConfig, on_case: &mut dyn FnMut(u64, &CaseRun)) -> SweepSummary {
    let started = Instant::now();
    let mut summary = SweepSummary {
        suite: config.suite.clone(),
        cases_run: 0,
        failures: Vec::new(),
        probes: ProbeCounts::new(),
        determinism_checks: 0,
        wall_seconds: 0.0,
    };
    for index in (0..config.cases).filter(|i| config.shard.includes(*i)) {
        let seed = case_seed(config.seed, index);
        let check_determinism = config
            .determinism_every
            .is_some_and(|every| every > 0 && index % every == 0);
        let outcome = run_one(config, seed, check_determinism);
        summary.cases_run += 1;
        summary.determinism_checks += u64::from(check_determinism);
        summary.probes.add(&outcome.run.probes);
        on_case(seed, &outcome.run);
        if let Some(failure) = outcome.failure {
            summary.failures.push(failure);
        }
    }
    summary.wall_seconds = started.elapsed().as_secs_f64();
    summary
}

/// One case of a sweep and, if it failed, its shrunk failure.
pub struct CaseOutcome {
    pub run: CaseRun,
    pub failure: Option<Failure>,
}

/// Runs the case of `case_seed`; on failure shrinks it and writes its
/// replay file. With `check_determinism`, runs it twice first and fails on
/// any difference between the two traces.
pub fn run_one(config: &SweepConfig, case_seed: u64, check_determinism: bool) -> CaseOutcome {
    let name = format!("{}-{case_seed:016x}", config.suite);
    let mut tree = match case_tree(&config.options, case_seed) {
        Ok(tree) => tree,
        Err(reason) => {
            let run = CaseRun {
                report: None,
                failed: vec![Invariant {
                    name: "case_generated",
                    ok: false,
                    detail: reason,
                }],
                probes: Vec::new(),
            };
            return CaseOutcome { run, failure: None };
        }
    };
    let case = tree.current();
    let mut run = run_case(&case, &name);
    if check_determinism && let Some(first) = &run.report {
        let again = run_case(&case, &name);
        if let Some(second) = &again.report
            && let Some((line, ours, theirs)) = first.trace.first_divergence(&second.trace)
        {
            run.failed.push(Invariant {
                name: "deterministic",
                ok: false,
                detail: format!(
                    "two runs of the same case differ at trace line {line}:\n    first:  {ours}\n    second: {theirs}"
                ),
            });
        }
    }
    if run.failed.is_empty() {
        return CaseOutcome { run, failure: None };
    }
    // Shrink: simplify while the case still fails, step back when it
    // passes (proptest's own loop).
    let mut best = (case, run.failed.clone(), run.report.clone());
    let mut shrink_runs = 0;
    let mut last_failed = true;
    while shrink_runs < MAX_SHRINK_RUNS {
        let moved = if last_failed {
            tree.simplify()
        } else {
            tree.complicate()
        };
        if !moved {
            break;
        }
        shrink_runs += 1;
        let candidate = tree.current();
        let attempt = run_case(&candidate, &name);
        last_failed = !attempt.failed.is_empty();
        if last_failed {
            best = (candidate, attempt.failed, attempt.report);
        }
    }
    let (shrunk, failed, report) = best;
    let failure = write_failure(
        config,
        case_seed,
        &name,
        &shrunk,
        failed,
        report.as_ref(),
        shrink_runs,
    );
    CaseOutcome {
        run,
        failure: Some(failure),
    }
}

fn write_failure(
    config: &SweepConfig,
    case_seed: u64,
    name: &str,
    case: &CaseSpec,
    failed: Vec<Invariant>,
    report: Option<&Report>,
    shrink_runs: u32,
) -> Failure {
    let replay_file = config.failures_dir.join(format!("{name}.toml"));
    let timeline_file = config.failures_dir.join(format!("{name}.html"));
    let rerun = config
        .rerun_command
        .replace("{seed}", &case_seed.to_string());
    let replay_line = format!(
        "replay: squall replay {}   (or: {rerun})",
        replay_file.display()
    );
    let comment = format!(
        "A failing case of squall's `{}` property suite, shrunk in {shrink_runs} runs.\n\
         Failed: {}\n\
         Replay: squall replay {}\n\
         Regenerate and shrink again: {rerun}",
        config.suite,
        failed.iter().map(|i| i.name).collect::<Vec<_>>().join(", "),
        replay_file.display()
    );
    let written = case
        .script(name)
        .map_err(|e| e.to_string())
        .and_then(|script| script.to_toml(&comment).map_err(|e| e.to_string()))
        .and_then(|text| write(&replay_file, &text));
    let mut failed = failed;
    if let Err(reason) = written {
        failed.push(Invariant {
            name: "replay_file_written",
            ok: false,
            detail: format!("{}: {reason}", replay_file.display()),
        });
    }
    let timeline_file = report.and_then(|report| {
        timeline::write_html(report, &timeline_file)
            .ok()
            .map(|_| timeline_file)
    });
    Failure {
        case_seed,
        failed,
        replay_file,
        timeline_file,
        replay_line,
        shrink_runs,
    }
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    std::fs::write(path, text).map_err(|e| e.to_string())
}
