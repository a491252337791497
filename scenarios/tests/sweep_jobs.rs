//! `squall sweep` as users run it: worker processes (`--jobs`) and shards
//! taken from the environment. Each sweep here is a few cases, in a debug
//! build, so the file stays cheap; what it checks does not depend on the
//! count.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

/// Variables a sweep reads; cleared so the test's own environment (a CI
/// matrix, say) cannot change what these sweeps run.
const SWEEP_VARS: [&str; 5] = [
    "SQUALL_SHARD",
    "SQUALL_SHARDS",
    "JOB_COMPLETION_INDEX",
    "SQUALL_COMMIT",
    "GITHUB_SHA",
];

fn sweep(args: &[&str], env: &[(&str, &str)], failures: &Path) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_squall"));
    command
        .arg("sweep")
        .args(args)
        .arg("--failures-dir")
        .arg(failures);
    for var in SWEEP_VARS {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    command.output().expect("squall runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

fn scratch(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("sweep_jobs")
        .join(name)
}

/// The summary without its wall-clock figures (cases/s, seconds): the only
/// part that may differ between two runs of the same sweep.
fn without_timing(summary: &str) -> String {
    summary
        .lines()
        .map(|line| {
            let timing = line
                .find(" cases/s (")
                .or_else(|| line.find(" s):").filter(|_| line.starts_with("FAIL")));
            match timing.and_then(|at| line[..at].rfind(", ")) {
                Some(cut) => line[..cut].to_owned(),
                None => line.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Users rely on `--jobs N` being only faster: the same cases, the same
/// probe counts, the same failures in the same order, the same exit code
/// as one process. (Each worker is a separate process, so this also shows
/// no simulation depends on what else ran in its process.)
#[test]
fn two_workers_print_what_one_process_prints() {
    let args = ["--cases", "5", "--seed", "2026", "--determinism-every", "4"];
    let one = sweep(
        &[&args[..], &["--jobs", "1"]].concat(),
        &[],
        &scratch("jobs"),
    );
    let two = sweep(
        &[&args[..], &["--jobs", "2"]].concat(),
        &[],
        &scratch("jobs"),
    );
    let (one_out, two_out) = (text(&one.stdout), text(&two.stdout));
    assert!(
        one_out.starts_with("sweep faults: 5 case(s), "),
        "{one_out}\n{}",
        text(&one.stderr)
    );
    assert!(
        one_out.contains("2 determinism check(s)"),
        "cases 0 and 4: {one_out}"
    );
    assert_eq!(without_timing(&one_out), without_timing(&two_out));
    assert_eq!(
        one.status.code(),
        two.status.code(),
        "{}",
        text(&two.stderr)
    );
    assert!(
        text(&two.stderr).contains("in 2 process(es)"),
        "{}",
        text(&two.stderr)
    );
}

/// A CI matrix sets SQUALL_SHARD; a Kubernetes Indexed Job sets
/// JOB_COMPLETION_INDEX and its spec SQUALL_SHARDS. Either picks the
/// shard's cases when no --shard is given, and the flag wins over both.
#[test]
fn the_shard_comes_from_the_environment_when_no_flag_says() {
    let dir = scratch("env");
    let matrix = sweep(
        &["--cases", "3", "--jobs", "1"],
        &[("SQUALL_SHARD", "1/3")],
        &dir,
    );
    assert!(
        text(&matrix.stdout).starts_with("sweep faults: 1 case(s)"),
        "{}",
        text(&matrix.stdout)
    );
    assert!(text(&matrix.stderr).contains("shard 1/3 (from SQUALL_SHARD)"));

    let k8s = sweep(
        &["--cases", "3", "--jobs", "1"],
        &[("JOB_COMPLETION_INDEX", "2"), ("SQUALL_SHARDS", "3")],
        &dir,
    );
    assert!(
        text(&k8s.stdout).starts_with("sweep faults: 1 case(s)"),
        "{}",
        text(&k8s.stderr)
    );
    assert!(text(&k8s.stderr).contains("shard 2/3 (from JOB_COMPLETION_INDEX and SQUALL_SHARDS)"));

    // The flag is used as given; the bad variable is never read.
    let flag = sweep(
        &["--cases", "2", "--jobs", "1", "--shard", "1/2"],
        &[("SQUALL_SHARD", "nonsense")],
        &dir,
    );
    assert!(
        text(&flag.stdout).starts_with("sweep faults: 1 case(s)"),
        "{}",
        text(&flag.stderr)
    );
}

/// A bad shard is refused before any case runs, with the variable named,
/// and exit 2 (cannot run), never a sweep of the wrong cases.
#[test]
fn a_bad_shard_variable_is_a_clear_error() {
    let dir = scratch("bad");
    let bad = sweep(&["--cases", "3"], &[("SQUALL_SHARD", "3/3")], &dir);
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(
        text(&bad.stderr).trim(),
        "error: SQUALL_SHARD=`3/3`: need 0 <= k < n"
    );
    assert!(bad.stdout.is_empty());

    let half = sweep(&["--cases", "3"], &[("JOB_COMPLETION_INDEX", "0")], &dir);
    assert_eq!(half.status.code(), Some(2));
    assert!(
        text(&half.stderr).contains("JOB_COMPLETION_INDEX is set but SQUALL_SHARDS is not"),
        "{}",
        text(&half.stderr)
    );
}
