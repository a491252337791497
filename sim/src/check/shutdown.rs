//! What a run leaves behind: the pool's shutdown leaks nothing
//! (`no_leaks`, `expect.no_leaks`), and every server connection is closed
//! at the end unless a fault cut its client off (`server_conns_closed`,
//! every pool run).

use std::collections::BTreeMap;

use squall_pool::{ConnEvent, ConnId};

use crate::{
    check::{Invariant, invariant},
    fault::{Cut, Fault},
    trace::{Trace, TraceEvent},
    world::CLIENT_HOST,
};

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

/// Server connections still open at the end of the run, excluding those
/// whose client a fault cut off from the server (its FIN may be lost).
pub fn server_conns_closed(trace: &Trace) -> Invariant {
    let mut open: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut cut_servers: Vec<&str> = Vec::new();
    for line in &trace.lines {
        match &line.event {
            TraceEvent::ServerConnOpen { peer } => {
                *open.entry((&line.host, peer)).or_default() += 1;
            }
            TraceEvent::ServerConnClosed { peer } => {
                if let Some(n) = open.get_mut(&(line.host.as_str(), peer.as_str())) {
                    *n = n.saturating_sub(1);
                }
            }
            TraceEvent::HostCrash => {
                open.retain(|(host, _), _| *host != line.host);
            }
            TraceEvent::FaultStart(fault) => cut_servers.extend(cut_hosts(fault)),
            _ => {}
        }
    }
    let left: Vec<String> = open
        .iter()
        .filter(|((host, peer), n)| {
            **n > 0 && !peer.starts_with("nat-") && !cut_servers.contains(host)
        })
        .map(|((host, peer), n)| format!("{host}←{peer}×{n}"))
        .collect();
    let result = if left.is_empty() {
        Ok("every server connection closed".to_owned())
    } else {
        Err(format!("still open at the end: {}", left.join(", ")))
    };
    invariant("server_conns_closed", result)
}

/// Hosts a network fault separates from the client (either way).
fn cut_hosts(fault: &Fault) -> Vec<&str> {
    match fault.cut() {
        Cut::Dropped { a, b } | Cut::Lossy { a, b } => other_side(a, b),
        Cut::Silent(hosts) => hosts.iter().map(String::as_str).collect(),
        Cut::None => Vec::new(),
    }
}

/// The hosts of whichever side does not hold the client, if one does.
fn other_side<'f>(a: &'f [String], b: &'f [String]) -> Vec<&'f str> {
    let side = if a.iter().any(|h| h == CLIENT_HOST) {
        b
    } else if b.iter().any(|h| h == CLIENT_HOST) {
        a
    } else {
        &[]
    };
    side.iter().map(String::as_str).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use squall_pool::CloseCause;

    use super::*;
    use crate::trace::TraceLine;

    fn line(at_ms: u64, event: TraceEvent) -> TraceLine {
        TraceLine {
            at: Duration::from_millis(at_ms),
            host: "client".into(),
            event,
        }
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
