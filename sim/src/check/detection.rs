//! Detection: every pool connection a black hole, partition or silent crash
//! cuts off must be closed by the pool within a bound (keepalive interval +
//! timeout + one tick).

use std::{collections::BTreeMap, time::Duration};

use squall_pool::{CloseCause, ConnEvent, ConnId};

use crate::{
    check::Invariant,
    fault::{Cut, Fault},
    trace::{Trace, TraceEvent},
    world::CLIENT_HOST,
};

/// One connection cut off by a fault, and when (if ever) the pool noticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    pub conn: ConnId,
    /// The server host the connection led to.
    pub endpoint: String,
    pub fault_at: Duration,
    /// When the pool closed the connection because of the fault; `None`
    /// if it never did. A close by the pool's own shutdown is not a
    /// detection: it leaves this `None` and sets `cause` to `Shutdown`.
    pub detected_at: Option<Duration>,
    pub cause: Option<CloseCause>,
    /// The heal of the fault, when the connection outlived it: it answered
    /// an RPC after the heal without being closed, so there was nothing to
    /// detect (a real network retransmits through a short outage).
    pub survived_heal: Option<Duration>,
}

impl Detection {
    /// Time from fault to detection.
    pub fn latency(&self) -> Option<Duration> {
        self.detected_at.map(|at| at - self.fault_at)
    }
}

/// Every ready connection to a host that a fault silently cut off from the
/// client (see `cut_off_from_client`), in fault order then connection order.
pub fn detections(trace: &Trace) -> Vec<Detection> {
    // Connections that take RPCs right now, and the server each leads to.
    let mut ready: BTreeMap<ConnId, &str> = BTreeMap::new();
    // Index into `found` of each connection still waiting to be detected.
    let mut pending: BTreeMap<ConnId, usize> = BTreeMap::new();
    let mut found: Vec<Detection> = Vec::new();
    // The fault that cut each pending connection, and (once that fault
    // healed) its index in `found` and the heal's time.
    let mut faults_of: BTreeMap<ConnId, &Fault> = BTreeMap::new();
    let mut healed: BTreeMap<ConnId, (usize, Duration)> = BTreeMap::new();
    for line in &trace.lines {
        match &line.event {
            TraceEvent::Pool {
                conn,
                endpoint,
                kind,
            } => match kind {
                ConnEvent::Ready => {
                    ready.insert(*conn, endpoint);
                }
                ConnEvent::Draining { .. } => {
                    ready.remove(conn);
                }
                ConnEvent::Closed { cause } => {
                    ready.remove(conn);
                    if let Some(index) = pending.remove(conn) {
                        if *cause != CloseCause::Shutdown {
                            found[index].detected_at = Some(line.at);
                        }
                        found[index].cause = Some(cause.clone());
                    }
                }
                ConnEvent::Connecting { .. }
                | ConnEvent::Backoff { .. }
                | ConnEvent::LeaseHeld { .. } => {}
            },
            TraceEvent::FaultStart(fault) => {
                let cut = cut_off_from_client(fault);
                for (&conn, &endpoint) in ready.iter().filter(|(_, e)| cut.contains(*e)) {
                    if pending.contains_key(&conn) {
                        continue;
                    }
                    pending.insert(conn, found.len());
                    found.push(Detection {
                        conn,
                        endpoint: endpoint.to_owned(),
                        fault_at: line.at,
                        detected_at: None,
                        cause: None,
                        survived_heal: None,
                    });
                    faults_of.insert(conn, fault);
                }
            }
            TraceEvent::FaultHeal(fault) => {
                for (conn, _) in faults_of.iter().filter(|(_, f)| **f == fault) {
                    if let Some(&index) = pending.get(conn) {
                        healed.insert(*conn, (index, line.at));
                    }
                }
            }
            TraceEvent::Rpc(rpc) if rpc.result.is_ok() => {
                // An answer after the heal, on a connection still open: it
                // lived through the fault.
                if let Some(conn) = rpc.conn
                    && let Some(&(index, healed_at)) = healed.get(&conn)
                    && line.at > healed_at
                    && pending.remove(&conn).is_some()
                {
                    healed.remove(&conn);
                    found[index].survived_heal = Some(healed_at);
                }
            }
            _ => {}
        }
    }
    found
}

