//! Partitions between host sets, two-way and one-way.
//!
//! Users rely on the pool noticing a partitioned server (the cut sends no
//! RST or FIN) by TCP's user timeout under load, as on Linux, routing every RPC to the servers it can still
//! reach, and coming back to the cut server after the heal. The one-way
//! tests pin down turmoil's asymmetric semantics, which differ by direction.

mod common;

use std::time::Duration;

use common::*;
use squall_pool::{CloseCause, ConnEvent, ConnId};
use squall_sim::{Fault, OneWayPartition, Partition, Trace, TraceEvent, check};

const FAULT_AT: Duration = Duration::from_secs(5);
const HEAL_AT: Duration = Duration::from_secs(10);
const DETECT: Duration = Duration::from_secs(3); // keepalive interval + timeout

/// Pool connections to `server` that were ready at `at`.
fn ready_at(trace: &Trace, server: &str, at: Duration) -> Vec<ConnId> {
    let mut ready = Vec::new();
    for line in trace.lines.iter().take_while(|l| l.at <= at) {
        if let TraceEvent::Pool {
            conn,
            endpoint,
            kind,
        } = &line.event
        {
            match kind {
                ConnEvent::Ready if endpoint == server => ready.push(*conn),
                ConnEvent::Closed { .. } => ready.retain(|c| c != conn),
                _ => {}
            }
        }
    }
    ready
}

/// When and why the pool closed `conn`.
fn closed(trace: &Trace, conn: ConnId) -> Option<(Duration, CloseCause)> {
    trace.lines.iter().find_map(|line| match &line.event {
        TraceEvent::Pool {
            conn: c,
            kind: ConnEvent::Closed { cause },
            ..
        } if *c == conn => Some((line.at, cause.clone())),
        _ => None,
    })
}

/// Asserts every connection to `server` ready at the fault is closed by
/// whichever comes first, as on Linux: TCP's user timeout, exactly
/// `user_timeout_abort` of the first RPC it carried into the cut (a
/// transport error), or keepalive, exactly `DETECT` after the last answer
/// it received (nothing answers the PING); returns the latest such close.
fn assert_detected(trace: &Trace, server: &str) -> Duration {
    let conns = ready_at(trace, server, FAULT_AT);
    assert_eq!(conns.len(), 2, "{}", interesting(trace));
    let mut latest = Duration::ZERO;
    for conn in conns {
        let last_answer = trace
            .rpcs()
            .filter(|(l, r)| r.conn == Some(conn) && r.result.is_ok() && l.at <= FAULT_AT)
            .map(|(l, _)| l.at)
            .last()
            .expect("each connection answered before the fault");
        let by_keepalive = last_answer + DETECT;
        let by_user_timeout = trace
            .rpcs()
            .filter(|(_, r)| r.conn == Some(conn) && r.sent_at >= FAULT_AT)
            .map(|(_, r)| user_timeout_abort(r.sent_at))
            .min()
            .filter(|at| *at < by_keepalive);
        let (at, cause) = closed(trace, conn).expect("closed");
        match by_user_timeout {
            Some(expected) => {
                assert_eq!(cause, CloseCause::UserTimeout, "conn {conn}");
                assert_eq!(at, expected, "conn {conn}");
            }
            None => {
                assert_eq!(cause, CloseCause::KeepaliveTimeout, "conn {conn}");
                assert_eq!(at, by_keepalive, "conn {conn}");
            }
        }
        latest = latest.max(at);
    }
    latest
}

/// A two-way partition between the client and a set of two servers (of
/// three): both cut servers' connections die by TCP's user timeout or
/// keepalive, whichever is first, server-1 takes
/// every RPC from detection to the heal with no failure, and after the heal
/// the cut servers are connected and serving again.
#[test]
fn partition_between_host_sets_reroutes_and_heals() {
    let fault = Fault::Partition(Partition {
        a: hosts(&["client"]),
        b: hosts(&["server-2", "server-3"]),
    });
    let targets = ["server-1", "server-2", "server-3"];
    let w = world(
        3,
        &targets,
        secs(20),
        vec![at(FAULT_AT, Some(HEAL_AT - FAULT_AT), fault)],
    );
    let trace = run_ok(&w);

    let detected = assert_detected(&trace, "server-2").max(assert_detected(&trace, "server-3"));
    assert!(detected <= FAULT_AT + DETECT, "{detected:?}");
    // The detection checker sees the partition as cutting all four off.
    let found = check::detections(&trace);
    assert_eq!(found.len(), 4, "{found:?}");
    let verdict = check::check_detection(&found, DETECT + TICK);
    assert!(verdict.ok, "{}", verdict.detail);

    let between = sent_between(&trace, detected + TICK, HEAL_AT);
    // The load sends one RPC every 100 ms from 1 s.
    let scheduled = (0..200u64)
        .map(|k| ms(1_000 + 100 * k))
        .filter(|at| *at >= detected + TICK && *at < HEAL_AT)
        .count();
    assert!(
        scheduled > 20,
        "detection leaves most of the cut to server-1"
    );
    assert_eq!(between.len(), scheduled, "{}", interesting(&trace));
    for (line, rpc) in &between {
        assert_eq!(rpc.endpoint.as_deref(), Some("server-1"), "{line}");
        assert!(rpc.result.is_ok(), "{line}");
    }
    // Only RPCs sent into the cut before detection failed.
    for (line, rpc) in trace.rpcs().filter(|(_, r)| r.result.is_err()) {
        assert!(rpc.sent_at >= FAULT_AT && rpc.sent_at < detected, "{line}");
    }
    // After the heal both servers are reconnected and answer again.
    for server in ["server-2", "server-3"] {
        let served = sent_between(&trace, HEAL_AT, secs(20))
            .into_iter()
            .filter(|(_, r)| r.endpoint.as_deref() == Some(server) && r.result.is_ok())
            .count();
        assert!(served > 10, "{server} served {served} after the heal");
    }
    let late_failures = sent_between(&trace, HEAL_AT, secs(20))
        .into_iter()
        .filter(|(_, r)| r.result.is_err())
        .count();
    assert_eq!(late_failures, 0, "{}", interesting(&trace));
}

