//! Lossy, slow and jittery links.
//!
//! Users rely on added link latency showing up as exactly that much more
//! RPC latency, on jitter staying within its bound, and on the pool
//! recovering from loss. Turmoil's loss is a link break that drops what is
//! in flight, and its TCP does not retransmit, so a lost segment wedges the
//! connection silently: no RST, no FIN. The pool finds wedged connections
//! by keepalive, as for a black hole.

mod common;

use std::time::Duration;

use common::*;
use squall_pool::{CloseCause, ConnEvent};
use squall_sim::{Fault, LossyLink, Trace, TraceEvent};

const FAULT_AT: Duration = Duration::from_secs(5);
const HEAL_AT: Duration = Duration::from_secs(10);

fn run_with(latency: Option<Duration>, jitter: Option<Duration>, loss_permille: u16) -> Trace {
    let fault = Fault::LossyLink(LossyLink {
        a: hosts(&["client"]),
        b: hosts(&["server-1"]),
        latency,
        jitter,
        loss_permille,
    });
    let w = world(
        1,
        &["server-1"],
        secs(20),
        vec![at(FAULT_AT, Some(HEAL_AT - FAULT_AT), fault)],
    );
    run_ok(&w)
}

/// 50 ms one-way: an RPC's round trip goes from 2 ms to exactly 100 ms,
/// and back to 2 ms after the heal. Nothing fails.
#[test]
fn link_latency_adds_exactly_two_one_way_delays() {
    let trace = run_with(Some(ms(50)), None, 0);
    let during = sent_between(&trace, FAULT_AT, HEAL_AT - ms(100));
    assert_eq!(during.len(), 49);
    for (line, rpc) in during {
        assert_eq!(latency(line, rpc), ms(100), "{line}");
    }
    for (line, rpc) in sent_between(&trace, HEAL_AT, secs(20)) {
        assert_eq!(latency(line, rpc), ms(2), "{line}");
    }
    assert_eq!(trace.rpcs().filter(|(_, r)| r.result.is_err()).count(), 0);
}

/// 50 ms plus up to 20 ms of jitter each way: every round trip during the
/// fault takes 100..=140 ms, and they vary (seeded, so the same on every
/// run). Nothing fails: turmoil's TCP reorders what jitter reorders.
#[test]
fn jitter_stays_within_its_bound() {
    let trace = run_with(Some(ms(50)), Some(ms(20)), 0);
    let during = sent_between(&trace, FAULT_AT, HEAL_AT - ms(140));
    let mut seen: Vec<Duration> = Vec::new();
    for (line, rpc) in &during {
        let l = latency(line, rpc);
        assert!(l >= ms(100) && l <= ms(140), "{line}");
        seen.push(l);
    }
    seen.sort();
    seen.dedup();
    assert!(seen.len() > 5, "latencies vary: {seen:?}");
    assert_eq!(trace.rpcs().filter(|(_, r)| r.result.is_err()).count(), 0);
    assert_eq!(trace.text(), run_with(Some(ms(50)), Some(ms(20)), 0).text());
}

/// 2 % loss: connections are wedged silently (RPCs on them fail at their
/// deadline), the pool closes each by keepalive only (never a transport
/// error or EOF: nothing tells it), reconnects, and once both are replaced
/// nothing fails any more. Observed with seed 1: 49 failed RPCs, four
/// wedged connections closed at 7902, 9202, 10903 and 12203 ms (the last two
/// were opened during the fault and wedged before the heal).
#[test]
fn loss_wedges_connections_that_keepalive_replaces() {
    let trace = run_with(None, None, 20);
    let text = interesting(&trace);
    let closes: Vec<(Duration, CloseCause)> = trace
        .lines
        .iter()
        .filter_map(|l| match &l.event {
            TraceEvent::Pool {
                kind: ConnEvent::Closed { cause },
                ..
            } if l.at < secs(20) => Some((l.at, cause.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        closes,
        [
            (ms(7_902), CloseCause::KeepaliveTimeout),
            (ms(9_202), CloseCause::KeepaliveTimeout),
            (ms(10_903), CloseCause::KeepaliveTimeout),
            (ms(12_203), CloseCause::KeepaliveTimeout),
        ],
        "{text}"
    );
    let failed: Vec<_> = trace.rpcs().filter(|(_, r)| r.result.is_err()).collect();
    assert_eq!(failed.len(), 49, "{text}");
    for (line, rpc) in failed {
        assert!(
            rpc.sent_at >= FAULT_AT && rpc.sent_at < ms(12_203),
            "{line}"
        );
    }
}
