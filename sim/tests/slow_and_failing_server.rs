//! Slow and failing servers: application-level faults on a healthy network.
//!
//! Users rely on a slow server showing up as exactly that much more RPC
//! latency (and as DEADLINE_EXCEEDED once it passes the deadline), and on a
//! failing server returning the chosen status at exactly the chosen rate,
//! with no RNG, so a breaker in front of it sees a reproducible sequence.
//! The world has one server, so every RPC meets the fault.

mod common;

use std::time::Duration;

use common::*;
use squall_sim::{FailingServer, Fault, SlowServer, StatusCode, Trace};
use tonic::Code;

const FAULT_AT: Duration = Duration::from_secs(5);
const HEAL_AT: Duration = Duration::from_secs(10);
const STOP: Duration = Duration::from_secs(15);
const BASE: Duration = Duration::from_millis(2); // two 1 ms links

fn run_with(fault: Fault) -> Trace {
    let w = world(
        1,
        &["server-1"],
        STOP,
        vec![at(FAULT_AT, Some(HEAL_AT - FAULT_AT), fault)],
    );
    run_ok(&w)
}

fn slow(added_latency: Duration) -> Fault {
    Fault::SlowServer(SlowServer {
        hosts: hosts(&["server-1"]),
        added_latency,
    })
}

/// 300 ms added latency: every RPC sent during the fault takes exactly
/// 302 ms; every other one 2 ms. None fails.
#[test]
fn slow_server_adds_exactly_its_latency() {
    let trace = run_with(slow(ms(300)));
    let during = sent_between(&trace, FAULT_AT, HEAL_AT);
    assert_eq!(during.len(), 50);
    for (line, rpc) in &during {
        assert_eq!(latency(line, rpc), BASE + ms(300), "{line}");
    }
    let outside = trace
        .rpcs()
        .filter(|(_, r)| r.sent_at < FAULT_AT || r.sent_at >= HEAL_AT);
    let mut count = 0;
    for (line, rpc) in outside {
        assert_eq!(latency(line, rpc), BASE, "{line}");
        count += 1;
    }
    assert_eq!(count, 90);
    assert_eq!(trace.rpcs().filter(|(_, r)| r.result.is_err()).count(), 0);
}

/// 1500 ms added latency, 1 s deadline: every RPC sent during the fault
/// fails with DEADLINE_EXCEEDED exactly at its deadline; the rest succeed.
#[test]
fn slow_server_past_the_deadline_fails_every_call_at_its_deadline() {
    let trace = run_with(slow(ms(1500)));
    let during = sent_between(&trace, FAULT_AT, HEAL_AT);
    assert_eq!(during.len(), 50);
    for (line, rpc) in &during {
        assert_eq!(rpc.result, Err(Code::DeadlineExceeded), "{line}");
        assert_eq!(latency(line, rpc), secs(1), "{line}");
    }
    assert_eq!(trace.rpcs().filter(|(_, r)| r.result.is_err()).count(), 50);
}

fn failing(failure_percent: u8, code: StatusCode) -> Fault {
    Fault::FailingServer(FailingServer {
        hosts: hosts(&["server-1"]),
        failure_percent,
        code,
    })
}

/// 50 % UNAVAILABLE: of the 50 RPCs sent during the fault exactly 25 fail,
/// every second one, with UNAVAILABLE; none fails outside the fault.
#[test]
fn failing_server_fails_exactly_the_chosen_share_with_the_chosen_code() {
    let trace = run_with(failing(50, StatusCode::Unavailable));
    let during = sent_between(&trace, FAULT_AT, HEAL_AT);
    assert_eq!(during.len(), 50);
    let pattern: Vec<bool> = during.iter().map(|(_, r)| r.result.is_err()).collect();
    let expected: Vec<bool> = (0..50).map(|i| i % 2 == 1).collect();
    assert_eq!(pattern, expected, "{}", interesting(&trace));
    for (line, rpc) in during.iter().filter(|(_, r)| r.result.is_err()) {
        assert_eq!(rpc.result, Err(Code::Unavailable), "{line}");
        assert_eq!(latency(line, rpc), BASE, "{line}");
    }
    assert_eq!(trace.rpcs().filter(|(_, r)| r.result.is_err()).count(), 25);
}

/// 100 % RESOURCE_EXHAUSTED: all 50 fail; 0 %: none.
#[test]
fn failing_server_at_the_extremes() {
    let all = run_with(failing(100, StatusCode::ResourceExhausted));
    let failed: Vec<_> = all.rpcs().filter(|(_, r)| r.result.is_err()).collect();
    assert_eq!(failed.len(), 50);
    assert!(
        failed
            .iter()
            .all(|(_, r)| r.result == Err(Code::ResourceExhausted))
    );
    assert!(
        failed
            .iter()
            .all(|(_, r)| r.sent_at >= FAULT_AT && r.sent_at < HEAL_AT)
    );

    let none = run_with(failing(0, StatusCode::Internal));
    assert_eq!(none.rpcs().filter(|(_, r)| r.result.is_err()).count(), 0);
}
