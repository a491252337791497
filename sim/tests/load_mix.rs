//! A call mix: each RPC's call drawn by weight from a seeded RNG.
//!
//! Users rely on each kind of call doing what its name says on the wire: a
//! slow echo takes the asked delay, a failing echo fails with the asked
//! status, a stream delivers every reply at its interval, and a health check
//! goes to `grpc.health.v1.Health`, which a slow echo service does not slow
//! down. They rely on the mix being the same for the same seed, and on the
//! trace naming every call that is not a plain echo.

mod common;

use std::time::Duration;

use common::*;
use squall_sim::{
    Call, Fault, RpcCall, RpcOutcome, SlowServer, StatusCode, Trace, WeightedCall, WorldConfig,
};
use tonic::Code;

const STOP: Duration = Duration::from_secs(5);
const FAULT_AT: Duration = Duration::from_secs(3);
const HEAL_AT: Duration = Duration::from_secs(4);
const ADDED: Duration = Duration::from_millis(300);
const BASE: Duration = Duration::from_millis(2); // two 1 ms links
const DELAY: Duration = Duration::from_millis(200);
const STREAM_COUNT: u32 = 5;
const STREAM_INTERVAL: Duration = Duration::from_millis(10);

fn calls() -> [Call; 5] {
    [
        Call::Echo,
        Call::SlowEcho { delay: DELAY },
        Call::FailingEcho {
            code: StatusCode::Unavailable,
        },
        Call::EchoStream {
            count: STREAM_COUNT,
            interval: STREAM_INTERVAL,
        },
        Call::HealthCheck,
    ]
}

/// 10 RPC/s from 1 s to 5 s, every call equally likely; the echo service is
/// 300 ms slower from 3 s to 4 s.
fn mixed_world(seed: u64) -> WorldConfig {
    let slow = Fault::SlowServer(SlowServer {
        hosts: hosts(&["server-1"]),
        added_latency: ADDED,
    });
    let mut w = world(
        1,
        &["server-1"],
        STOP,
        vec![at(FAULT_AT, Some(HEAL_AT - FAULT_AT), slow)],
    );
    w.seed = seed;
    w.load.mix = calls()
        .into_iter()
        .map(|call| WeightedCall {
            weight: 1,
            call,
            deadline: None,
        })
        .collect();
    w
}

fn during_fault(rpc: &RpcOutcome) -> bool {
    rpc.sent_at >= FAULT_AT && rpc.sent_at < HEAL_AT
}

/// Each call's latency and result, outside the slow-server fault, are what
/// the call asks for; inside it, only the echo service's calls slow down.
#[test]
fn every_call_of_the_mix_does_what_it_says() {
    let trace = run_ok(&mixed_world(1));
    assert_eq!(trace.rpcs().count(), 40);
    for call in calls() {
        let count = trace
            .rpcs()
            .filter(|(_, rpc)| rpc.call == call.into())
            .count();
        assert!(count > 0, "no {} in the mix", call.name());
    }
    for (line, rpc) in trace.rpcs() {
        let took = latency(line, rpc);
        let slowed = if during_fault(rpc) {
            ADDED
        } else {
            Duration::ZERO
        };
        let RpcCall::Load(call) = rpc.call else {
            panic!("a user's call in the built-in load: {line}");
        };
        let (expected_latency, expected_result) = match call {
            Call::Echo => (BASE + slowed, Ok(())),
            Call::SlowEcho { .. } => (BASE + slowed + DELAY, Ok(())),
            Call::FailingEcho { .. } => (BASE + slowed, Err(Code::Unavailable)),
            // Replies 10 ms apart: the last of 5 leaves 40 ms after the first.
            Call::EchoStream { .. } => (BASE + STREAM_INTERVAL * (STREAM_COUNT - 1), Ok(())),
            // The health service is not the echo service: never slowed.
            Call::HealthCheck => (BASE, Ok(())),
        };
        assert_eq!(
            took,
            expected_latency,
            "rpc {} ({})",
            rpc.id,
            rpc.call.name()
        );
        assert_eq!(rpc.result, expected_result, "rpc {}", rpc.id);
        assert_eq!(rpc.deadline, Duration::from_secs(1));
    }
    // The health check's immunity is seen during the fault, not assumed.
    assert!(
        trace
            .rpcs()
            .any(|(_, rpc)| rpc.call == Call::HealthCheck.into() && during_fault(rpc)),
        "no health check during the fault"
    );
}

/// The trace names every call that is not a plain echo, and only those.
#[test]
fn the_trace_names_calls_other_than_plain_echo() {
    let trace = run_ok(&mixed_world(1));
    let text = trace.text();
    let rpc_lines: Vec<&str> = text.lines().filter(|l| l.contains(" rpc=")).collect();
    let (_, outcomes): (Vec<_>, Vec<_>) = trace.rpcs().unzip();
    assert_eq!(rpc_lines.len(), outcomes.len());
    for (line, rpc) in rpc_lines.iter().zip(outcomes) {
        let named = format!(" rpc={} call={} ", rpc.id, rpc.call.name());
        if rpc.call == Call::Echo.into() {
            assert!(!line.contains("call="), "{line}");
        } else {
            assert!(line.contains(&named), "{line}");
        }
    }
}

/// The same seed draws the same calls; another seed draws others.
#[test]
fn the_mix_follows_the_seed() {
    let drawn = |trace: &Trace| -> Vec<(u64, RpcCall)> {
        let mut calls: Vec<_> = trace
            .rpcs()
            .map(|(_, rpc)| (rpc.id, rpc.call.clone()))
            .collect();
        calls.sort_by_key(|(id, _)| *id);
        calls
    };
    let first = run_ok(&mixed_world(1));
    assert_eq!(first.text(), run_ok(&mixed_world(1)).text());
    assert_ne!(drawn(&first), drawn(&run_ok(&mixed_world(2))));
}

/// An entry's own deadline is the one its RPCs are sent and cut off with.
#[test]
fn an_entry_deadline_overrides_the_load_deadline() {
    let mut w = world(1, &["server-1"], Duration::from_secs(2), Vec::new());
    let short = Duration::from_millis(50);
    w.load.mix = vec![WeightedCall {
        weight: 1,
        call: Call::SlowEcho { delay: DELAY },
        deadline: Some(short),
    }];
    let trace = run_ok(&w);
    assert_eq!(trace.rpcs().count(), 10);
    for (line, rpc) in trace.rpcs() {
        assert_eq!(rpc.deadline, short);
        assert_eq!(rpc.result, Err(Code::DeadlineExceeded), "rpc {}", rpc.id);
        assert_eq!(latency(line, rpc), short, "rpc {}", rpc.id);
    }
}
