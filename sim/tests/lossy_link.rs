//! Lossy, slow and jittery links.
//!
//! Users rely on added link latency showing up as exactly that much more
//! RPC latency, on jitter staying within its bound, and on the pool
//! losing nothing to mild loss: squall's turmoil fork loses single
//! messages and its TCP retransmits them, as Linux does, so loss costs
//! latency, not connections.

mod common;

use std::time::Duration;

use common::*;
use squall_pool::ConnEvent;
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

/// 2 % loss: each message on the link is lost with that probability (one
/// draw each from the seeded RNG), and TCP repairs every loss, as on
/// Linux: no connection ends before the run's shutdown and no RPC fails,
/// but an RPC whose segment was lost waits for its tail loss probe or RTO
/// (~200 ms at least) and takes that much longer. Kernel mode agrees:
/// 0 failed (docs/fidelity.md).
#[test]
fn loss_is_repaired_by_retransmission() {
    let trace = run_with(None, None, 20);
    let text = interesting(&trace);
    let closes_before_shutdown = trace
        .lines
        .iter()
        .filter(|l| {
            l.at < secs(20)
                && matches!(
                    &l.event,
                    TraceEvent::Pool {
                        kind: ConnEvent::Closed { .. },
                        ..
                    }
                )
        })
        .count();
    assert_eq!(closes_before_shutdown, 0, "{text}");
    assert_eq!(
        trace.rpcs().filter(|(_, r)| r.result.is_err()).count(),
        0,
        "{text}"
    );
    let during = sent_between(&trace, FAULT_AT, HEAL_AT);
    let repaired = during
        .iter()
        .filter(|(line, rpc)| latency(line, rpc) >= ms(200))
        .count();
    assert!(repaired > 0, "some segment was lost and resent\n{text}");
    assert!(
        repaired < during.len() / 2,
        "{repaired} of {}",
        during.len()
    );
    // After the heal every RPC takes the clean round trip again.
    for (line, rpc) in sent_between(&trace, HEAL_AT + secs(1), secs(20)) {
        assert_eq!(latency(line, rpc), ms(2), "{line}");
    }
}
