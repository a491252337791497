//! Keepalive detection every pool run gets (`detection_within_keepalive`):
//! every connection a fault cut off for at least keepalive's interval +
//! timeout + 1 tick is closed within that long, each held to the interval
//! it was dialled with (doubled by every "too_many_pings" before it).

use std::{collections::BTreeMap, time::Duration};

use squall_pool::{ConnEvent, ConnId, EventKind, KeepaliveConfig};

use crate::{
    check::{Invariant, check_detection, cut_off_from_client, detections},
    fault::{Cut, Fault},
    trace::{Trace, TraceEvent},
};

/// The keepalive bound for every connection cut off long enough for
/// keepalive to be sure to fire while it was.
///
/// `tick` is the world's step (a close is seen at the end of one); `slack`
/// widens the bound for a world whose clock is real (kernel mode).
pub fn detection_within_keepalive(
    trace: &Trace,
    keepalive: &KeepaliveConfig,
    tick: Duration,
    slack: Duration,
) -> Invariant {
    // Each connection's bound uses the interval it was dialled with: the
    // configured one, doubled after each "too_many_pings" from its server.
    let intervals = dialled_intervals(trace, keepalive.interval);
    let bound_of = |conn: ConnId| {
        intervals.get(&conn).copied().unwrap_or(keepalive.interval)
            + keepalive.timeout
            + tick
            + slack
    };
    let heals = fault_heals(trace);
    let relevant: Vec<_> = detections(trace)
        .into_iter()
        .filter(|d| {
            // How long the fault that cut it off held; a shorter cut may
            // heal before a PING is lost, and nothing needs detecting.
            let bound = bound_of(d.conn);
            heals
                .iter()
                .find(|(start, _)| *start == d.fault_at)
                .is_none_or(|(start, end)| end.is_none_or(|end| end - *start >= bound))
        })
        .collect();
    let late = relevant
        .iter()
        .find(|d| d.latency().is_none_or(|latency| latency > bound_of(d.conn)));
    let mut verdict = match late {
        Some(d) => check_detection(std::slice::from_ref(d), bound_of(d.conn)),
        None => Invariant {
            name: "detection_within_keepalive",
            ok: true,
            detail: format!(
                "{} cut-off connection(s), each closed within its keepalive interval + timeout \
                 + 1 tick{} ({} ms unthrottled)",
                relevant.len(),
                if slack.is_zero() {
                    String::new()
                } else {
                    format!(" + {} ms slack", slack.as_millis())
                },
                (keepalive.interval + keepalive.timeout + tick + slack).as_millis()
            ),
        },
    };
    verdict.name = "detection_within_keepalive";
    verdict
}

/// The keepalive interval each connection was dialled with: `configured`,
/// doubled by every `keepalive_throttled` line of its endpoint before its
/// `conn_connecting`.
pub(crate) fn dialled_intervals(trace: &Trace, configured: Duration) -> BTreeMap<ConnId, Duration> {
    let mut current: BTreeMap<&str, Duration> = BTreeMap::new();
    let mut dialled = BTreeMap::new();
    for line in &trace.lines {
        match &line.event {
            TraceEvent::PoolEndpoint {
                endpoint,
                kind: EventKind::KeepaliveThrottled { interval, .. },
            } => {
                current.insert(endpoint, *interval);
            }
            TraceEvent::Pool {
                conn,
                endpoint,
                kind: ConnEvent::Connecting { .. },
            } => {
                let interval = current
                    .get(endpoint.as_str())
                    .copied()
                    .unwrap_or(configured);
                dialled.insert(*conn, interval);
            }
            _ => {}
        }
    }
    dialled
}

/// (start, heal) of every fault in the trace, in order; heal `None` if it
/// never healed. Matched by equal fault values, first come first served.
/// Healing one cut of a client link (black hole, partition) heals every
/// cut of that link still open: turmoil's `repair` clears the link
/// whatever cut it, so overlapping cuts end together.
fn fault_heals(trace: &Trace) -> Vec<(Duration, Option<Duration>)> {
    fn links(fault: &Fault) -> Vec<&str> {
        match fault.cut() {
            Cut::Dropped { .. } => cut_off_from_client(fault),
            _ => Vec::new(),
        }
    }
    let mut spans: Vec<(Duration, Option<Duration>, &Fault)> = Vec::new();
    for line in &trace.lines {
        match &line.event {
            TraceEvent::FaultStart(fault) => spans.push((line.at, None, fault)),
            TraceEvent::FaultHeal(fault) => {
                if let Some(span) = spans
                    .iter_mut()
                    .find(|(_, end, f)| end.is_none() && *f == fault)
                {
                    span.1 = Some(line.at);
                }
                let healed = links(fault);
                for span in spans.iter_mut().filter(|(_, end, _)| end.is_none()) {
                    if links(span.2).iter().any(|host| healed.contains(host)) {
                        span.1 = Some(line.at);
                    }
                }
            }
            _ => {}
        }
    }
    spans.into_iter().map(|(s, e, _)| (s, e)).collect()
}
