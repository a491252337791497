//! `squall run --net kernel` and `squall kernel-cleanup` as users run
//! them: exit codes, the JSON naming the world, nothing left behind.
//!
//! They need root, `ip` and `nft`; without them they print why and pass,
//! except under `CI=true`, where they fail (CI installs what they need).

use std::{
    process::{Command, Output},
    sync::Mutex,
};

use serde_json::Value;

fn squall(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_squall"))
        .args(args)
        .output()
        .expect("squall runs")
}

/// One test at a time: every kernel run first removes dead runs'
/// namespaces, which would race the cleanup test's own.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A built-in script runs on real sockets: the same JSON report, naming
/// the kernel world and its ~0 link latency, exit 0 when it passes, and no
/// namespace of the run left on the machine.
#[test]
fn run_net_kernel_reports_the_kernel_world_and_cleans_up() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !squall_kernel::kernel_mode_for_tests() {
        return;
    }
    let output = squall(&["run", "limiter-flood", "--net", "kernel", "--json"]);
    let json: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "one JSON object ({e}): {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert_eq!(json["world"]["net"], "kernel", "{json}");
    assert_eq!(json["world"]["link_latency_ms"], 0, "{json}");
    assert_eq!(json["scenario"], "limiter-flood");
    assert_eq!(
        output.status.success(),
        json["passed"] == true,
        "exit {:?} for {json}",
        output.status
    );
    let invariants = json["invariants"].as_array().expect("invariants");
    assert!(
        invariants
            .iter()
            .any(|i| i["name"] == "limiter_inflight_within_limit"),
        "{json}"
    );
    let leftovers: Vec<String> = squall_kernel::lab_namespaces()
        .into_iter()
        .filter(|ns| !ns.is_empty())
        .filter(|ns| {
            // Labs of live processes (a parallel test binary) are theirs.
            ns.strip_prefix("sq")
                .and_then(|rest| rest.split('x').next())
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
        })
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}

/// The simulation's report names its world too.
#[test]
fn run_in_the_simulation_names_the_sim_world() {
    let output = squall(&["run", "limiter-flood", "--json"]);
    let json: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(json["world"]["net"], "sim", "{json}");
    assert_eq!(json["world"]["link_latency_ms"], 1, "{json}");
}

/// `squall kernel-cleanup` removes a dead run's namespaces and says so.
#[test]
fn kernel_cleanup_removes_a_dead_runs_namespace() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !squall_kernel::kernel_mode_for_tests() {
        return;
    }
    // A pid that is not alive: the largest pid Linux hands out is below it.
    let dead = "sq4194304x0-client";
    let added = Command::new("ip").args(["netns", "add", dead]).status();
    assert!(added.is_ok_and(|s| s.success()), "ip netns add {dead}");
    let output = squall(&["kernel-cleanup"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains(&format!("removed {dead}")), "{stdout}");
    assert!(!squall_kernel::lab_namespaces().contains(&dead.to_owned()));
}
