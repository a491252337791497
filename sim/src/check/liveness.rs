//! Liveness (`expect.live_within`): by a bound after the last fault ends,
//! every endpoint is back at full capacity and every RPC sent from then on
//! succeeds, those the pool's own limiter turns away aside.

use std::{collections::BTreeMap, time::Duration};

use squall_pool::{ConnEvent, ConnId, PoolConfig};
use tonic::Code;

use crate::{
    check::{Invariant, invariant, keepalive::dialled_intervals},
    trace::{RpcOutcome, Trace, TraceEvent},
};

/// Full capacity and succeeding RPCs from `within` after the last fault
/// ended (`faults_end`; `None`: a fault never heals) on: at least
/// `connections_per_endpoint` ready to each of the client's `targets` (at most `max_connections_per_endpoint`, when the pool
/// may scale up), and no RPC failing but those the pool turned away under
/// overload (its limiter, or no room on any connection before the deadline).
/// The bound grows by however much "too_many_pings" lengthened keepalive.
/// `servers_cap_streams`: the servers announce a stream limit
/// (SETTINGS_MAX_CONCURRENT_STREAMS), so RPCs may wait in the pool for room.
pub fn live_after_faults(
    trace: &Trace,
    config: &PoolConfig,
    targets: &[String],
    faults_end: Option<Duration>,
    servers_cap_streams: bool,
    within: Duration,
) -> Invariant {
    let capacity = config.connections_per_endpoint;
    let most = config.max_connections_per_endpoint.unwrap_or(capacity);
    // RPCs may wait in the pool (never reaching a connection) for a
    // limiter permit, or for room on a connection when streams are capped.
    let may_wait_in_pool = config.limiter.is_some()
        || config.max_streams_per_connection.is_some()
        || servers_cap_streams;
    let name = "live_after_faults";
    let Some(ended) = faults_end else {
        return invariant(
            name,
            Err("a fault never heals, so the pool need not recover".to_owned()),
        );
    };
    // `within` is stated for the configured keepalive. A server's
    // "too_many_pings" doubles the interval of that endpoint's next
    // connections, and finding a dead one of those takes that much longer.
    let configured = config.keepalive.interval;
    let throttled = dialled_intervals(trace, configured)
        .into_values()
        .max()
        .unwrap_or(configured)
        .saturating_sub(configured);
    let by = ended + within + throttled;
    // Ready (not draining) connections per endpoint at `by`.
    let mut ready: BTreeMap<ConnId, &str> = BTreeMap::new();
    for line in trace.lines.iter().take_while(|l| l.at <= by) {
        if let TraceEvent::Pool {
            conn,
            endpoint,
            kind,
        } = &line.event
        {
            match kind {
                ConnEvent::Ready => {
                    ready.insert(*conn, endpoint);
                }
                ConnEvent::Draining { .. } | ConnEvent::Closed { .. } => {
                    ready.remove(conn);
                }
                _ => {}
            }
        }
    }
    for endpoint in targets {
        let count = ready.values().filter(|e| **e == endpoint.as_str()).count();
        if !(capacity..=most).contains(&count) {
            return invariant(
                name,
                Err(format!(
                    "{} ms ({} ms after the last fault ended at {} ms): {endpoint} has {count} ready connection(s), {capacity}..={most} configured",
                    by.as_millis(),
                    (by - ended).as_millis(),
                    ended.as_millis(),
                )),
            );
        }
    }
    // The pool turns RPCs away under overload whether or not it is
    // healthy: refused by its limiter (RESOURCE_EXHAUSTED) or out of time
    // while waiting in it (DEADLINE_EXCEEDED before reaching a connection,
    // or routed with less than a round trip left, on a connection a later
    // RPC shows alive).
    let later_ok_on_same_conn = |rpc: &RpcOutcome| {
        trace.rpcs().any(|(_, other)| {
            other.conn == rpc.conn && other.sent_at > rpc.sent_at && other.result.is_ok()
        })
    };
    let limited = |rpc: &RpcOutcome| match rpc.result {
        Err(Code::ResourceExhausted) => true,
        Err(Code::DeadlineExceeded) => {
            may_wait_in_pool && (rpc.conn.is_none() || later_ok_on_same_conn(rpc))
        }
        _ => false,
    };
    let late = trace
        .rpcs()
        .find(|(_, rpc)| rpc.sent_at >= by && rpc.result.is_err() && !limited(rpc));
    let sent_after = trace.rpcs().filter(|(_, rpc)| rpc.sent_at >= by).count();
    let result = match late {
        Some((line, rpc)) => Err(format!(
            "rpc {} sent at {} ms, after the pool should be live again ({} ms), failed at {} ms with {:?}",
            rpc.id,
            rpc.sent_at.as_millis(),
            by.as_millis(),
            line.at.as_millis(),
            rpc.result.err()
        )),
        None if sent_after == 0 => Err(format!(
            "no RPC was sent after {} ms, so liveness went unchecked",
            by.as_millis()
        )),
        None => Ok(format!(
            "full capacity ({} per endpoint) by {} ms; {sent_after} RPC(s) sent since, none failed",
            if most > capacity {
                format!("{capacity}..={most}")
            } else {
                capacity.to_string()
            },
            by.as_millis()
        )),
    };
    invariant(name, result)
}
