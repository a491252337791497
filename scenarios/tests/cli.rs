//! The `squall` command line, as users run it: each run is a separate
//! process, so equal hashes here also prove that nothing process-specific
//! (hash-map seeds, addresses, the wall clock) leaks into a trace.

use std::process::{Command, Output};

use serde_json::Value;

fn squall(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_squall"))
        .args(args)
        .output()
        .expect("squall runs")
}

fn run_json(seed: &str) -> Value {
    let output = squall(&["run", "black-hole", "--seed", seed, "--json"]);
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON object")
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

    let again = run_json("7");
    assert_eq!(first["trace_hash"], again["trace_hash"]);
    let other = run_json("8");
    assert_ne!(first["trace_hash"], other["trace_hash"]);
}

#[test]
fn default_run_prints_trace_verdict_and_replay_command() {
    let output = squall(&["run", "black-hole"]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).expect("utf-8");
    assert!(text.contains("net fault_start kind=black_hole a=client b=server-2"));
    assert!(text.contains("cause=keepalive_timeout"));
    assert!(text.contains("verdict: PASS"));
    assert!(text.contains("run black-hole --seed 1"));
}

#[test]
fn unknown_scenario_is_a_clear_error() {
    let output = squall(&["run", "no-such-thing"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).expect("utf-8");
    assert!(
        stderr.contains("no scenario named `no-such-thing`"),
        "{stderr}"
    );
    assert!(stderr.contains("black-hole"), "{stderr}");
}
