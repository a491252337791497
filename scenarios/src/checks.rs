//! Invariants every run of a pool client gets, whatever its script says,
//! and the liveness check `expect.live_within` asks for. They were written
//! for the property suites (random scripts have no hand-written
//! expectations), and hold for every built-in script too. Each reads the
//! finished trace.
//!
//! - `connections_within_max`: an endpoint never has more connections
//!   connecting or ready than its maximum (`connections_per_endpoint`, or
//!   `max_connections_per_endpoint` when it scales; twice that with
//!   max-age rotation, whose replacements dial before the old connection
//!   drains). Draining ones are on their way out and do not count.
//! - `backoff_within_schedule`: every reconnect delay lies within the
//!   schedule's bounds, `initial × (1 − jitter)` to `max × (1 + jitter)`.
//! - `detection_within_keepalive`: every connection a fault cut off for at
//!   least `interval + timeout + 1 tick` is closed within that long.
//! - `live_after_faults` (with `expect.live_within`): by that long after
//!   the last fault ends, every endpoint is back at full capacity, and
//!   every RPC sent from then on succeeds (those the pool's own limiter
//!   turns away aside).
//! - `server_conns_closed`: at the end, every server connection is closed,
//!   unless a fault cut its client off (then the server cannot know).

use std::{collections::BTreeMap, time::Duration};

use squall_pool::{BackoffConfig, ConnEvent, ConnId, EventKind, KeepaliveConfig, PoolConfig};
use squall_sim::{
    Cut, Fault, RpcOutcome, Trace, TraceEvent,
    check::{self, Invariant},
    world::CLIENT_HOST,
};
use tonic::Code;

use crate::script::{Script, TICK};

/// The checks every pool run gets, for a pool configured as `config`.
///
/// `slack` widens time bounds for a world whose clock is real (kernel
/// mode: timers fire late by scheduling); zero in the simulation.
pub fn pool_invariants(trace: &Trace, config: &PoolConfig, slack: Duration) -> Vec<Invariant> {
    vec![
        connections_within_max(trace, max_connections(config)),
        backoff_within_schedule(trace, &config.backoff),
        detection_within_keepalive(trace, &config.keepalive, slack),
        server_conns_closed(trace),
    ]
}

/// Most connections an endpoint may have connecting or ready at once: its
/// maximum (scaling), and with max-age rotation one replacement per slot
/// dialling while the old connection still serves.
fn max_connections(config: &PoolConfig) -> usize {
    let slots = config
        .max_connections_per_endpoint
        .unwrap_or(config.connections_per_endpoint);
    if config.max_connection_age.is_some() {
        2 * slots
    } else {
        slots
    }
}

fn invariant(name: &'static str, result: Result<String, String>) -> Invariant {
    match result {
        Ok(detail) => Invariant {
            name,
            ok: true,
            detail,
        },
        Err(detail) => Invariant {
            name,
            ok: false,
            detail,
        },
    }
}

/// Connections per endpoint that are connecting or ready, at every line.
pub fn connections_within_max(trace: &Trace, max: usize) -> Invariant {
    let mut live: BTreeMap<ConnId, &str> = BTreeMap::new();
    let mut peak = 0;
    let result = trace
        .lines
        .iter()
        .try_for_each(|line| {
            let TraceEvent::Pool {
                conn,
                endpoint,
                kind,
            } = &line.event
            else {
                return Ok(());
            };
            match kind {
                ConnEvent::Connecting { .. } | ConnEvent::Ready => {
                    live.insert(*conn, endpoint);
                }
                ConnEvent::Draining { .. } | ConnEvent::Closed { .. } => {
                    live.remove(conn);
                }
                ConnEvent::Backoff { .. } | ConnEvent::LeaseHeld { .. } => {}
            }
            let count = live.values().filter(|e| **e == endpoint.as_str()).count();
            peak = peak.max(count);
            if count > max {
                return Err(format!(
                    "{} ms: {count} connections to {endpoint} connecting or ready, at most {max} allowed",
                    line.at.as_millis()
                ));
            }
            Ok(())
        })
        .map(|()| format!("at most {peak} per endpoint (max {max})"));
    invariant("connections_within_max", result)
}

/// Every reconnect waits out a delay within the schedule's bounds. As in
/// gRPC, the delay runs from the start of the failed attempt (its
/// `conn_connecting`), and the `conn_backoff` line shows what is left of
/// it, so the check is on `backoff line + delay − attempt start`.
pub fn backoff_within_schedule(trace: &Trace, backoff: &BackoffConfig) -> Invariant {
    let low = backoff
        .initial
        .min(backoff.max)
        .mul_f64(1.0 - backoff.jitter);
    let high = backoff.max.mul_f64(1.0 + backoff.jitter);
    // Delays are traced in whole milliseconds of a jittered value.
    let slack = Duration::from_millis(1);
    let mut started: BTreeMap<ConnId, Duration> = BTreeMap::new();
    let mut count = 0usize;
    let result = trace
        .lines
        .iter()
        .try_for_each(|line| {
            let TraceEvent::Pool { conn, kind, .. } = &line.event else {
                return Ok(());
            };
            match kind {
                ConnEvent::Connecting { .. } => {
                    started.insert(*conn, line.at);
                }
                ConnEvent::Backoff { delay } => {
                    count += 1;
                    let Some(start) = started.get(conn) else {
                        return Err(format!(
                            "{} ms: conn {conn} backs off without having dialled",
                            line.at.as_millis()
                        ));
                    };
                    let waited = line.at + *delay - *start;
                    if waited + slack < low || waited > high + slack {
                        return Err(format!(
                            "{} ms: conn {conn} (dialled at {} ms) redials {} ms after its attempt began, outside {}..={} ms",
                            line.at.as_millis(),
                            start.as_millis(),
                            waited.as_millis(),
                            low.as_millis(),
                            high.as_millis()
                        ));
                    }
                }
                _ => {}
            }
            Ok(())
        })
        .map(|()| {
            format!(
                "{count} backoff(s), each redial {}..={} ms after its failed attempt began",
                low.as_millis(),
                high.as_millis()
            )
        });
    invariant("backoff_within_schedule", result)
}

