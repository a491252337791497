//! Fault and middlebox syntax, as fault scripts write it.
//!
//! Script authors rely on every fault kind and middlebox reading from TOML
//! exactly as documented (kebab-case kinds, humantime durations, unknown
//! fields rejected), and on a world that names a bad host or an out-of-range
//! rate being refused with a clear error rather than run. The scripts in
//! `scenarios/scripts/` are read here for their `[[faults]]` and
//! `[[topology.middleboxes]]` only; the rest of the format is the loader's.

mod common;

use std::{fs, path::Path};

use common::*;
use serde::Deserialize;
use squall_sim::{
    FailingServer, Fault, Middlebox, ScheduledFault, SimError, StatusCode, WorldConfig, run,
};

#[derive(Deserialize)]
struct Script {
    #[serde(default)]
    faults: Vec<ScheduledFault>,
    #[serde(default)]
    topology: Topology,
}

#[derive(Deserialize, Default)]
struct Topology {
    #[serde(default)]
    middleboxes: Vec<Middlebox>,
}

/// Every script's faults and middleboxes parse, and each fault kind this
/// crate has appears in at least one script.
#[test]
fn every_script_fault_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/scripts");
    let mut paths: Vec<_> = fs::read_dir(&dir)
        .expect("scripts folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 13, "{paths:?}");
    let mut kinds: Vec<String> = Vec::new();
    for path in &paths {
        let text = fs::read_to_string(path).expect("readable");
        let script: Script =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for scheduled in &script.faults {
            let shown = scheduled.fault.to_string();
            kinds.push(
                shown
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
        for middlebox in &script.topology.middleboxes {
            assert_eq!(middlebox.forward_to, "server-1", "{}", path.display());
        }
    }
    kinds.sort();
    kinds.dedup();
    let expected = [
        "kind=black_hole",
        "kind=failing_server",
        "kind=goaway_storm",
        "kind=graceful_restart",
        "kind=lossy_link",
        "kind=one_way_partition",
        "kind=partition",
        "kind=server_crash",
        "kind=slow_server",
    ];
    assert_eq!(kinds, expected);
}

/// Unknown fields and out-of-range values are errors.
#[test]
fn bad_fault_syntax_is_rejected() {
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct One {
        faults: Vec<ScheduledFault>,
    }
    let bad = [
        // unknown field
        "[[faults]]\nat = \"1s\"\nkind = \"slow-server\"\nhosts = [\"server-1\"]\nadded_latency = \"1s\"\nextra = 1",
        // unknown kind
        "[[faults]]\nat = \"1s\"\nkind = \"meteor\"",
        // a rate is an integer
        "[[faults]]\nat = \"1s\"\nkind = \"failing-server\"\nhosts = [\"server-1\"]\nfailure_percent = 0.5\ncode = \"UNAVAILABLE\"",
        // status codes are spelled as in the gRPC spec
        "[[faults]]\nat = \"1s\"\nkind = \"failing-server\"\nhosts = [\"server-1\"]\nfailure_percent = 5\ncode = \"unavailable\"",
    ];
    for text in bad {
        assert!(toml::from_str::<One>(text).is_err(), "accepted: {text}");
    }
}

fn invalid(world: &WorldConfig) -> String {
    match run(world).outcome {
        Err(SimError::InvalidWorld(why)) => why,
        other => panic!("expected an invalid world, got {other:?}"),
    }
}

/// Worlds that name unknown hosts, a server fault on a non-server, or an
/// out-of-range rate are refused before anything runs.
#[test]
fn bad_worlds_are_refused_with_a_reason() {
    let failing = |hosts_: &[&str], failure_percent| {
        Fault::FailingServer(FailingServer {
            hosts: hosts(hosts_),
            failure_percent,
            code: StatusCode::Internal,
        })
    };
    let w = |fault| world(1, &["server-1"], secs(2), vec![at(secs(1), None, fault)]);
    assert!(invalid(&w(failing(&["server-9"], 5))).contains("unknown server `server-9`"));
    assert!(invalid(&w(failing(&["client"], 5))).contains("unknown server `client`"));
    assert!(invalid(&w(failing(&["server-1"], 101))).contains("failure_percent"));
    let mut nat = world(1, &["nat-1"], secs(2), vec![]);
    assert!(invalid(&nat).contains("client targets"));
    nat.middleboxes = vec![toml::from_str(
        "name = \"nat-1\"\nkind = \"nat\"\nforward_to = \"server-2\"\nidle_timeout = \"5s\"\nexpiry = \"rst\"",
    )
    .expect("valid middlebox syntax")];
    assert!(invalid(&nat).contains("unknown server `server-2`"));
}
