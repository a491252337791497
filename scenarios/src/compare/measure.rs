//! What `squall compare` measures in one run, read from its trace: how each
//! connection a fault cut off ended, failed RPCs by code and phase, dials
//! and backoffs per endpoint, the time from each heal to the first answer
//! from a healed host, and RPC latency per phase. Pure: a trace and the
//! script's faults in, numbers out, so both worlds are measured by the
//! same code.

use std::{collections::BTreeMap, time::Duration};

use squall_pool::{CloseCause, ConnEvent};
use squall_sim::{
    Ending, Fault, FaultClass, ScheduledFault, Trace, TraceEvent,
    check::{Detection, cut_off_from_client},
};

/// When, relative to the faults, an RPC was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Before the first fault.
    Before,
    /// While at least one fault is active (from its start to its heal).
    During,
    /// After every fault has healed (or, for a fault that never heals,
    /// never).
    After,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Before => "before",
            Phase::During => "during",
            Phase::After => "after",
        }
    }
}

/// How a connection that a fault cut off ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CutEnd {
    /// Closed this long after the fault, for this cause.
    Closed { after: Duration, cause: String },
    /// Outlived the fault: it answered after the heal.
    Survived,
    /// Still open when the pool shut down.
    Open,
}

/// The numbers of one run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Measurements {
    /// By `"fault N <kind> <endpoint> #k"` (the k-th connection to that
    /// endpoint the fault cut off, in connection order).
    pub cuts: BTreeMap<String, CutEnd>,
    /// Failed RPCs by phase and gRPC code name.
    pub failed: BTreeMap<(Phase, String), u64>,
    /// RPCs sent, by phase.
    pub sent: BTreeMap<Phase, u64>,
    /// Dial attempts by endpoint.
    pub dials: BTreeMap<String, u64>,
    /// Backoff sleeps by endpoint.
    pub backoffs: BTreeMap<String, u64>,
    /// By `"fault N <kind>"`: from its heal to the first successful RPC
    /// answered by a host it had cut off (any host, when it cut off none);
    /// `None` when no such RPC came.
    pub heal_to_first_ok: BTreeMap<String, Option<Duration>>,
    /// Successful RPCs' latency by phase: (p50, p99).
    pub latency: BTreeMap<Phase, (Duration, Duration)>,
}

/// Where each fault is active: `[start, heal)` per scheduled fault.
fn windows(faults: &[ScheduledFault]) -> Vec<(Duration, Option<Duration>)> {
    faults
        .iter()
        .map(|f| (f.at, f.heal_after.map(|h| f.at + h)))
        .collect()
}

fn phase_at(at: Duration, windows: &[(Duration, Option<Duration>)]) -> Phase {
    let first = windows.iter().map(|(start, _)| *start).min();
    match first {
        None => Phase::Before,
        Some(first) if at < first => Phase::Before,
        Some(_) => {
            let active = windows
                .iter()
                .any(|(start, heal)| at >= *start && heal.is_none_or(|h| at < h));
            let all_healed = windows
                .iter()
                .all(|(_, heal)| heal.is_some_and(|h| at >= h));
            if active || !all_healed {
                Phase::During
            } else {
                Phase::After
            }
        }
    }
}

/// A short name of a close cause for the table: the variant, without the
/// error text (its wording differs between worlds).
pub fn cause_name(cause: &CloseCause) -> String {
    match cause {
        CloseCause::ConnectFailed(_) => "connect_failed".into(),
        CloseCause::KeepaliveTimeout => "keepalive_timeout".into(),
        CloseCause::UserTimeout => "user_timeout".into(),
        CloseCause::PeerClosed => "peer_closed".into(),
        CloseCause::PeerGoaway(code) => format!("peer_goaway({code})"),
        CloseCause::Transport { .. } => "transport".into(),
        CloseCause::NotHttp2 { .. } => "not_http2".into(),
        CloseCause::Shutdown => "shutdown".into(),
        CloseCause::Retired(reason) => reason.to_string(),
    }
}

/// The label of a fault in row names: `fault 1 black_hole`.
fn fault_label(index: usize, fault: &Fault) -> String {
    format!("fault {} {}", index + 1, fault.name())
}

