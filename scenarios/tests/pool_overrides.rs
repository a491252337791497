//! `[pool.limiter]` and `[pool.breaker]` in a script reach the pool of the
//! run, with the script's values.
//!
//! Users rely on a script's limiter and breaker settings being the ones the
//! simulated pool runs with: a concurrency cap of 2 means never more than 2
//! RPCs at the server, and a breaker opens after exactly the calls its
//! window and threshold say, counting exactly the codes the script lists.
//! Times are exact: 1 ms links, so an answered RPC takes 2 ms plus the
//! server's delay, and a rejected one ends the instant it is sent.

use std::time::Duration;

use squall_scenarios::{Script, run_script, script::MixEntry};
use squall_sim::{StatusCode, Trace};
use tonic::Code;

const MS: Duration = Duration::from_millis(1);

/// RPCs that reached the server and are in flight at `t`.
fn answered_in_flight_at(trace: &Trace, t: Duration) -> usize {
    trace
        .rpcs()
        .filter(|(_, rpc)| rpc.conn.is_some())
        .filter(|(line, rpc)| rpc.sent_at <= t && t < line.at)
        .count()
}

fn most_in_flight(trace: &Trace) -> usize {
    let end = trace.rpcs().map(|(line, _)| line.at).max().expect("rpcs");
    let mut t = Duration::from_secs(1);
    let mut most = 0;
    while t < end {
        most = most.max(answered_in_flight_at(trace, t));
        t += MS;
    }
    most
}

/// 4 closed-loop callers, each RPC held 100 ms by the server.
fn four_callers() -> squall_scenarios::script::ScriptBuilder {
    Script::builder("limited")
        .duration(Duration::from_secs(3))
        .closed_loop(4, Duration::from_millis(10))
        .mix(MixEntry::slow_echo(1, Duration::from_millis(100)))
}

/// Without a limiter all 4 callers are at the server at once; with
/// `max_concurrency = 2` and no queue, never more than 2, and every other
/// call fails at once with RESOURCE_EXHAUSTED.
#[test]
fn a_limiter_override_caps_the_rpcs_in_flight() {
    let free = run_script(&four_callers().build().expect("valid"), 1);
    assert!(free.passed(), "{}", free.verdict());
    assert_eq!(most_in_flight(&free.trace), 4);
    assert!(free.trace.rpcs().all(|(_, rpc)| rpc.result.is_ok()));

    let script = four_callers()
        .limiter(|l| {
            l.max_concurrency = Some(2);
            l.max_queue_len = Some(0);
        })
        .build()
        .expect("valid");
    let limited = run_script(&script, 1);
    assert!(limited.passed(), "{}", limited.verdict());
    assert_eq!(most_in_flight(&limited.trace), 2);
    let rejected: Vec<_> = limited
        .trace
        .rpcs()
        .filter(|(_, rpc)| rpc.result.is_err())
        .collect();
    assert!(!rejected.is_empty());
    for (line, rpc) in rejected {
        assert_eq!(rpc.result, Err(Code::ResourceExhausted), "rpc {}", rpc.id);
        assert_eq!(
            line.at, rpc.sent_at,
            "rpc {} was not rejected at once",
            rpc.id
        );
    }
}

/// 10 RPC/s from 1 s, every one failed by the server with INTERNAL, and a
/// breaker over the last 10 calls that opens at 50 % failures for 1 s.
fn breaker_script(failure_codes: &str) -> Script {
    let text = format!(
        r#"
description = "a breaker that opens on the script's failure codes"
duration = "3500ms"

[topology]
servers = 1

[pool.breaker]
failure_rate_threshold = 50
minimum_calls = 10
sliding_window = {{ count = 10 }}
wait_in_open = "1s"
{failure_codes}

[load]
start = "1s"
rate = 10
deadline = "1s"

[[load.mix]]
call = "failing-echo"
weight = 1
code = "INTERNAL"
"#
    );
    Script::parse("breaker", "breaker.toml", &text).unwrap_or_else(|e| panic!("{e}"))
}

/// (result, latency) of each RPC, by id.
fn outcomes(trace: &Trace) -> Vec<(Result<(), Code>, Duration)> {
    let mut rpcs: Vec<_> = trace
        .rpcs()
        .map(|(line, rpc)| (rpc.id, rpc.result, line.at - rpc.sent_at))
        .collect();
    rpcs.sort_by_key(|(id, _, _)| *id);
    rpcs.into_iter().map(|(_, r, l)| (r, l)).collect()
}

/// The 10th INTERNAL failure (answered at 1902 ms) opens the breaker: the
/// calls sent from 2000 ms to 2900 ms fail at once with UNAVAILABLE, without
/// reaching the server; at 3000 ms, 1 s after it opened, the breaker lets
/// probes through again, and they reach the server.
#[test]
fn a_breaker_override_opens_on_the_listed_codes() {
    let report = run_script(&breaker_script(""), 1);
    let rpcs = outcomes(&report.trace);
    assert_eq!(rpcs.len(), 25);
    let answered = (Err(Code::Internal), 2 * MS);
    let rejected = (Err(Code::Unavailable), Duration::ZERO);
    assert_eq!(rpcs[..10], [answered; 10]);
    assert_eq!(rpcs[10..20], [rejected; 10]);
    assert_eq!(rpcs[20..], [answered; 5]);
}

/// With `failure_codes = ["UNAVAILABLE"]`, INTERNAL no longer counts as a
/// failure: the breaker never opens and every call reaches the server.
#[test]
fn breaker_failure_codes_replace_the_defaults() {
    let script = breaker_script(r#"failure_codes = ["UNAVAILABLE"]"#);
    let breaker = script.pool.breaker.as_ref().expect("breaker on");
    assert_eq!(
        breaker.failure_codes.as_deref(),
        Some(&[StatusCode::Unavailable][..])
    );
    let rpcs = outcomes(&run_script(&script, 1).trace);
    assert_eq!(rpcs, vec![(Err(Code::Internal), 2 * MS); 25]);
}