/// The keepalive bound for every connection cut off long enough for
/// keepalive to be sure to fire while it was.
pub fn detection_within_keepalive(
    trace: &Trace,
    keepalive: &KeepaliveConfig,
    slack: Duration,
) -> Invariant {
    // Each connection's bound uses the interval it was dialled with: the
    // configured one, doubled after each "too_many_pings" from its server.
    let intervals = dialled_intervals(trace, keepalive.interval);
    let bound_of = |conn: ConnId| {
        intervals.get(&conn).copied().unwrap_or(keepalive.interval)
            + keepalive.timeout
            + TICK
            + slack
    };
    let heals = fault_heals(trace);
    let relevant: Vec<_> = check::detections(trace)
        .into_iter()
        .filter(|d| {
            // How long the fault that cut it off held; a shorter cut may
            // heal before a PING is lost, and nothing needs detecting.
            let bound = bound_of(d.conn);
            heals
                .iter()
                .find(|(start, _)| *start == d.fault_at)
                .is_none_or(|(start, end)| end.is_none_or(|end| end - *start >= bound))
        })
        .collect();
    let late = relevant
        .iter()
        .find(|d| d.latency().is_none_or(|latency| latency > bound_of(d.conn)));
    let mut verdict = match late {
        Some(d) => check::check_detection(std::slice::from_ref(d), bound_of(d.conn)),
        None => Invariant {
            name: "detection_within_keepalive",
            ok: true,
            detail: format!(
                "{} cut-off connection(s), each closed within its keepalive interval + timeout \
                 + 1 tick{} ({} ms unthrottled)",
                relevant.len(),
                if slack.is_zero() {
                    String::new()
                } else {
                    format!(" + {} ms slack", slack.as_millis())
                },
                (keepalive.interval + keepalive.timeout + TICK + slack).as_millis()
            ),
        },
    };
    verdict.name = "detection_within_keepalive";
    verdict
}

/// The keepalive interval each connection was dialled with: `configured`,
/// doubled by every `keepalive_throttled` line of its endpoint before its
/// `conn_connecting`.
fn dialled_intervals(trace: &Trace, configured: Duration) -> BTreeMap<ConnId, Duration> {
    let mut current: BTreeMap<&str, Duration> = BTreeMap::new();
    let mut dialled = BTreeMap::new();
    for line in &trace.lines {
        match &line.event {
            TraceEvent::PoolEndpoint {
                endpoint,
                kind: EventKind::KeepaliveThrottled { interval, .. },
            } => {
                current.insert(endpoint, *interval);
            }
            TraceEvent::Pool {
                conn,
                endpoint,
                kind: ConnEvent::Connecting { .. },
            } => {
                let interval = current
                    .get(endpoint.as_str())
                    .copied()
                    .unwrap_or(configured);
                dialled.insert(*conn, interval);
            }
            _ => {}
        }
    }
    dialled
}

/// (start, heal) of every fault in the trace, in order; heal `None` if it
/// never healed. Matched by equal fault values, first come first served.
/// Healing one cut of a client link (black hole, partition) heals every
/// cut of that link still open: turmoil's `repair` clears the link
/// whatever cut it, so overlapping cuts end together.
fn fault_heals(trace: &Trace) -> Vec<(Duration, Option<Duration>)> {
    fn links(fault: &Fault) -> Vec<&str> {
        match fault.cut() {
            Cut::Dropped { .. } => check::cut_off_from_client(fault),
            _ => Vec::new(),
        }
    }
    let mut spans: Vec<(Duration, Option<Duration>, &Fault)> = Vec::new();
    for line in &trace.lines {
        match &line.event {
            TraceEvent::FaultStart(fault) => spans.push((line.at, None, fault)),
            TraceEvent::FaultHeal(fault) => {
                if let Some(span) = spans
                    .iter_mut()
                    .find(|(_, end, f)| end.is_none() && *f == fault)
                {
                    span.1 = Some(line.at);
                }
                let healed = links(fault);
                for span in spans.iter_mut().filter(|(_, end, _)| end.is_none()) {
                    if links(span.2).iter().any(|host| healed.contains(host)) {
                        span.1 = Some(line.at);
                    }
                }
            }
            _ => {}
        }
    }
    spans.into_iter().map(|(s, e, _)| (s, e)).collect()
}

/// Full capacity and succeeding RPCs from `within` after the last fault
/// ended on: at least `connections_per_endpoint` ready to each of the
/// script's targets (at most `max_connections_per_endpoint`, when the pool
/// may scale up), and no RPC failing but those the pool turned away under
/// overload (its limiter, or no room on any connection before the deadline).
/// The bound grows by however much "too_many_pings" lengthened keepalive.
pub fn live_after_faults(
    trace: &Trace,
    script: &Script,
    config: &PoolConfig,
    within: Duration,
) -> Invariant {
    let capacity = config.connections_per_endpoint;
    let most = config.max_connections_per_endpoint.unwrap_or(capacity);
    // RPCs may wait in the pool (never reaching a connection) for a
    // limiter permit, or for room on a connection when streams are capped.
    let may_wait_in_pool = config.limiter.is_some()
        || config.max_streams_per_connection.is_some()
        || script.topology.max_concurrent_streams.is_some();
    let name = "live_after_faults";
    let Some(ended) = script.last_fault_end() else {
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
    for endpoint in &script.client.targets {
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
