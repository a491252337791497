//! The checks every run of a pool client gets, whatever its script says
//! ([`pool_invariants`]). They were written for the property suites
//! (random scripts have no hand-written expectations), and hold for every
//! built-in script too.
//!
//! - `connections_within_max`: an endpoint never has more connections
//!   connecting or ready than its maximum (`connections_per_endpoint`, or
//!   `max_connections_per_endpoint` when it scales; twice that with
//!   max-age rotation, whose replacements dial before the old connection
//!   drains). Draining ones are on their way out and do not count.
//! - `backoff_within_schedule`: every reconnect delay lies within the
//!   schedule's bounds, `initial × (1 − jitter)` to `max × (1 + jitter)`.
//! - `detection_within_keepalive` (`keepalive.rs`) and
//!   `server_conns_closed` (`shutdown.rs`).
//! - `hedges_within_max_attempts` (`hedging.rs`), for a pool that hedges.

use std::{collections::BTreeMap, time::Duration};

use squall_pool::{BackoffConfig, ConnEvent, ConnId, PoolConfig};

use crate::{
    check::{
        Invariant, detection_within_keepalive, hedges_within_max_attempts, invariant,
        server_conns_closed,
    },
    trace::{Trace, TraceEvent},
};

/// The checks every pool run gets, for a pool configured as `config`.
///
/// `tick` is the world's step; `slack` widens time bounds for a world whose
/// clock is real (kernel mode: timers fire late by scheduling); zero in the
/// simulation.
pub fn pool_invariants(
    trace: &Trace,
    config: &PoolConfig,
    tick: Duration,
    slack: Duration,
) -> Vec<Invariant> {
    let mut invariants = vec![
        connections_within_max(trace, max_connections(config)),
        backoff_within_schedule(trace, &config.backoff),
        detection_within_keepalive(trace, &config.keepalive, tick, slack),
        server_conns_closed(trace),
    ];
    if let Some(hedging) = &config.hedging {
        invariants.push(hedges_within_max_attempts(trace, hedging));
    }
    invariants
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