fn one_way(from: &str, to: &str) -> Trace {
    let fault = Fault::OneWayPartition(OneWayPartition {
        from: hosts(&[from]),
        to: hosts(&[to]),
    });
    let w = world(
        2,
        &["server-1", "server-2"],
        secs(20),
        vec![at(FAULT_AT, Some(HEAL_AT - FAULT_AT), fault)],
    );
    run_ok(&w)
}

/// Server-side connections to `server` opened before the fault, and
/// whether each was ever closed on the server side.
fn server_side_closes(trace: &Trace, server: &str) -> Vec<(String, Option<Duration>)> {
    let opened: Vec<String> = trace
        .lines
        .iter()
        .filter(|l| l.host == server && l.at < FAULT_AT)
        .filter_map(|l| match &l.event {
            TraceEvent::ServerConnOpen { peer } => Some(peer.clone()),
            _ => None,
        })
        .collect();
    opened
        .into_iter()
        .map(|peer| {
            let closed = trace.lines.iter().find_map(|l| match &l.event {
                TraceEvent::ServerConnClosed { peer: p } if *p == peer => Some(l.at),
                _ => None,
            });
            (peer, closed)
        })
        .collect()
}

/// Asserts the pool's two redials to `server` were pending through the cut
/// and connected on their first SYN retry after the heal (SYNs go 1 s
/// apart at first), one round trip after it.
fn assert_redialed_on_the_first_syn_after_the_heal(trace: &Trace, server: &str) {
    let ready: Vec<Duration> = lines(trace, "conn_ready")
        .into_iter()
        .filter(|l| {
            l.at > FAULT_AT
                && matches!(&l.event, TraceEvent::Pool { endpoint, .. } if endpoint == server)
        })
        .map(|l| l.at)
        .collect();
    assert_eq!(ready.len(), 2, "{}", interesting(trace));
    assert!(
        ready
            .iter()
            .all(|at| *at > HEAL_AT && *at <= HEAL_AT + secs(1) + ms(10)),
        "{ready:?}"
    );
}

/// Client → server cut: the pool's RPCs and PINGs are lost, so TCP's user
/// timeout ends both connections (or keepalive, whichever is first). Its
/// redials' SYNs are lost too: no connect is refused, each stays pending
/// in SYN retries (1 s apart) and completes on the first retry after the
/// heal, as on Linux. The server never learns that its old connections are
/// gone: nothing of the client's reaches it, and a user-timeout abort
/// sends nothing, so they stay open on the server (server-side zombies) to
/// the end of the run.
#[test]
fn one_way_client_to_server_cut() {
    let trace = one_way("client", "server-2");
    let detected = assert_detected(&trace, "server-2");
    assert!(detected < HEAL_AT);
    let refused = lines(&trace, "conn_closed")
        .into_iter()
        .filter(|l| l.to_string().contains("cause=connect_failed"))
        .count();
    assert_eq!(refused, 0, "{}", interesting(&trace));
    assert_redialed_on_the_first_syn_after_the_heal(&trace, "server-2");
    for (peer, closed) in server_side_closes(&trace, "server-2") {
        assert_eq!(closed, None, "{peer} should be a server-side zombie");
    }
}

/// Server → client cut: requests arrive but no answer or ACK comes back, so
/// TCP's user timeout (or keepalive) ends both connections. The redials'
/// SYNs reach the server but its SYN-ACKs are lost: a handshake needs both
/// directions, as on a real network, so no connection is made during the
/// cut and each redial completes on the first SYN retry after the heal.
/// The server learns its old connections are gone only after the heal,
/// when its own retransmission of the answers meets a client with no such
/// socket, which resets them.
#[test]
fn one_way_server_to_client_cut() {
    let trace = one_way("server-2", "client");
    let detected = assert_detected(&trace, "server-2");
    assert!(detected < HEAL_AT);
    assert_redialed_on_the_first_syn_after_the_heal(&trace, "server-2");
    let old = server_side_closes(&trace, "server-2");
    for (peer, closed) in &old {
        let closed = closed.unwrap_or_else(|| panic!("{peer} closed on the server"));
        assert!(closed > HEAL_AT, "{peer} at {closed:?}");
    }
}
