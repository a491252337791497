//! When a failed invariant was broken, so the timeline can mark it.
//!
//! An [`Invariant`] carries a verdict and a sentence, not a time. Each
//! known check's first violation is found again here from the report, the
//! same way the check finds it; a check this file does not know gets no
//! mark (the page still lists it).

use std::{collections::BTreeMap, time::Duration};

use squall_pool::{ConnEvent, ConnId};
use squall_sim::{TraceEvent, check::Invariant};

use crate::Report;

/// When `invariant` (a failed one) was first broken, if that is known.
pub fn broken_at(report: &Report, invariant: &Invariant, end: Duration) -> Option<Duration> {
    let trace = &report.trace;
    match invariant.name {
        // The run did not finish: it was cut off at its last line.
        "run_completed" => Some(end),
        // Broken when the first late connection's bound ran out.
        "detection_within" => {
            let bound = report.expect.detection_within?;
            report
                .detections
                .iter()
                .find(|d| d.latency().is_none_or(|l| l > bound))
                .map(|d| d.fault_at + bound)
        }
        // Broken by the first failure past the allowance.
        "failed_rpcs_at_most" => {
            let max = usize::try_from(report.expect.max_failed_rpcs?).ok()?;
            trace
                .rpcs()
                .filter(|(_, rpc)| rpc.result.is_err())
                .nth(max)
                .map(|(line, _)| line.at)
        }
        // Judged at shutdown (or at the end, if the pool never shut down).
        "no_leaks" => Some(
            trace
                .lines
                .iter()
                .find(|l| matches!(l.event, TraceEvent::PoolShutdown { .. }))
                .map_or(end, |l| l.at),
        ),
        "no_rpc_on_dead_conn" => {
            let mut left_ready: BTreeMap<ConnId, usize> = BTreeMap::new();
            for (index, line) in trace.lines.iter().enumerate() {
                if let TraceEvent::Pool {
                    conn,
                    kind: ConnEvent::Draining { .. } | ConnEvent::Closed { .. },
                    ..
                } = &line.event
                {
                    left_ready.entry(*conn).or_insert(index);
                }
            }
            trace
                .rpcs()
                .find(|(_, rpc)| {
                    rpc.conn
                        .and_then(|c| left_ready.get(&c))
                        .is_some_and(|&left| left < rpc.sent_seq)
                })
                .map(|(_, rpc)| rpc.sent_at)
        }
        // The report does not keep the script's deadline; the check's
        // sentence names the late RPC's end ("... ended at N ms, ...").
        "rpcs_end_within_deadline" => ms_after(&invariant.detail, "ended at "),
        _ => None,
    }
}

/// The number of milliseconds written right after `prefix` ("N ms").
fn ms_after(text: &str, prefix: &str) -> Option<Duration> {
    let rest = &text[text.find(prefix)? + prefix.len()..];
    let digits: &str = &rest[..rest.find(|c: char| !c.is_ascii_digit())?];
    rest[digits.len()..]
        .starts_with(" ms")
        .then(|| digits.parse().ok().map(Duration::from_millis))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_milliseconds_after_a_prefix() {
        let detail = "rpc 7 sent at 1000 ms ended at 2500 ms, past its 1000 ms deadline";
        assert_eq!(
            ms_after(detail, "ended at "),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(ms_after(detail, "missing "), None);
        assert_eq!(ms_after("ended at soon", "ended at "), None);
        assert_eq!(ms_after("ended at 12s", "ended at "), None);
    }
}
