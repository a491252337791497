//! RPC outcomes: how many failed (`expect.max_failed_rpcs`), and that each
//! ended within its deadline (every run).

use std::time::Duration;

use crate::{check::Invariant, trace::Trace};

/// Holds if at most `max` RPCs failed.
pub fn failed_rpcs_at_most(trace: &Trace, max: u64) -> Invariant {
    let failed = trace.rpcs().filter(|(_, rpc)| rpc.result.is_err()).count() as u64;
    Invariant {
        name: "failed_rpcs_at_most",
        ok: failed <= max,
        detail: format!("{failed} failed RPC(s), at most {max} allowed"),
    }
}

/// Holds if every RPC ended (succeeded or failed) no later than its own
/// deadline after it was sent, plus `slack` (zero in the simulation; in
/// kernel mode real timers fire a little late): the caller never waits
/// past a deadline.
pub fn rpcs_end_within_deadline(trace: &Trace, slack: Duration) -> Invariant {
    let total = trace.rpcs().count();
    let late = trace
        .rpcs()
        .find(|(line, rpc)| line.at.saturating_sub(rpc.sent_at) > rpc.deadline + slack);
    let longest = trace.rpcs().map(|(_, rpc)| rpc.deadline).max();
    let shortest = trace.rpcs().map(|(_, rpc)| rpc.deadline).min();
    Invariant {
        name: "rpcs_end_within_deadline",
        ok: late.is_none(),
        detail: match (late, shortest, longest) {
            (Some((line, rpc)), _, _) => format!(
                "rpc {} sent at {} ms ended at {} ms, past its {} ms deadline",
                rpc.id,
                rpc.sent_at.as_millis(),
                line.at.as_millis(),
                rpc.deadline.as_millis()
            ),
            (None, Some(shortest), Some(longest)) if shortest != longest => format!(
                "{total} RPC(s), each ended within its deadline ({} to {} ms) of being sent",
                shortest.as_millis(),
                longest.as_millis()
            ),
            (None, _, Some(deadline)) => format!(
                "{total} RPC(s), each ended within {} ms of being sent",
                deadline.as_millis()
            ),
            (None, _, None) => "no RPC was sent".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;
    use crate::trace::{RpcOutcome, TraceEvent, TraceLine};

    fn line(at_ms: u64, event: TraceEvent) -> TraceLine {
        TraceLine {
            at: Duration::from_millis(at_ms),
            host: "client".into(),
            event,
        }
    }

    fn rpc(sent_ms: u64, ended_ms: u64, ok: bool) -> TraceLine {
        rpc_with_deadline(sent_ms, ended_ms, ok, Duration::from_secs(1))
    }

    fn rpc_with_deadline(sent_ms: u64, ended_ms: u64, ok: bool, deadline: Duration) -> TraceLine {
        line(
            ended_ms,
            TraceEvent::Rpc(RpcOutcome {
                id: sent_ms,
                call: crate::load::Call::Echo.into(),
                deadline,
                conn: None,
                endpoint: None,
                sent_at: Duration::from_millis(sent_ms),
                sent_seq: 0,
                result: if ok {
                    Ok(())
                } else {
                    Err(Code::DeadlineExceeded)
                },
            }),
        )
    }

    #[test]
    fn failed_and_deadline_checks_count_from_the_trace() {
        let trace = Trace {
            lines: vec![
                rpc(0, 2, true),
                rpc(100, 1100, false),
                rpc(200, 1201, false),
            ],
            dropped: 0,
        };
        assert!(failed_rpcs_at_most(&trace, 2).ok);
        assert!(!failed_rpcs_at_most(&trace, 1).ok);
        let deadline = rpcs_end_within_deadline(&trace, Duration::ZERO);
        assert!(!deadline.ok);
        assert!(deadline.detail.contains("rpc 200"), "{}", deadline.detail);
        // Each RPC is held to its own deadline: the one that took 1001 ms
        // had a longer one.
        let mut lines = trace.lines;
        lines[2] = rpc_with_deadline(200, 1201, false, Duration::from_millis(1001));
        let mixed = rpcs_end_within_deadline(&Trace { lines, dropped: 0 }, Duration::ZERO);
        assert!(mixed.ok, "{}", mixed.detail);
        assert!(mixed.detail.contains("1000 to 1001 ms"), "{}", mixed.detail);
    }
}
