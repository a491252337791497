//! The checks a script's `[expect]` adds, plus the deadline check every run
//! gets. Each reads the finished trace; names say what they check.

use std::{collections::BTreeMap, time::Duration};

use squall_pool::{ConnEvent, ConnId};
use squall_sim::{Trace, TraceEvent, check::Invariant};

/// Holds if at most `max` RPCs failed.
pub fn failed_rpcs_at_most(trace: &Trace, max: u64) -> Invariant {
    let failed = trace.rpcs().filter(|(_, rpc)| rpc.result.is_err()).count() as u64;
    Invariant {
        name: "failed_rpcs_at_most",
        ok: failed <= max,
        detail: format!("{failed} failed RPC(s), at most {max} allowed"),
    }
}

/// Holds if the pool shut down with no task left and every connection it
/// opened reached Closed.
pub fn no_leaks(trace: &Trace) -> Invariant {
    let tasks_left = trace.lines.iter().find_map(|line| match line.event {
        TraceEvent::PoolShutdown { tasks_left } => Some(tasks_left),
        _ => None,
    });
    // Per connection: did it ever reach Closed? BTreeMap: stable order.
    let mut closed: BTreeMap<ConnId, bool> = BTreeMap::new();
    for line in &trace.lines {
        if let TraceEvent::Pool { conn, kind, .. } = &line.event {
            let reached = matches!(kind, ConnEvent::Closed { .. });
            *closed.entry(*conn).or_default() |= reached;
        }
    }
    let open: Vec<String> = closed
        .iter()
        .filter(|(_, closed)| !**closed)
        .map(|(conn, _)| conn.to_string())
        .collect();
    let (ok, detail) = match tasks_left {
        None => (false, "the pool never reported a shutdown".to_owned()),
        Some(left) if left > 0 => (
            false,
            format!("the pool's shutdown left {left} task(s) running"),
        ),
        Some(_) if !open.is_empty() => (
            false,
            format!("connection(s) {} never reached Closed", open.join(", ")),
        ),
        Some(_) => (
            true,
            format!(
                "shutdown left 0 tasks; all {} connection(s) reached Closed",
                closed.len()
            ),
        ),
    };
    Invariant {
        name: "no_leaks",
        ok,
        detail,
    }
}

/// Holds if every RPC ended (succeeded or failed) no later than its
/// deadline after it was sent: the caller never waits past a deadline.
pub fn rpcs_end_within_deadline(trace: &Trace, deadline: Duration) -> Invariant {
    let total = trace.rpcs().count();
    let late = trace
        .rpcs()
        .find(|(line, rpc)| line.at.saturating_sub(rpc.sent_at) > deadline);
    Invariant {
        name: "rpcs_end_within_deadline",
        ok: late.is_none(),
        detail: match late {
            None => format!(
                "{total} RPC(s), each ended within {} ms of being sent",
                deadline.as_millis()
            ),
            Some((line, rpc)) => format!(
                "rpc {} sent at {} ms ended at {} ms, past its {} ms deadline",
                rpc.id,
                rpc.sent_at.as_millis(),
                line.at.as_millis(),
                deadline.as_millis()
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use squall_pool::CloseCause;
    use squall_sim::{RpcOutcome, TraceLine};
    use tonic::Code;

    use super::*;

    fn line(at_ms: u64, event: TraceEvent) -> TraceLine {
        TraceLine {
            at: Duration::from_millis(at_ms),
            host: "client".into(),
            event,
        }
    }

    fn rpc(sent_ms: u64, ended_ms: u64, ok: bool) -> TraceLine {
        line(
            ended_ms,
            TraceEvent::Rpc(RpcOutcome {
                id: sent_ms,
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

    fn pool(conn: u64, kind: ConnEvent) -> TraceLine {
        line(
            0,
            TraceEvent::Pool {
                conn: ConnId(conn),
                endpoint: "server-1".into(),
                kind,
            },
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
        let deadline = rpcs_end_within_deadline(&trace, Duration::from_secs(1));
        assert!(!deadline.ok);
        assert!(deadline.detail.contains("rpc 200"), "{}", deadline.detail);
        assert!(rpcs_end_within_deadline(&trace, Duration::from_millis(1001)).ok);
    }

    #[test]
    fn no_leaks_needs_a_clean_shutdown_and_every_connection_closed() {
        let closed = ConnEvent::Closed {
            cause: CloseCause::Shutdown,
        };
        let shutdown = |left| line(9, TraceEvent::PoolShutdown { tasks_left: left });
        let mut lines = vec![pool(1, ConnEvent::Ready), pool(1, closed), shutdown(0)];
        assert!(
            no_leaks(&Trace {
                lines: lines.clone(),
                dropped: 0
            })
            .ok
        );
        lines[2] = shutdown(1);
        assert!(
            !no_leaks(&Trace {
                lines: lines.clone(),
                dropped: 0
            })
            .ok
        );
        lines[2] = shutdown(0);
        lines.push(pool(2, ConnEvent::Ready));
        let open = no_leaks(&Trace { lines, dropped: 0 });
        assert!(
            !open.ok && open.detail.contains("never reached Closed"),
            "{}",
            open.detail
        );
        assert!(
            !no_leaks(&Trace {
                lines: vec![],
                dropped: 0
            })
            .ok
        );
    }
}
