//! The `squall` command line, as users run it: each run is a separate
//! process, so equal hashes here also prove that nothing process-specific
//! (hash-map seeds, addresses, the wall clock) leaks into a trace.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use serde_json::Value;

fn squall(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_squall"))
        .args(args)
        .output()
        .expect("squall runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("utf-8")
}

fn run_json(seed: &str) -> Value {
    let output = squall(&["run", "black-hole", "--seed", seed, "--json"]);
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status,
        stdout(&output)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON object")
}

/// A scratch directory of this test binary's own.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("cli")
        .join(name);
    fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[test]
fn black_hole_json_reports_detection_and_replays_by_seed() {
    let first = run_json("7");
    assert_eq!(first["scenario"], "black-hole");
    assert_eq!(first["seed"], 7);
    let detections = first["detections"].as_array().expect("detections");
    assert_eq!(detections.len(), 2);
    for d in detections {
        let fault = d["fault_at_ms"].as_u64().expect("fault time");
        let detected = d["detected_at_ms"].as_u64().expect("detected");
        assert!(detected - fault <= 3001, "{d}");
    }
    assert!(first["rpcs"]["ok"].as_u64().expect("ok count") > 500);
    let invariants = first["invariants"].as_array().expect("invariants");
    assert!(invariants.iter().all(|i| i["ok"] == true), "{invariants:?}");
    let names: Vec<&str> = invariants
        .iter()
        .map(|i| i["name"].as_str().expect("a name"))
        .collect();
    assert_eq!(
        names,
        [
            "run_completed",
            "detection_within",
            "failed_rpcs_at_most",
            "no_leaks",
            "connections_within_max",
            "backoff_within_schedule",
            "detection_within_keepalive",
            "server_conns_closed",
            "streams_within_capacity",
            "no_rpc_on_dead_conn",
            "rpcs_end_within_deadline"
        ]
    );
    // What the script asks for, and what the run measured.
    assert_eq!(first["expect"]["detection_within_ms"], 3001);
    assert_eq!(first["expect"]["max_failed_rpcs"], 10);
    assert_eq!(first["measured"]["failed_rpcs"], first["rpcs"]["failed"]);
    assert_eq!(first["measured"]["pool_tasks_left"], 0);
    assert!(
        first["measured"]["worst_detection_ms"]
            .as_u64()
            .expect("detected")
            <= 3001
    );

    let again = run_json("7");
    assert_eq!(first["trace_hash"], again["trace_hash"]);
    let other = run_json("8");
    assert_ne!(first["trace_hash"], other["trace_hash"]);
}

#[test]
fn default_run_prints_trace_verdict_and_replay_command_and_writes_the_trace() {
    let trace_file = scratch("default").join("trace.txt");
    let output = squall(&[
        "run",
        "black-hole",
        "--trace",
        trace_file.to_str().expect("utf-8"),
    ]);
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(text.contains("net fault_start kind=black_hole a=client b=server-2"));
    // Under load TCP's user timeout finds the zombies.
    assert!(text.contains("conn_closed conn=3 endpoint=server-2 cause=user_timeout"));
    assert!(
        text.contains("ok   no_leaks: shutdown left 0 tasks"),
        "{text}"
    );
    assert!(text.contains("verdict: PASS"));
    assert!(
        text.contains("replay: squall run black-hole --seed 1"),
        "{text}"
    );
    // Not a terminal: no progress line.
    assert_eq!(stderr(&output), "");
    let written = fs::read_to_string(&trace_file).expect("trace written");
    assert!(written.lines().count() > 600);
    assert!(
        text.starts_with(&written),
        "--trace writes the printed trace"
    );
}

#[test]
fn unknown_script_is_a_clear_error() {
    let output = squall(&["run", "no-such-thing"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr(&output);
    assert!(
        stderr.contains("`no-such-thing` is neither a script file nor a built-in script"),
        "{stderr}"
    );
    assert!(stderr.contains("black-hole"), "{stderr}");
}

/// Built-ins are embedded: `list` and `run <NAME>` work from any directory.
#[test]
fn list_names_every_builtin_with_its_description() {
    let output = Command::new(env!("CARGO_BIN_EXE_squall"))
        .arg("list")
        .current_dir(scratch("elsewhere"))
        .output()
        .expect("squall runs");
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(
        text.lines()
            .any(|l| l.starts_with("black-hole ") && l.contains("black-holed from t=5.05s")),
        "{text}"
    );
}

#[test]
fn check_validates_without_running_and_points_at_the_mistake() {
    let ok = squall(&["check", "black-hole", "scripts/black-hole.toml"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert_eq!(stdout(&ok).lines().count(), 2);

    let bad = squall(&[
        "check",
        "scripts/black-hole.toml",
        "tests/broken/negative-duration.toml",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    let errors = stderr(&bad);
    assert!(
        errors.contains("--> tests/broken/negative-duration.toml:24:6"),
        "{errors}"
    );
    assert!(
        errors.contains("hint: durations cannot be negative"),
        "{errors}"
    );
}

/// A run that fails prints how to replay it, saves the case on request, and
/// `squall replay` reruns that case to the same trace and the same verdict.
#[test]
fn a_failing_run_saves_a_case_that_replays_the_same_trace() {
    let dir = scratch("replay");
    let script = dir.join("strict.toml");
    fs::write(
        &script,
        r#"description = "a black hole that never heals, and no failure allowed"
duration = "6s"

[topology]
servers = 1

[load]
start = "1s"
rate = 10
deadline = "500ms"

[[faults]]
at = "3s"
kind = "black-hole"
a = "client"
b = "server-1"

[expect]
max_failed_rpcs = 0
"#,
    )
    .expect("write script");
    let path = |p: &Path| p.to_str().expect("utf-8").to_owned();
    let (case, first_trace, second_trace) = (
        dir.join("case.toml"),
        dir.join("first.txt"),
        dir.join("second.txt"),
    );
    let failed = squall(&[
        "run",
        &path(&script),
        "--seed",
        "42",
        "--trace",
        &path(&first_trace),
        "--save-case",
        &path(&case),
    ]);
    assert_eq!(failed.status.code(), Some(1), "{}", stdout(&failed));
    let text = stdout(&failed);
    assert!(text.contains("FAIL failed_rpcs_at_most"), "{text}");
    assert!(
        text.contains(&format!("replay: squall run {} --seed 42", path(&script))),
        "{text}"
    );
    let saved = fs::read_to_string(&case).expect("case saved");
    assert!(saved.starts_with("seed = 42\ndescription"), "{saved}");

    let replayed = squall(&["replay", &path(&case), "--trace", &path(&second_trace)]);
    assert_eq!(replayed.status.code(), Some(1));
    assert_eq!(
        fs::read_to_string(&first_trace).expect("first trace"),
        fs::read_to_string(&second_trace).expect("second trace")
    );

    // A script without a seed is not a case.
    let not_a_case = squall(&["replay", &path(&script)]);
    assert_eq!(not_a_case.status.code(), Some(2));
    assert!(stderr(&not_a_case).contains("has no `seed`"));
}
