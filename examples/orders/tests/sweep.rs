//! squall's property sweep in the suite's own world: random fault scripts
//! (faults, topologies, pool settings, as `squall sweep` generates them)
//! with the orders service on the servers and the orders client on the
//! client host, every invariant checked, the suite's own included. A
//! failing case is shrunk and written as a script naming the world, with
//! the one line that replays it (`orders-squall replay FILE`).
//!
//! The cases derive from a fixed seed, so this runs the same cases every
//! time; `cargo run -p squall-example-orders --bin orders-squall -- sweep
//! --world orders --cases 1000` sweeps more.

use std::path::PathBuf;

use squall_example_orders::world;
use squall_scenarios::prop::{Shard, SweepConfig, cli::Suite, sweep};
use squall_sim::RpcCall;

/// Cases per run of `cargo test`: a fixed budget, as squall's own suites.
const CASES: u64 = 6;

#[test]
fn random_fault_scripts_in_the_orders_world_hold() {
    let config = SweepConfig {
        options: Suite::Faults.options(),
        suite: "orders-faults".to_owned(),
        seed: 0,
        cases: CASES,
        shard: Shard::ALL,
        determinism_every: Some(3),
        failures_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/squall/failures"),
        rerun_command: "cargo run -p squall-example-orders --bin orders-squall -- sweep --world orders --case {seed}".to_owned(),
        commit: None,
        world: Some(world()),
    };
    let mut ran = 0;
    let summary = sweep(&config, &mut |seed, run| {
        let report = run
            .report
            .as_ref()
            .unwrap_or_else(|| panic!("case {seed:#x} ran"));
        // The world's own client ran, and the world's invariant was judged.
        assert!(
            report
                .trace
                .rpcs()
                .any(|(_, rpc)| rpc.call == RpcCall::User("PlaceOrder".into())),
            "case {seed:#x}: no order placed"
        );
        assert!(
            report
                .invariants
                .iter()
                .any(|i| i.name == "orders_keep_their_tenant"),
            "case {seed:#x}"
        );
        ran += 1;
    });
    assert_eq!(ran, CASES);
    let failures: Vec<String> = summary
        .failures
        .iter()
        .map(|f| format!("{:?}\n{}", f.failed, f.replay_line))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
