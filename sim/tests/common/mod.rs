//! Helpers shared by the fault tests: the standard test world and trace
//! queries.
//!
//! The standard world mirrors the black-hole scenario: one client running a
//! pool (2 connections per server, keepalive PING after 2 s of silence,
//! 1 s to answer), a steady 10 RPC/s from t = 1 s, each with a 1 s deadline,
//! 1 ms ticks and 1 ms links, so every timing in a trace is exact.

#![allow(dead_code)] // each test file uses a different subset

use std::time::Duration;

use squall_pool::{KeepaliveConfig, PoolConfig};
use squall_sim::{
    ClientKind, Fault, LoadConfig, Pace, RpcOutcome, ScheduledFault, Trace, TraceLine, WorldConfig,
    run,
};

pub const TICK: Duration = Duration::from_millis(1);
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(2);
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(1);
/// When TCP aborts a connection whose first RPC into a cut was sent at
/// `sent`, on these worlds' 1 ms links (SRTT 2 ms, RTO 202 ms), following
/// the fork's Linux timers step by step on the kernel's timer wheel
/// (`CONFIG_HZ=250`, as the worlds run it). An RPC is two segments (h2
/// writes HEADERS and DATA separately), so the tail loss probe is due
/// 2 SRTT + 2 jiffies later; the first retransmission one RTO after the
/// probe; then RTOs doubling, clamped to the user timeout the pool sets
/// from its keepalive timeout (1 s) after that first retransmission, each
/// armed on the wheel. About 1.23 s after the send (a 6.18 kernel: 1.23 s
/// for two writes into a cut, docs/upstream.md).
pub fn user_timeout_abort(sent: Duration) -> Duration {
    abort_after_probe(sent, SRTT * 2 + ms(8))
}

/// `user_timeout_abort` for a pool with `coalesce_request_writes`, whose
/// RPC is one segment: with one segment out, Linux's loss probe allows for
/// a delayed ACK (2 SRTT + `rto_min`), which the RTO comes before, so the
/// probe is due one RTO after the send. About 1.42 s after it.
pub fn user_timeout_abort_one_segment(sent: Duration) -> Duration {
    abort_after_probe(sent, (SRTT * 2 + ms(200)).min(RTO))
}

const SRTT: Duration = Duration::from_millis(2);
const RTO: Duration = Duration::from_millis(202);

/// When TCP aborts, on the wheel, if its loss probe is due `probe_after`
/// the send.
fn abort_after_probe(sent: Duration, probe_after: Duration) -> Duration {
    let wheel = turmoil::TimerWheel::LINUX_250;
    let probe = wheel.fires_at(sent, probe_after);
    let first_retransmission = wheel.fires_at(probe, RTO);
    let give_up = first_retransmission + KEEPALIVE_TIMEOUT;
    let (mut at, mut backoff) = (first_retransmission, RTO * 2);
    while at < give_up {
        let delay = backoff.min(give_up - at);
        at = wheel.fires_at(at, delay);
        backoff *= 2;
    }
    at
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

pub fn hosts(names: &[&str]) -> Vec<String> {
    names.iter().map(|&n| n.to_owned()).collect()
}

/// The standard pool config, seeded with `seed`.
pub fn pool_config(seed: u64) -> PoolConfig {
    PoolConfig {
        connections_per_endpoint: 2,
        keepalive: KeepaliveConfig {
            interval: KEEPALIVE_INTERVAL,
            timeout: KEEPALIVE_TIMEOUT,
            while_idle: true,
        },
        default_rpc_timeout: secs(1),
        shutdown_grace: secs(1),
        rng_seed: seed,
        ..PoolConfig::default()
    }
}

/// The standard world with `servers` servers, a pool over `targets`, load
/// until `stop`, and the given faults.
pub fn world(
    servers: usize,
    targets: &[&str],
    stop: Duration,
    faults: Vec<ScheduledFault>,
) -> WorldConfig {
    WorldConfig {
        server_max_streams: None,
        seed: 1,
        servers,
        middleboxes: Vec::new(),
        client: ClientKind::Pool {
            config: pool_config(1),
            targets: hosts(targets),
        },
        load: LoadConfig {
            start: secs(1),
            stop,
            pace: Pace::Open { interval: ms(100) },
            deadline: secs(1),
            mix: Vec::new(),
            idempotent: false,
        },
        faults,
        time_limit: stop + secs(10),
        tick: TICK,
        link_latency: ms(1),
        skip_idle: true,
        user: None,
    }
}

pub fn at(at: Duration, heal_after: Option<Duration>, fault: Fault) -> ScheduledFault {
    ScheduledFault {
        at,
        heal_after,
        fault,
    }
}

/// Runs a world that must complete, and returns its trace.
pub fn run_ok(world: &WorldConfig) -> Trace {
    let output = run(world);
    if let Err(e) = &output.outcome {
        panic!("run failed: {e}\n{}", interesting(&output.trace));
    }
    output.trace
}

/// The trace without `rpc_ok` lines: what to print when a test fails.
pub fn interesting(trace: &Trace) -> String {
    trace
        .text()
        .lines()
        .filter(|l| !l.contains(" rpc_ok "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Lines whose event name is `event`, as text.
pub fn lines<'t>(trace: &'t Trace, event: &str) -> Vec<&'t TraceLine> {
    trace
        .lines
        .iter()
        .filter(|l| l.event.name() == event)
        .collect()
}

/// RPC outcomes sent in `[from, to)`.
pub fn sent_between(trace: &Trace, from: Duration, to: Duration) -> Vec<(&TraceLine, &RpcOutcome)> {
    trace
        .rpcs()
        .filter(|(_, rpc)| rpc.sent_at >= from && rpc.sent_at < to)
        .collect()
}

/// Each RPC's latency: completion minus send time.
pub fn latency(line: &TraceLine, rpc: &RpcOutcome) -> Duration {
    line.at - rpc.sent_at
}
