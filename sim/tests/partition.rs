//! Partitions between host sets, two-way and one-way.
//!
//! Users rely on the pool noticing a partitioned server by keepalive (the
//! cut sends no RST or FIN), routing every RPC to the servers it can still
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
/// keepalive exactly `DETECT` after the last answer it carried, and returns
/// the latest such close.
fn assert_detected_by_keepalive(trace: &Trace, server: &str) -> Duration {
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
        let (at, cause) = closed(trace, conn).expect("closed");
        assert_eq!(cause, CloseCause::KeepaliveTimeout, "conn {conn}");
        assert_eq!(at, last_answer + DETECT, "conn {conn}");
        latest = latest.max(at);
    }
    latest
}

/// A two-way partition between the client and a set of two servers (of
/// three): both cut servers' connections die by keepalive, server-1 takes
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

    let detected = assert_detected_by_keepalive(&trace, "server-2")
        .max(assert_detected_by_keepalive(&trace, "server-3"));
    assert!(detected <= FAULT_AT + DETECT, "{detected:?}");
    // The detection checker sees the partition as cutting all four off.
    let found = check::detections(&trace);
    assert_eq!(found.len(), 4, "{found:?}");
    let verdict = check::check_detection(&found, DETECT + TICK);
    assert!(verdict.ok, "{}", verdict.detail);

    let between = sent_between(&trace, detected + TICK, HEAL_AT);
    assert_eq!(between.len(), 21, "{}", interesting(&trace));
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

/// Client → server cut: the pool detects by keepalive (its PINGs are lost),
/// reconnects are refused during the cut, and the server never learns that
/// its old connections are gone: the client's FIN is lost too, so they stay
/// open on the server (server-side zombies) to the end of the run.
#[test]
fn one_way_client_to_server_cut() {
    let trace = one_way("client", "server-2");
    let detected = assert_detected_by_keepalive(&trace, "server-2");
    let refused = lines(&trace, "conn_closed")
        .into_iter()
        .filter(|l| l.at > FAULT_AT && l.at < HEAL_AT)
        .filter(|l| {
            l.to_string()
                .contains("cause=connect_failed error=ConnectionRefused")
        })
        .count();
    assert_eq!(refused, 4, "{}", interesting(&trace));
    for (peer, closed) in server_side_closes(&trace, "server-2") {
        assert_eq!(closed, None, "{peer} should be a server-side zombie");
    }
    assert!(detected < HEAL_AT);
}

/// Server → client cut: the pool detects by keepalive (the PING acks are
/// lost), and the server sees its old connections close 1 ms later (the
/// client's FIN crosses). Reconnects *succeed* (turmoil's SYN-ACK is not a
/// packet), but each new connection never hears from the server and is
/// closed by keepalive 3 s after it became ready, even after the heal: the
/// server's SETTINGS were lost and turmoil does not retransmit.
#[test]
fn one_way_server_to_client_cut_flaps() {
    let trace = one_way("server-2", "client");
    let detected = assert_detected_by_keepalive(&trace, "server-2");
    for (peer, closed) in server_side_closes(&trace, "server-2") {
        let closed = closed.unwrap_or_else(|| panic!("{peer} closed on the server"));
        assert!(closed <= detected + TICK, "{peer} at {closed:?}");
    }
    let mut flapped = 0;
    for line in lines(&trace, "conn_ready") {
        let TraceEvent::Pool { conn, endpoint, .. } = &line.event else {
            unreachable!()
        };
        if endpoint != "server-2" || line.at <= FAULT_AT || line.at >= HEAL_AT {
            continue;
        }
        let (at, cause) = closed(&trace, *conn).expect("closed");
        assert_eq!(cause, CloseCause::KeepaliveTimeout, "{line}");
        assert_eq!(at, line.at + DETECT, "{line}");
        flapped += 1;
    }
    assert_eq!(flapped, 2, "{}", interesting(&trace));
    // Those connections did take RPCs, which failed.
    let failed_on_new = trace
        .rpcs()
        .filter(|(_, r)| r.result.is_err() && r.sent_at > detected)
        .count();
    assert!(failed_on_new > 0, "{}", interesting(&trace));
}
