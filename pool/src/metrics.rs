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

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, time::Duration};

    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use tokio::time::Instant;

    use super::*;
    use crate::{
        conn::ConnState,
        endpoint::Endpoint,
        event::{ConnId, ConnectError},
        status::{ConnStats, EndpointStats, SlotStats},
    };

    /// Runs `f` with a recorder of its own and returns every metric as
    /// `name{label=value,...}` → value.
    fn recorded(f: impl FnOnce()) -> BTreeMap<String, f64> {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, f);
        snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let key = key.key();
                let mut labels: Vec<String> = key
                    .labels()
                    .map(|l| format!("{}={}", l.key(), l.value()))
                    .collect();
                labels.sort();
                let value = match value {
                    DebugValue::Counter(n) => n as f64,
                    DebugValue::Gauge(g) => g.0,
                    DebugValue::Histogram(_) => unreachable!("the pool records no histogram"),
                };
                (format!("{}{{{}}}", key.name(), labels.join(",")), value)
            })
            .collect()
    }

    fn event(endpoint: u32, kind: EventKind) -> PoolEvent {
        PoolEvent {
            at: Instant::now(),
            endpoint: EndpointId(endpoint),
            conn: ConnId(1),
            kind,
        }
    }

    /// Dashboards count reconnects and dead peers from these counters, so
    /// each event must land on its own counter, by endpoint and cause.
    #[test]
    fn events_count_by_endpoint_and_cause() {
        let metrics = recorded(|| {
            let sink = MetricsSink;
            sink.on_event(&event(0, EventKind::Connecting { attempt: 1 }));
            sink.on_event(&event(0, EventKind::Ready));
            sink.on_event(&event(
                0,
                EventKind::Closed {
                    cause: CloseCause::KeepaliveTimeout,
                },
            ));
            sink.on_event(&event(
                1,
                EventKind::Closed {
                    cause: CloseCause::ConnectFailed(ConnectError::Timeout),
                },
            ));
            sink.on_event(&event(
                1,
                EventKind::Closed {
                    cause: CloseCause::ConnectFailed(ConnectError::Handshake),
                },
            ));
            sink.on_event(&event(
                1,
                EventKind::Backoff {
                    delay: Duration::from_secs(1),
                },
            ));
        });
        let expected = BTreeMap::from(
            [
                ("squall_pool_connect_attempts_total{endpoint=0}", 1.0),
                ("squall_pool_connections_opened_total{endpoint=0}", 1.0),
                (
                    "squall_pool_connections_closed_total{cause=keepalive_timeout,endpoint=0}",
                    1.0,
                ),
                // Error details stay out of labels: both failures share one series.
                (
                    "squall_pool_connections_closed_total{cause=connect_failed,endpoint=1}",
                    2.0,
                ),
                ("squall_pool_backoffs_total{endpoint=1}", 1.0),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        assert_eq!(metrics, expected);
    }

    #[test]
    fn stats_set_slot_and_in_flight_gauges_including_zeros() {
        let conn = |in_flight| ConnStats {
            conn: ConnId(1),
            state: ConnState::Ready,
            age: Duration::from_secs(1),
            in_flight,
            rpcs_routed: 10,
        };
        let stats = PoolStats {
            state: Connectivity::Ready,
            endpoints: vec![EndpointStats {
                id: EndpointId(0),
                endpoint: Endpoint::parse("http://127.0.0.1:1").unwrap(),
                state: Connectivity::Ready,
                slots: vec![
                    SlotStats {
                        state: Connectivity::Ready,
                        dials: 1,
                        connection: Some(conn(3)),
                    },
                    SlotStats {
                        state: Connectivity::Ready,
                        dials: 2,
                        connection: Some(conn(4)),
                    },
                    SlotStats {
                        state: Connectivity::TransientFailure,
                        dials: 5,
                        connection: None,
                    },
                ],
            }],
        };
        let metrics = recorded(|| record_stats(&stats));
        let gauge = |key: &str| metrics.get(key).copied();
        assert_eq!(gauge("squall_pool_rpcs_in_flight{endpoint=0}"), Some(7.0));
        assert_eq!(
            gauge("squall_pool_slots{endpoint=0,state=ready}"),
            Some(2.0)
        );
        assert_eq!(
            gauge("squall_pool_slots{endpoint=0,state=transient_failure}"),
            Some(1.0)
        );
        // A state no slot is in still reads 0, not a stale value.
        assert_eq!(
            gauge("squall_pool_slots{endpoint=0,state=connecting}"),
            Some(0.0)
        );
        assert_eq!(metrics.len(), 1 + STATES.len());
    }
}
