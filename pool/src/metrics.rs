//! The pool as `metrics` counters and gauges (cargo feature `metrics`).
//!
//! [`MetricsSink`] is an [`EventSink`]: give it to
//! [`PoolBuilder::on_event`](crate::PoolBuilder::on_event) and every
//! connection transition becomes a counter. Gauges (connections by state,
//! RPCs in flight) are a snapshot, so the caller samples them:
//! [`record_stats`] with [`Pool::stats`](crate::Pool::stats), e.g. once a
//! second or on each scrape. Whatever recorder is installed (Prometheus,
//! StatsD, ...) receives them; with none installed every call is a no-op.
//!
//! Labels are bounded: `endpoint` is the endpoint's index ([`EndpointId`]),
//! `cause` and `state` are fixed names. Error details stay in events and
//! traces, never in label values.
//!
//! | metric | kind | labels |
//! | --- | --- | --- |
//! | `squall_pool_connect_attempts_total` | counter | endpoint |
//! | `squall_pool_connections_opened_total` | counter | endpoint |
//! | `squall_pool_connections_draining_total` | counter | endpoint, cause |
//! | `squall_pool_connections_closed_total` | counter | endpoint, cause |
//! | `squall_pool_backoffs_total` | counter | endpoint |
//! | `squall_pool_leases_held_too_long_total` | counter | endpoint |
//! | `squall_pool_slots` | gauge | endpoint, state |
//! | `squall_pool_rpcs_in_flight` | gauge | endpoint |

use metrics::{Unit, counter, describe_counter, describe_gauge, gauge};

use crate::{
    endpoint::EndpointId,
    event::{CloseCause, DrainCause, EventKind, EventSink, PoolEvent},
    status::{Connectivity, PoolStats},
};

/// Turns every [`PoolEvent`] into a counter increment.
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsSink;

impl EventSink for MetricsSink {
    fn on_event(&self, event: &PoolEvent) {
        let endpoint = endpoint_label(event.endpoint);
        match &event.kind {
            EventKind::Connecting { .. } => {
                counter!("squall_pool_connect_attempts_total", "endpoint" => endpoint).increment(1);
            }
            EventKind::Ready => {
                counter!("squall_pool_connections_opened_total", "endpoint" => endpoint)
                    .increment(1);
            }
            EventKind::Draining { cause } => {
                counter!(
                    "squall_pool_connections_draining_total",
                    "endpoint" => endpoint,
                    "cause" => drain_cause(*cause)
                )
                .increment(1);
            }
            EventKind::Closed { cause } => {
                counter!(
                    "squall_pool_connections_closed_total",
                    "endpoint" => endpoint,
                    "cause" => close_cause(cause)
                )
                .increment(1);
            }
            EventKind::Backoff { .. } => {
                counter!("squall_pool_backoffs_total", "endpoint" => endpoint).increment(1);
            }
            EventKind::LeaseHeld { .. } => {
                counter!("squall_pool_leases_held_too_long_total", "endpoint" => endpoint)
                    .increment(1);
            }
        }
    }
}

/// Sets the gauges from a stats snapshot: each endpoint's slots by
/// connectivity state (every state is written, zeros included, so a state
/// that empties reads 0 rather than its last value) and its RPCs in flight.
pub fn record_stats(stats: &PoolStats) {
    for endpoint in &stats.endpoints {
        let label = endpoint_label(endpoint.id);
        for state in STATES {
            let n = endpoint.slots.iter().filter(|s| s.state == state).count();
            gauge!("squall_pool_slots", "endpoint" => label.clone(), "state" => state_name(state))
                .set(n as f64);
        }
        let in_flight: usize = endpoint
            .slots
            .iter()
            .filter_map(|s| s.connection.as_ref())
            .map(|c| c.in_flight)
            .sum();
        gauge!("squall_pool_rpcs_in_flight", "endpoint" => label).set(in_flight as f64);
    }
}

/// Registers a description and unit for every metric above, for exporters
/// that show them (Prometheus `# HELP`). Call once, after installing a recorder.
pub fn describe() {
    describe_counter!(
        "squall_pool_connect_attempts_total",
        Unit::Count,
        "Dials started (TCP connect plus HTTP/2 handshake)."
    );
    describe_counter!(
        "squall_pool_connections_opened_total",
        Unit::Count,
        "Connections that became ready to take RPCs."
    );
    describe_counter!(
        "squall_pool_connections_draining_total",
        Unit::Count,
        "Connections that stopped taking new RPCs, by cause."
    );
    describe_counter!(
        "squall_pool_connections_closed_total",
        Unit::Count,
        "Connections closed, by cause (keepalive_timeout: a silently dead peer)."
    );
    describe_counter!(
        "squall_pool_backoffs_total",
        Unit::Count,
        "Reconnect waits started."
    );
    describe_counter!(
        "squall_pool_leases_held_too_long_total",
        Unit::Count,
        "Leases held past lease_leak_threshold: likely leaks."
    );
    describe_gauge!(
        "squall_pool_slots",
        Unit::Count,
        "Connection slots by gRPC connectivity state."
    );
    describe_gauge!(
        "squall_pool_rpcs_in_flight",
        Unit::Count,
        "RPCs sent and not yet finished."
    );
}

const STATES: [Connectivity; 5] = [
    Connectivity::Idle,
    Connectivity::Connecting,
    Connectivity::Ready,
    Connectivity::TransientFailure,
    Connectivity::Shutdown,
];

fn endpoint_label(endpoint: EndpointId) -> String {
    endpoint.0.to_string()
}

fn state_name(state: Connectivity) -> &'static str {
    match state {
        Connectivity::Idle => "idle",
        Connectivity::Connecting => "connecting",
        Connectivity::Ready => "ready",
        Connectivity::TransientFailure => "transient_failure",
        Connectivity::Shutdown => "shutdown",
    }
}

fn drain_cause(cause: DrainCause) -> &'static str {
    match cause {
        DrainCause::Shutdown => "shutdown",
    }
}

fn close_cause(cause: &CloseCause) -> &'static str {
    match cause {
        CloseCause::ConnectFailed(_) => "connect_failed",
        CloseCause::KeepaliveTimeout => "keepalive_timeout",
        CloseCause::PeerClosed => "peer_closed",
        CloseCause::Transport(_) => "transport",
        CloseCause::Shutdown => "shutdown",
    }
}
