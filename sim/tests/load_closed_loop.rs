//! Closed-loop load: N callers, each sending its next RPC a think time after
//! its previous one ended.
//!
//! Users rely on `concurrency = N` meaning exactly N RPCs in flight whenever
//! the callers are not thinking, never more, and on the send times following
//! from the server's latency and the think time alone, so a slow server
//! slows the load down instead of piling RPCs up (the difference from an
//! open loop).

mod common;

use std::time::Duration;

use common::*;
use squall_sim::{Call, Pace, Trace, WeightedCall, WorldConfig};

const START: Duration = Duration::from_secs(1);
const STOP: Duration = Duration::from_secs(3);
const CALLERS: u32 = 4;
const THINK: Duration = Duration::from_millis(10);
const DELAY: Duration = Duration::from_millis(100);
/// The server's delay plus two 1 ms links.
const LATENCY: Duration = Duration::from_millis(102);

/// One server; every RPC a slow echo the server answers after `DELAY`.
fn closed_world(callers: u32) -> WorldConfig {
    let mut w = world(1, &["server-1"], STOP, Vec::new());
    w.load.pace = Pace::Closed {
        callers,
        think: THINK,
    };
    w.load.mix = vec![WeightedCall {
        weight: 1,
        call: Call::SlowEcho { delay: DELAY },
        deadline: None,
    }];
    w
}

/// RPCs in flight at `t`: sent at or before it, not yet ended.
fn in_flight_at(trace: &Trace, t: Duration) -> usize {
    trace
        .rpcs()
        .filter(|(line, rpc)| rpc.sent_at <= t && t < line.at)
        .count()
}

/// All callers start together, so they move in lockstep: rounds of 4 RPCs
/// sent at `START + k * (LATENCY + THINK)`, 18 rounds before `STOP`.
/// Between a round's send and its end exactly 4 RPCs are in flight; during
/// the think time none.
#[test]
fn closed_loop_keeps_exactly_n_callers_in_flight() {
    let trace = run_ok(&closed_world(CALLERS));
    let round = LATENCY + THINK;
    let rounds: u32 = 18;
    assert!(START + round * (rounds - 1) < STOP && START + round * rounds >= STOP);

    let rpcs: Vec<_> = trace.rpcs().collect();
    assert_eq!(
        rpcs.len(),
        (CALLERS * rounds) as usize,
        "{}",
        interesting(&trace)
    );
    for (line, rpc) in &rpcs {
        assert_eq!(rpc.result, Ok(()), "rpc {}", rpc.id);
        assert_eq!(rpc.call, Call::SlowEcho { delay: DELAY }.into());
        assert_eq!(latency(line, rpc), LATENCY, "rpc {}", rpc.id);
        let since_start = rpc.sent_at - START;
        assert_eq!(
            since_start.as_millis() % round.as_millis(),
            0,
            "rpc {} sent at {:?}, off the round schedule",
            rpc.id,
            rpc.sent_at
        );
    }
    for k in 0..rounds {
        let sent = START + round * k;
        let sent_then = rpcs.iter().filter(|(_, rpc)| rpc.sent_at == sent).count();
        assert_eq!(sent_then, CALLERS as usize, "round {k}");
    }
    // Every millisecond of the load: 4 in flight, or 0 while thinking.
    let end = trace.rpcs().map(|(line, _)| line.at).max().expect("rpcs");
    let mut ms = START;
    while ms < end {
        let phase = (ms - START).as_millis() % round.as_millis();
        let expected = if phase < LATENCY.as_millis() {
            CALLERS as usize
        } else {
            0
        };
        assert_eq!(in_flight_at(&trace, ms), expected, "at {ms:?}");
        ms += Duration::from_millis(1);
    }
}

/// The ids follow send order, callers in index order within an instant:
/// round k carries ids 4k+1..=4k+4, and the run is reproducible.
#[test]
fn closed_loop_ids_follow_send_order_and_repeat_with_the_seed() {
    let world = closed_world(CALLERS);
    let trace = run_ok(&world);
    let round = LATENCY + THINK;
    for (_, rpc) in trace.rpcs() {
        let k = ((rpc.sent_at - START).as_millis() / round.as_millis()) as u64;
        assert!(
            (4 * k + 1..=4 * k + 4).contains(&rpc.id),
            "rpc {} sent in round {k}",
            rpc.id
        );
    }
    assert_eq!(trace.text(), run_ok(&world).text());
}

/// One caller: one RPC at a time, no overlap, each sent exactly `THINK`
/// after the previous one ended.
#[test]
fn one_caller_sends_after_the_previous_rpc_and_the_think_time() {
    let trace = run_ok(&closed_world(1));
    let rpcs: Vec<_> = trace.rpcs().collect();
    assert_eq!(rpcs.len(), 18);
    assert_eq!(rpcs[0].1.sent_at, START);
    for pair in rpcs.windows(2) {
        let ((prev_line, _), (_, next)) = (pair[0], pair[1]);
        assert_eq!(next.sent_at, prev_line.at + THINK, "rpc {}", next.id);
    }
}
