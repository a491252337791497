//! squall's software faults act on a user's service as on the echo
//! service: a failing server fails the share of calls it says, with its
//! code, and a slow server answers that much later. One server, the
//! orders client's bursts (5 orders, 100 ms apart, every 25 s), link
//! latency 1 ms: an order takes exactly one round trip, 2 ms.

use std::time::Duration;

use squall_example_orders::world;
use squall_scenarios::{Report, Script, Worlds, run_script_in, script::ClientKind};
use squall_sim::{FailingServer, Fault, RpcCall, SlowServer, StatusCode};
use tonic::Code;

/// The orders world with one server and `fault` from 20 s, never healed;
/// 60 s: bursts at 0 s (before the fault), 25.5 s and 51 s (during it).
fn run_with(fault: Fault) -> Report {
    let script = Script::builder("orders-fault")
        .world("orders")
        .no_load()
        .servers(1)
        .client(ClientKind::Pool, &["server-1"])
        .duration(Duration::from_secs(60))
        .fault_at(Duration::from_secs(20), None, fault)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    run_script_in(&script, 1, &Worlds::new().with(world())).expect("a known world")
}

/// (ms taken, result) of each order sent after 20 s.
fn orders_during(report: &Report) -> Vec<(u128, Result<(), Code>)> {
    report
        .trace
        .rpcs()
        .filter(|(_, rpc)| rpc.call == RpcCall::User("PlaceOrder".into()))
        .filter(|(_, rpc)| rpc.sent_at >= Duration::from_secs(20))
        .map(|(line, rpc)| ((line.at - rpc.sent_at).as_millis(), rpc.result))
        .collect()
}

#[test]
fn a_failing_server_fails_its_share_of_orders_with_its_code() {
    let report = run_with(Fault::FailingServer(FailingServer {
        hosts: vec!["server-1".into()],
        failure_percent: 50,
        code: StatusCode::ResourceExhausted,
    }));
    let during = orders_during(&report);
    assert_eq!(during.len(), 10, "two bursts of five");
    // Calls 1, 3, 5, ... of those made while failing fail (`Failure::fails`).
    let failed: Vec<usize> = during
        .iter()
        .enumerate()
        .filter(|(_, (_, result))| result.is_err())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(failed, [1, 3, 5, 7, 9], "{during:?}");
    assert!(
        during
            .iter()
            .all(|(took, result)| *took == 2
                && matches!(result, Ok(()) | Err(Code::ResourceExhausted))),
        "{during:?}"
    );
}

#[test]
fn a_slow_server_answers_orders_later_by_its_latency() {
    let report = run_with(Fault::SlowServer(SlowServer {
        hosts: vec!["server-1".into()],
        added_latency: Duration::from_millis(300),
    }));
    let during = orders_during(&report);
    assert_eq!(during.len(), 10);
    assert!(during.iter().all(|o| *o == (302, Ok(()))), "{during:?}");
    // Before the fault: one round trip (the first order also waits for
    // the pool's first connection).
    let before: Vec<u128> = report
        .trace
        .rpcs()
        .skip(1)
        .filter(|(_, rpc)| rpc.sent_at < Duration::from_secs(20))
        .map(|(line, rpc)| (line.at - rpc.sent_at).as_millis())
        .collect();
    assert!(
        !before.is_empty() && before.iter().all(|&t| t == 2),
        "{before:?}"
    );
}
