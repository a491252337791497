//! The checks a script's `[expect]` adds, plus the deadline check every run
//! gets. Each reads the finished trace; names say what they check.

use std::{collections::BTreeMap, time::Duration};

use squall_pool::{ConnEvent, ConnId, breaker::State};
use squall_sim::{Fault, ScheduledFault, Trace, TraceEvent, check::Invariant};

/// Holds if, for every server a failing-server fault hits, the client's
/// breaker for it opens within `opens_within` of the fault's start and
/// (for a healed fault) is closed again within `closes_within` of the heal.
/// Closing goes through HALF_OPEN; `breaker_transitions_legal` checks that.
pub fn breaker_follows_failing_server(
    trace: &Trace,
    faults: &[ScheduledFault],
    opens_within: Option<Duration>,
    closes_within: Option<Duration>,
) -> Invariant {
    let name = "breaker_follows_failing_server";
    let first = |host: &str, state: State, from: Duration| {
        trace.lines.iter().find_map(|line| match &line.event {
            TraceEvent::Breaker { endpoint, to, .. }
                if endpoint == host && *to == state && line.at >= from =>
            {
                Some(line.at)
            }
            _ => None,
        })
    };
    let ms = |d: Duration| d.as_millis();
    let mut seen = Vec::new();
    for scheduled in faults {
        let Fault::FailingServer(failing) = &scheduled.fault else {
            continue;
        };
        for host in &failing.hosts {
            let start = scheduled.at;
            if let Some(bound) = opens_within {
                match first(host, State::Open, start) {
                    Some(at) if at <= start + bound => {
                        seen.push(format!("{host} open at {} ms", ms(at)));
                    }
                    found => {
                        return Invariant {
                            name,
                            ok: false,
                            detail: format!(
                                "{host} failing from {} ms: breaker open by {} ms expected, {}",
                                ms(start),
                                ms(start + bound),
                                found.map_or("never opened".to_owned(), |at| format!(
                                    "opened at {} ms",
                                    ms(at)
                                ))
                            ),
                        };
                    }
                }
            }
            let (Some(bound), Some(heal_after)) = (closes_within, scheduled.heal_after) else {
                continue;
            };
            let healed = start + heal_after;
            match first(host, State::Closed, healed) {
                Some(at) if at <= healed + bound => {
                    seen.push(format!("{host} closed at {} ms", ms(at)));
                }
                found => {
                    return Invariant {
                        name,
                        ok: false,
                        detail: format!(
                            "{host} healed at {} ms: breaker closed by {} ms expected, {}",
                            ms(healed),
                            ms(healed + bound),
                            found.map_or("never closed".to_owned(), |at| format!(
                                "closed at {} ms",
                                ms(at)
                            ))
                        ),
                    };
                }
            }
        }
    }
    Invariant {
        name,
        ok: !seen.is_empty(),
        detail: if seen.is_empty() {
            "no failing-server fault to follow".to_owned()
        } else {
            seen.join(", ")
        },
    }
}

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
    let left = trace.lines.iter().find_map(|line| match line.event {
        TraceEvent::PoolShutdown {
            tasks_left,
            leases_left,
            in_flight_left,
        } => Some((tasks_left, leases_left, in_flight_left)),
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
    let (ok, detail) = match left {
        None => (false, "the pool never reported a shutdown".to_owned()),
        Some((tasks, _, _)) if tasks > 0 => (
            false,
            format!("the pool's shutdown left {tasks} task(s) running"),
        ),
        Some((_, leases, _)) if leases > 0 => (
            false,
            format!("the pool's shutdown found {leases} lease(s) never given back"),
        ),
        Some((_, _, in_flight)) if in_flight > 0 => (
            false,
            format!("{in_flight} RPC(s) still counted in flight after shutdown"),
        ),
        Some(_) if !open.is_empty() => (
            false,
            format!("connection(s) {} never reached Closed", open.join(", ")),
        ),
        Some(_) => (
            true,
            format!(
                "shutdown left 0 tasks, 0 leases, 0 RPCs in flight; all {} connection(s) reached Closed",
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
    use std::time::Duration;

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
        rpc_with_deadline(sent_ms, ended_ms, ok, Duration::from_secs(1))
    }

    fn rpc_with_deadline(sent_ms: u64, ended_ms: u64, ok: bool, deadline: Duration) -> TraceLine {
        line(
            ended_ms,
            TraceEvent::Rpc(RpcOutcome {
                id: sent_ms,
                call: squall_sim::Call::Echo,
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

    #[test]
    fn no_leaks_needs_a_clean_shutdown_and_every_connection_closed() {
        let closed = ConnEvent::Closed {
            cause: CloseCause::Shutdown,
        };
        let shutdown = |tasks_left, leases_left, in_flight_left| {
            line(
                9,
                TraceEvent::PoolShutdown {
                    tasks_left,
                    leases_left,
                    in_flight_left,
                },
            )
        };
        let mut lines = vec![
            pool(1, ConnEvent::Ready),
            pool(1, closed),
            shutdown(0, 0, 0),
        ];
        assert!(
            no_leaks(&Trace {
                lines: lines.clone(),
                dropped: 0
            })
            .ok
        );
        for leaked in [shutdown(1, 0, 0), shutdown(0, 1, 0), shutdown(0, 0, 1)] {
            lines[2] = leaked;
            assert!(
                !no_leaks(&Trace {
                    lines: lines.clone(),
                    dropped: 0
                })
                .ok
            );
        }
        lines[2] = shutdown(0, 0, 0);
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
