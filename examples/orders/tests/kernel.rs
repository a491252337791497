//! The orders world on real sockets (kernel mode: network namespaces,
//! Linux's TCP; root): the same service, client program, faults and
//! invariants as in the simulation. Not deterministic, so bounds rather
//! than exact figures; it must not skip in CI.

use std::time::Duration;

use squall_example_orders::world;
use squall_scenarios::{Script, Worlds, report::run_script_kernel_in, script::ClientKind};
use squall_sim::{FailingServer, Fault, RpcCall, StatusCode};
use tonic::Code;

/// One server failing half its orders from 200 ms: the burst of five
/// orders (0 to 0.4 s) all reach the user's service through the pool over
/// real TCP; the ones sent after the fault alternate, so one or two fail,
/// with the fault's code.
#[test]
fn the_orders_world_runs_on_real_sockets() {
    if !squall_kernel::kernel_mode_for_tests() {
        return;
    }
    let script = Script::builder("orders-kernel")
        .world("orders")
        .no_load()
        .servers(1)
        .client(ClientKind::Pool, &["server-1"])
        .duration(Duration::from_secs(3))
        .fault_at(
            Duration::from_millis(200),
            None,
            Fault::FailingServer(FailingServer {
                hosts: vec!["server-1".into()],
                failure_percent: 50,
                code: StatusCode::ResourceExhausted,
            }),
        )
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let report = run_script_kernel_in(&script, 1, &Worlds::new().with(world()))
        .unwrap_or_else(|e| panic!("kernel mode could not run: {e}"));
    assert!(report.passed(), "{}", report.verdict());
    let orders: Vec<Result<(), Code>> = report
        .trace
        .rpcs()
        .filter(|(_, rpc)| rpc.call == RpcCall::User("PlaceOrder".into()))
        .map(|(_, rpc)| rpc.result)
        .collect();
    assert_eq!(orders.len(), 5, "{orders:?}");
    let failed: Vec<_> = orders.iter().filter_map(|r| r.err()).collect();
    assert!(
        (1..=2).contains(&failed.len()) && failed.iter().all(|c| *c == Code::ResourceExhausted),
        "{orders:?}"
    );
    assert!(
        report
            .invariants
            .iter()
            .any(|i| i.name == "orders_keep_their_tenant" && i.ok),
        "{}",
        report.verdict()
    );
}