/// The hosts a fault silently cuts off from the client: the other end of
/// a black hole, partition or one-way partition (either direction: a lost
/// request and a lost answer look the same to keepalive) that has the
/// client on one side, and silently crashed servers. Faults that end
/// connections visibly (process crash, GOAWAY) or not at all are not
/// detections.
pub fn cut_off_from_client(fault: &Fault) -> Vec<&str> {
    match fault.cut() {
        Cut::Dropped { a, b } => other_side(a, b),
        Cut::Silent(hosts) => hosts.iter().map(String::as_str).collect(),
        Cut::None | Cut::Lossy { .. } => Vec::new(),
    }
}

/// The hosts of whichever side does not hold the client, if one does.
fn other_side<'f>(a: &'f [String], b: &'f [String]) -> Vec<&'f str> {
    let client = |side: &[String]| side.iter().any(|h| h == CLIENT_HOST);
    match (client(a), client(b)) {
        (true, false) => b.iter().map(String::as_str).collect(),
        (false, true) => a.iter().map(String::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Holds if every cut-off connection was closed within `bound` of its
/// fault, or outlived a fault that healed within `bound`.
pub fn check_detection(detections: &[Detection], bound: Duration) -> Invariant {
    let in_time = |d: &Detection| match (d.latency(), d.survived_heal) {
        (Some(latency), _) => latency <= bound,
        (None, Some(healed_at)) => healed_at - d.fault_at <= bound,
        (None, None) => false,
    };
    let late = detections.iter().find(|d| !in_time(d));
    let detail = match late {
        None => format!(
            "{} cut-off connection(s), all closed within {} ms of the fault",
            detections.len(),
            bound.as_millis()
        ),
        Some(d) => match d.latency() {
            Some(latency) => format!(
                "conn {} to {} closed {} ms after the fault at {} ms (bound {} ms)",
                d.conn,
                d.endpoint,
                latency.as_millis(),
                d.fault_at.as_millis(),
                bound.as_millis()
            ),
            None => format!(
                "conn {} to {} was never closed after the fault at {} ms",
                d.conn,
                d.endpoint,
                d.fault_at.as_millis()
            ),
        },
    };
    Invariant {
        name: "detection_within",
        ok: late.is_none(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use squall_pool::DrainCause;

    use super::*;
    use crate::{fault::BlackHole, trace::TraceLine};

    fn line(at_ms: u64, event: TraceEvent) -> TraceLine {
        TraceLine {
            at: Duration::from_millis(at_ms),
            host: "client".into(),
            event,
        }
    }

    fn pool(at_ms: u64, conn: u64, endpoint: &str, kind: ConnEvent) -> TraceLine {
        line(
            at_ms,
            TraceEvent::Pool {
                conn: ConnId(conn),
                endpoint: endpoint.into(),
                kind,
            },
        )
    }

    fn hole(at_ms: u64) -> TraceLine {
        line(
            at_ms,
            TraceEvent::FaultStart(Fault::BlackHole(BlackHole {
                a: "client".into(),
                b: "server-2".into(),
            })),
        )
    }

    fn closed(cause: CloseCause) -> ConnEvent {
        ConnEvent::Closed { cause }
    }

    #[test]
    fn only_ready_connections_to_the_cut_server_count() {
        let trace = Trace {
            lines: vec![
                pool(0, 1, "server-1", ConnEvent::Ready),
                pool(0, 2, "server-2", ConnEvent::Ready),
                pool(0, 3, "server-2", ConnEvent::Ready),
                pool(
                    1,
                    3,
                    "server-2",
                    ConnEvent::Draining {
                        cause: DrainCause::Shutdown,
                    },
                ),
                hole(1000),
                pool(3500, 2, "server-2", closed(CloseCause::KeepaliveTimeout)),
            ],
            dropped: 0,
        };
        let found = detections(&trace);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].conn, ConnId(2));
        assert_eq!(found[0].latency(), Some(Duration::from_millis(2500)));
        assert!(check_detection(&found, Duration::from_millis(2500)).ok);
        let late = check_detection(&found, Duration::from_millis(2499));
        assert!(!late.ok);
        assert!(late.detail.contains("2500 ms after"), "{}", late.detail);
    }

    #[test]
    fn a_connection_never_closed_fails_the_check() {
        let trace = Trace {
            lines: vec![pool(0, 7, "server-2", ConnEvent::Ready), hole(10)],
            dropped: 0,
        };
        let found = detections(&trace);
        assert_eq!(found[0].detected_at, None);
        let verdict = check_detection(&found, Duration::from_secs(60));
        assert!(!verdict.ok);
        assert!(
            verdict.detail.contains("never closed"),
            "{}",
            verdict.detail
        );
    }
}
