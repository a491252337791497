//! Routing: the pool never sends an RPC on a connection it already knows is
//! dead (or draining).

use std::collections::BTreeMap;

use squall_pool::{ConnEvent, ConnId};

use crate::{
    check::Invariant,
    trace::{Trace, TraceEvent},
};

/// Holds if no RPC was sent after its connection left `Ready`.
///
/// Uses line order, not time: an RPC records how many lines existed when it
/// was sent, so an RPC and a close in the same millisecond are ordered
/// exactly.
pub fn check_no_rpc_on_dead_conn(trace: &Trace) -> Invariant {
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
    let routed = trace.rpcs().filter(|(_, rpc)| rpc.conn.is_some()).count();
    let violation = trace.rpcs().find(|(_, rpc)| {
        rpc.conn
            .and_then(|conn| left_ready.get(&conn))
            .is_some_and(|&left| left < rpc.sent_seq)
    });
    Invariant {
        name: "no_rpc_on_dead_conn",
        ok: violation.is_none(),
        detail: match violation {
            None => format!(
                "{routed} routed RPC(s), none sent on a connection already closed or draining"
            ),
            Some((line, rpc)) => format!(
                "rpc {} was sent at {} ms on conn {:?}, which had already left Ready (line: {line})",
                rpc.id,
                rpc.sent_at.as_millis(),
                rpc.conn
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use squall_pool::{CloseCause, ConnEvent, ConnId};

    use super::*;
    use crate::trace::{RpcOutcome, TraceLine};

    fn pool(at_ms: u64, conn: u64, kind: ConnEvent) -> TraceLine {
        TraceLine {
            at: Duration::from_millis(at_ms),
            host: "client".into(),
            event: TraceEvent::Pool {
                conn: ConnId(conn),
                endpoint: "server-1".into(),
                kind,
            },
        }
    }

    fn rpc(at_ms: u64, conn: u64, sent_seq: usize) -> TraceLine {
        TraceLine {
            at: Duration::from_millis(at_ms),
            host: "client".into(),
            event: TraceEvent::Rpc(RpcOutcome {
                id: 1,
                call: crate::Call::Echo.into(),
                deadline: Duration::from_secs(1),
                conn: Some(ConnId(conn)),
                endpoint: Some("server-1".into()),
                sent_at: Duration::from_millis(at_ms),
                sent_seq,
                result: Ok(()),
            }),
        }
    }

    #[test]
    fn an_rpc_sent_before_the_close_is_fine_one_sent_after_is_not() {
        let closed = ConnEvent::Closed {
            cause: CloseCause::KeepaliveTimeout,
        };
        let before = Trace {
            lines: vec![
                pool(0, 1, ConnEvent::Ready),
                pool(5, 1, closed.clone()),
                rpc(5, 1, 1),
            ],
            dropped: 0,
        };
        assert!(check_no_rpc_on_dead_conn(&before).ok);

        let after = Trace {
            lines: vec![
                pool(0, 1, ConnEvent::Ready),
                pool(5, 1, closed),
                rpc(5, 1, 2),
            ],
            dropped: 0,
        };
        let verdict = check_no_rpc_on_dead_conn(&after);
        assert!(!verdict.ok, "{}", verdict.detail);
        assert!(verdict.detail.contains("rpc 1"), "{}", verdict.detail);
    }
}
