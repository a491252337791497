//! Coverage probes: "sometimes" counters for situations worth reaching.
//! An invariant says nothing if the case never got anywhere interesting;
//! a sweep reports how many cases reached each probe, and which never did,
//! so a generator that stopped reaching a situation is noticed.

use std::collections::BTreeMap;

use squall_pool::{CloseCause, ConnEvent, breaker::State};
use squall_sim::{Expiry, Trace, TraceEvent};

/// Every probe, in report order.
pub const PROBES: [&str; 8] = [
    "goaway_during_inflight_rpc",
    "breaker_opened",
    "breaker_half_open_probe_failed",
    "zombie_detected_by_keepalive",
    "nat_silent_expiry_detected",
    "limiter_queue_full",
    "reconnect_backoff",
    "lease_leak_reported",
];

/// The probes `trace` reached.
pub fn probes_hit(trace: &Trace, max_queue_len: Option<usize>) -> Vec<&'static str> {
    let mut hit = Vec::new();
    let any = |f: &dyn Fn(&TraceEvent) -> bool| trace.lines.iter().any(|l| f(&l.event));
    if goaway_during_inflight_rpc(trace) {
        hit.push("goaway_during_inflight_rpc");
    }
    if any(&|e| {
        matches!(
            e,
            TraceEvent::Breaker {
                to: State::Open,
                ..
            }
        )
    }) {
        hit.push("breaker_opened");
    }
    if any(&|e| {
        matches!(
            e,
            TraceEvent::Breaker {
                from: State::HalfOpen,
                to: State::Open,
                ..
            }
        )
    }) {
        hit.push("breaker_half_open_probe_failed");
    }
    let keepalive_close = |e: &TraceEvent, nat: bool| {
        matches!(e, TraceEvent::Pool {
            endpoint,
            kind: ConnEvent::Closed { cause: CloseCause::KeepaliveTimeout },
            ..
        } if !nat || endpoint.starts_with("nat-"))
    };
    if any(&|e| keepalive_close(e, false)) {
        hit.push("zombie_detected_by_keepalive");
    }
    let silent_expiry = trace.lines.iter().position(|l| {
        matches!(
            l.event,
            TraceEvent::NatFlowExpired {
                mode: Expiry::Silent,
                ..
            }
        )
    });
    if silent_expiry.is_some_and(|i| {
        trace.lines[i..]
            .iter()
            .any(|l| keepalive_close(&l.event, true))
    }) {
        hit.push("nat_silent_expiry_detected");
    }
    if let Some(max) = max_queue_len.filter(|max| *max > 0)
        && any(&|e| matches!(e, TraceEvent::Limiter { queued, .. } if *queued == max))
    {
        hit.push("limiter_queue_full");
    }
    if any(&|e| {
        matches!(
            e,
            TraceEvent::Pool {
                kind: ConnEvent::Backoff { .. },
                ..
            }
        )
    }) {
        hit.push("reconnect_backoff");
    }
    if any(&|e| {
        matches!(
            e,
            TraceEvent::Pool {
                kind: ConnEvent::LeaseHeld { .. },
                ..
            }
        )
    }) {
        hit.push("lease_leak_reported");
    }
    debug_assert!(hit.iter().all(|p| PROBES.contains(p)));
    hit
}

/// A server sent GOAWAY while an RPC routed to it was in flight.
fn goaway_during_inflight_rpc(trace: &Trace) -> bool {
    // (endpoint, sent, ended) of every routed RPC.
    let rpcs: Vec<(&str, _, _)> = trace
        .rpcs()
        .filter_map(|(line, rpc)| Some((rpc.endpoint.as_deref()?, rpc.sent_at, line.at)))
        .collect();
    trace.lines.iter().any(|line| {
        matches!(line.event, TraceEvent::ServerGoaway { .. })
            && rpcs.iter().any(|(endpoint, sent, ended)| {
                *endpoint == line.host && *sent < line.at && line.at < *ended
            })
    })
}

/// Cases that reached each probe, every probe listed (0 for never).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeCounts(pub BTreeMap<&'static str, u64>);

impl ProbeCounts {
    pub fn new() -> Self {
        Self(PROBES.iter().map(|p| (*p, 0)).collect())
    }

    pub fn add(&mut self, hit: &[&'static str]) {
        for probe in hit {
            *self.0.entry(probe).or_default() += 1;
        }
    }

    /// The probes no case reached, in report order.
    pub fn never_hit(&self) -> Vec<&'static str> {
        PROBES
            .iter()
            .copied()
            .filter(|p| self.0.get(p).copied().unwrap_or(0) == 0)
            .collect()
    }
}
