//! `squall peers`: one script run with each client (squall's pool and
//! tonic's own clients, `ClientKind::ALL`) on the same seed, measured the
//! same way: failed RPCs, the worst time to find a connection a fault cut
//! off, the worst time from a heal to the first RPC answered by a healed
//! host, dials, and the invariants' verdicts. docs/peers.md holds its
//! table for every built-in script.
//!
//! A script is written for one client; to run it with another, only
//! `client.kind` changes, and for tonic's clients the expectations that
//! read the pool's connection events (`detection_within`, `no_leaks`,
//! `live_within`) are dropped: tonic reports no such events. Detection for
//! tonic's clients is read from the `channel_conn_open` and
//! `channel_conn_closed` lines their connector records.

use std::{collections::BTreeMap, time::Duration};

use squall_sim::{TraceEvent, check::cut_off_from_client};

use crate::{
    Report, Script,
    compare::{Measurements, measure_report},
    run_script,
    script::{ClientKind, PoolOverrides},
};

/// How a client fared on one script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRow {
    pub client: ClientKind,
    pub sent: u64,
    pub failed: u64,
    /// The longest a connection a fault cut off stayed open before the
    /// client closed it; `Undetected` if one was never closed while cut
    /// off (it outlived the fault, or the run); `None` if no fault cut off
    /// an open connection.
    pub worst_detection: Option<Found>,
    /// The longest from a heal to the first RPC a healed host answered;
    /// `Some(None)` if one never came; `None` if the script heals nothing.
    pub worst_heal_to_ok: Option<Option<Duration>>,
    pub dials: u64,
    /// Invariants that held, of those checked.
    pub held: usize,
    pub checked: usize,
    /// The names of those that failed.
    pub failing: Vec<&'static str>,
}

/// When a cut-off connection was found dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    After(Duration),
    Undetected,
}

/// `script` as it would be written for `client`: its kind changed and,
/// for tonic's clients, the expectations only the pool can meet dropped.
pub fn for_client(script: &Script, client: ClientKind) -> Script {
    let mut script = script.clone();
    script.client.kind = client;
    if client.is_tonic() {
        script.expect.detection_within = None;
        script.expect.no_leaks = false;
        script.expect.live_within = None;
        // Only what tonic-channel-keepalive reads is kept.
        script.pool = match client {
            ClientKind::TonicChannelKeepalive => PoolOverrides {
                keepalive: script.pool.keepalive,
                ..PoolOverrides::default()
            },
            _ => PoolOverrides::default(),
        };
    }
    script
}

/// Runs `script` with every client on `seed`.
pub fn peers(script: &Script, seed: u64) -> Vec<PeerRow> {
    ClientKind::ALL
        .into_iter()
        .map(|client| {
            let script = for_client(script, client);
            let report = run_script(&script, seed);
            row(client, &script, &report)
        })
        .collect()
}

fn row(client: ClientKind, script: &Script, report: &Report) -> PeerRow {
    let m: Measurements = measure_report(report, script);
    let failing: Vec<&'static str> = report
        .invariants
        .iter()
        .filter(|i| !i.ok)
        .map(|i| i.name)
        .collect();
    let worst_detection = if client.is_tonic() {
        tonic_detections(report, script)
    } else {
        report
            .detections
            .iter()
            .map(|d| match d.latency() {
                Some(after) => Found::After(after),
                None => Found::Undetected,
            })
            .collect()
    };
    let dials = if client.is_tonic() {
        report
            .trace
            .lines
            .iter()
            .filter(|l| matches!(l.event, TraceEvent::ChannelDial { .. }))
            .count() as u64
    } else {
        m.dials.values().sum()
    };
    PeerRow {
        client,
        sent: m.sent.values().sum(),
        failed: m.failed.values().sum(),
        worst_detection: worst(&worst_detection),
        worst_heal_to_ok: m
            .heal_to_first_ok
            .values()
            .copied()
            .reduce(|a, b| match (a, b) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            }),
        dials,
        held: report.invariants.len() - failing.len(),
        checked: report.invariants.len(),
        failing,
    }
}

/// The worst of `found`: any undetected, else the longest.
fn worst(found: &[Found]) -> Option<Found> {
    found.iter().copied().reduce(|a, b| match (a, b) {
        (Found::After(a), Found::After(b)) => Found::After(a.max(b)),
        _ => Found::Undetected,
    })
}

/// For each fault that cuts hosts off the client, each tonic connection
/// open to one of them when it began: found after the time to its close,
/// if that came before the heal (closes to a host are matched to its open
/// connections in order); else undetected.
fn tonic_detections(report: &Report, script: &Script) -> Vec<Found> {
    let mut found = Vec::new();
    for scheduled in &script.faults {
        let hosts = cut_off_from_client(&scheduled.fault);
        let start = scheduled.at;
        let heal = scheduled.heal_after.map(|h| start + h);
        // Connections open to each cut-off host when the fault began; then
        // each close of one of them before the heal is a detection.
        let mut open: BTreeMap<&str, usize> = BTreeMap::new();
        for line in &report.trace.lines {
            let before = line.at < start;
            let during = !before && heal.is_none_or(|h| line.at < h);
            match &line.event {
                TraceEvent::ChannelConnOpen { to } if before && hosts.contains(&to.as_str()) => {
                    *open.entry(to).or_default() += 1;
                }
                TraceEvent::ChannelConnClosed { to } if before => {
                    if let Some(n) = open.get_mut(to.as_str()) {
                        *n = n.saturating_sub(1);
                    }
                }
                TraceEvent::ChannelConnClosed { to } if during => {
                    if let Some(n) = open.get_mut(to.as_str()).filter(|n| **n > 0) {
                        *n -= 1;
                        found.push(Found::After(line.at - start));
                    }
                }
                _ => {}
            }
        }
        let undetected: usize = open.values().sum();
        found.extend(std::iter::repeat_n(Found::Undetected, undetected));
    }
    found
}

/// The rows as a Markdown table, one script's.
pub fn table(script: &str, seed: u64, rows: &[PeerRow]) -> String {
    let mut out = format!(
        "{script} (seed {seed})\n\n| client | failed RPCs | worst detection | heal → first ok | dials | invariants |\n| --- | ---: | ---: | ---: | ---: | --- |\n"
    );
    for row in rows {
        let detection = match row.worst_detection {
            None => "—".to_owned(),
            Some(Found::After(d)) => format!("{} ms", d.as_millis()),
            Some(Found::Undetected) => "never".to_owned(),
        };
        let heal = match row.worst_heal_to_ok {
            None => "—".to_owned(),
            Some(Some(d)) => format!("{} ms", d.as_millis()),
            Some(None) => "never".to_owned(),
        };
        let verdict = if row.failing.is_empty() {
            format!("{}/{} hold", row.held, row.checked)
        } else {
            format!(
                "{}/{} hold; failed: {}",
                row.held,
                row.checked,
                row.failing.join(", ")
            )
        };
        out.push_str(&format!(
            "| {} | {} of {} | {detection} | {heal} | {} | {verdict} |\n",
            row.client.name(),
            row.failed,
            row.sent,
            row.dials
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_detection_is_any_undetected_else_the_longest() {
        let ms = |n| Found::After(Duration::from_millis(n));
        assert_eq!(worst(&[]), None);
        assert_eq!(worst(&[ms(5), ms(9), ms(2)]), Some(ms(9)));
        assert_eq!(worst(&[ms(5), Found::Undetected]), Some(Found::Undetected));
    }
}