/// Measures one run. `detections` are the report's (`check::detections`).
pub fn measure(trace: &Trace, faults: &[ScheduledFault], detections: &[Detection]) -> Measurements {
    let windows = windows(faults);
    let mut m = Measurements::default();
    cuts(&mut m, faults, detections);
    let mut latencies: BTreeMap<Phase, Vec<Duration>> = BTreeMap::new();
    for (line, rpc) in trace.rpcs() {
        let phase = phase_at(rpc.sent_at, &windows);
        *m.sent.entry(phase).or_default() += 1;
        match rpc.result {
            Ok(()) => latencies
                .entry(phase)
                .or_default()
                .push(line.at.saturating_sub(rpc.sent_at)),
            Err(code) => {
                *m.failed.entry((phase, format!("{code:?}"))).or_default() += 1;
            }
        }
    }
    for (phase, mut values) in latencies {
        values.sort();
        m.latency
            .insert(phase, (quantile(&values, 50), quantile(&values, 99)));
    }
    for line in &trace.lines {
        if let TraceEvent::Pool { endpoint, kind, .. } = &line.event {
            match kind {
                ConnEvent::Connecting { .. } => *m.dials.entry(endpoint.clone()).or_default() += 1,
                ConnEvent::Backoff { .. } => *m.backoffs.entry(endpoint.clone()).or_default() += 1,
                _ => {}
            }
        }
    }
    heals(&mut m, trace, faults);
    m
}

fn cuts(m: &mut Measurements, faults: &[ScheduledFault], detections: &[Detection]) {
    let mut ordinal: BTreeMap<String, usize> = BTreeMap::new();
    for d in detections {
        // The fault whose start is this detection's: the first scheduled
        // at that time that cuts the endpoint off.
        let index = faults
            .iter()
            .position(|f| {
                cut_off_from_client(&f.fault).contains(&d.endpoint.as_str()) && f.at <= d.fault_at
            })
            .unwrap_or(0);
        let label = faults
            .get(index)
            .map_or_else(|| "fault ?".to_owned(), |f| fault_label(index, &f.fault));
        let key = format!("{label} {}", d.endpoint);
        let n = ordinal.entry(key.clone()).or_default();
        *n += 1;
        let end = match (d.latency(), d.survived_heal, &d.cause) {
            (Some(after), _, Some(cause)) => CutEnd::Closed {
                after,
                cause: cause_name(cause),
            },
            (None, Some(_), _) => CutEnd::Survived,
            _ => CutEnd::Open,
        };
        m.cuts.insert(format!("{key} #{n}"), end);
    }
}

fn heals(m: &mut Measurements, trace: &Trace, faults: &[ScheduledFault]) {
    for (index, scheduled) in faults.iter().enumerate() {
        let Some(heal_after) = scheduled.heal_after else {
            continue;
        };
        // One-shot faults (a graceful restart) have no heal to measure.
        if matches!(scheduled.fault.ending(), Ending::Restarted(_)) {
            continue;
        }
        let healed_at = scheduled.at + heal_after;
        let hosts: Vec<&str> = match scheduled.fault.class() {
            FaultClass::Network => cut_off_from_client(&scheduled.fault),
            FaultClass::Crash | FaultClass::Software => scheduled.fault.hosts(),
        };
        let first_ok = trace
            .rpcs()
            .filter(|(line, rpc)| rpc.result.is_ok() && line.at >= healed_at)
            .find(|(_, rpc)| {
                hosts.is_empty() || rpc.endpoint.as_deref().is_some_and(|e| hosts.contains(&e))
            })
            .map(|(line, _)| line.at - healed_at);
        m.heal_to_first_ok
            .insert(fault_label(index, &scheduled.fault), first_ok);
    }
}

/// The `pct`-th percentile of sorted `values` (nearest rank).
fn quantile(values: &[Duration], pct: usize) -> Duration {
    debug_assert!(values.is_sorted());
    if values.is_empty() {
        return Duration::ZERO;
    }
    let rank = (pct * values.len()).div_ceil(100).max(1);
    values[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn phases_follow_fault_windows() {
        let w = vec![(ms(5000), Some(ms(6000))), (ms(8000), None)];
        assert_eq!(phase_at(ms(4999), &w), Phase::Before);
        assert_eq!(phase_at(ms(5000), &w), Phase::During);
        // Between the two faults: the second has not healed, so not after.
        assert_eq!(phase_at(ms(7000), &w), Phase::During);
        assert_eq!(phase_at(ms(9000), &w), Phase::During);
        let healed = vec![(ms(5000), Some(ms(6000)))];
        assert_eq!(phase_at(ms(6000), &healed), Phase::After);
        assert_eq!(phase_at(ms(1), &[]), Phase::Before);
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(ms).collect();
        assert_eq!(quantile(&v, 50), ms(50));
        assert_eq!(quantile(&v, 99), ms(99));
        assert_eq!(quantile(&[ms(7)], 99), ms(7));
        assert_eq!(quantile(&[], 50), Duration::ZERO);
    }
}
