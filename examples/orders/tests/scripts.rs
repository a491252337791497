//! Every fault script of the suite (`scripts/*.toml`), run in the `orders`
//! world: its expectations, squall's invariants and the suite's own must
//! hold, and its trace must match the snapshot (`tests/snapshots/`). A
//! failing script saves its case and prints the one command that replays
//! it.

use std::path::{Path, PathBuf};

use squall_example_orders::world;
use squall_scenarios::{Report, Script, Worlds, replay, run_script_in};

fn scripts() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no scripts in {}", dir.display());
    files
}

fn run(path: &Path) -> (Script, Report) {
    let script = Script::load(path).unwrap_or_else(|e| panic!("{e}"));
    let seed = script.default_seed();
    let report = run_script_in(&script, seed, &Worlds::new().with(world()))
        .unwrap_or_else(|e| panic!("{e}"));
    (script, report)
}

/// Saves a failing run's case under `target/` and returns the command that
/// replays it.
fn saved_case(path: &Path, report: &Report) -> String {
    let text = std::fs::read_to_string(path).expect("the script was read once");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/squall/failures");
    std::fs::create_dir_all(&dir).expect("target/ is writable");
    let dir = dir.canonicalize().expect("it exists");
    let case = dir.join(format!(
        "orders-{}-seed-{}.toml",
        report.scenario, report.seed
    ));
    std::fs::write(&case, replay::case_text(&text, report.seed)).expect("the case is written");
    format!(
        "cargo run -p squall-example-orders --bin orders-squall -- replay {}",
        case.display()
    )
}

#[test]
fn every_script_holds_and_matches_its_snapshot() {
    for path in scripts() {
        let (script, report) = run(&path);
        if !report.passed() {
            panic!(
                "{} failed:\n{}\nreplay it with:\n  {}",
                script.name,
                report.verdict(),
                saved_case(&path, &report)
            );
        }
        let orders = report
            .invariants
            .iter()
            .find(|i| i.name == "orders_keep_their_tenant")
            .expect("the suite's own invariant is checked");
        assert!(orders.ok, "{}", orders.detail);
        insta::assert_snapshot!(script.name.clone(), report.trace.text());
    }
}

/// The same NAT, with a keepalive slower than the NAT forgets a flow: the
/// first order of every burst after the first meets a dead connection and
/// fails, and the suite's invariant says so. What the script guards.
#[test]
fn without_keepalive_under_the_nat_timeout_orders_fail() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/nat-expiry.toml");
    let mut script = Script::load(&path).unwrap_or_else(|e| panic!("{e}"));
    script.pool.keepalive.interval = Some(std::time::Duration::from_secs(30));
    let report = run_script_in(&script, 1, &Worlds::new().with(world())).expect("a known world");
    let failed = report
        .trace
        .rpcs()
        .filter(|(_, rpc)| rpc.result.is_err())
        .count();
    assert!(
        failed >= 3,
        "{failed} orders failed\n{}",
        report.trace.text()
    );
    assert!(!report.passed());
}

/// A script naming a world nobody registered is refused with its name.
#[test]
fn an_unknown_world_is_named() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/nat-expiry.toml");
    let script = Script::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let error = run_script_in(&script, 1, &Worlds::new()).expect_err("orders is not registered");
    assert_eq!(
        error.to_string(),
        "script nat-expiry: world `orders` is not registered (known: none)"
    );
}
