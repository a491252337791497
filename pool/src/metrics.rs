//! The pool as `metrics` counters and gauges (cargo feature `metrics`).
//!
//! [`MetricsSink`] is an [`EventSink`]: give it to
//! [`PoolBuilder::on_event`](crate::PoolBuilder::on_event) and every
//! connection transition and breaker transition becomes a counter, and
//! limiter events set the limiter's gauges. Gauges of things that have no
//! event (slots by state, RPCs in flight, breaker states) are a snapshot,
//! so the caller samples them:
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
//! | `squall_pool_breaker_transitions_total` | counter | endpoint, to |
//! | `squall_pool_slots` | gauge | endpoint, state |
//! | `squall_pool_rpcs_in_flight` | gauge | endpoint |
//! | `squall_pool_breaker_state` | gauge (1 for the current state, else 0) | endpoint, state |
//! | `squall_pool_limiter_in_flight` | gauge | |
//! | `squall_pool_limiter_queued` | gauge | |

use metrics::{Unit, counter, describe_counter, describe_gauge, gauge};

use crate::{
    endpoint::EndpointId,
    event::{CloseCause, ConnEvent, DrainCause, EventKind, EventSink, PoolEvent},
    policy::breaker::State as BreakerState,
    policy::outlier::OutlierChange,
    status::{Connectivity, LimiterStats, PoolStats},
};

/// Turns every [`PoolEvent`] into a counter increment.
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsSink;

impl EventSink for MetricsSink {
    fn on_event(&self, event: &PoolEvent) {
        match &event.kind {
            EventKind::Conn {
                endpoint, event, ..
            } => conn_event(endpoint_label(*endpoint), event),
            EventKind::Breaker { endpoint, to, .. } => {
                counter!(
                    "squall_pool_breaker_transitions_total",
                    "endpoint" => endpoint_label(*endpoint),
                    "to" => breaker_state_name(*to)
                )
                .increment(1);
            }
            EventKind::Limiter { in_flight, queued } => record_limiter(&LimiterStats {
                in_flight: *in_flight,
                queued: *queued,
            }),
            EventKind::Outlier { endpoint, change } => {
                let to = match change {
                    OutlierChange::Ejected { .. } => "ejected",
                    OutlierChange::Returned => "returned",
                };
                counter!(
                    "squall_pool_outlier_changes_total",
                    "endpoint" => endpoint_label(*endpoint),
                    "to" => to
                )
                .increment(1);
            }
            EventKind::Health { endpoint, to, .. } => {
                counter!(
                    "squall_pool_health_changes_total",
                    "endpoint" => endpoint_label(*endpoint),
                    "to" => to.to_string()
                )
                .increment(1);
            }
            EventKind::Retry { endpoint, code, .. } => {
                counter!(
                    "squall_pool_retries_total",
                    "endpoint" => endpoint_label(*endpoint),
                    "code" => code.name()
                )
                .increment(1);
            }
            EventKind::Hedge { endpoint, .. } => {
                counter!(
                    "squall_pool_hedges_total",
                    "endpoint" => endpoint_label(*endpoint)
                )
                .increment(1);
            }
            EventKind::HedgeCancelled { endpoint, .. } => {
                counter!(
                    "squall_pool_hedges_cancelled_total",
                    "endpoint" => endpoint_label(*endpoint)
                )
                .increment(1);
            }
            EventKind::KeepaliveThrottled { endpoint, .. } => {
                counter!(
                    "squall_pool_keepalive_throttled_total",
                    "endpoint" => endpoint_label(*endpoint)
                )
                .increment(1);
            }
        }
    }
}

fn conn_event(endpoint: String, event: &ConnEvent) {
    match event {
        ConnEvent::Connecting { .. } => {
            counter!("squall_pool_connect_attempts_total", "endpoint" => endpoint).increment(1);
        }
        ConnEvent::Ready => {
            counter!("squall_pool_connections_opened_total", "endpoint" => endpoint).increment(1);
        }
        ConnEvent::Draining { cause } => {
            counter!(
                "squall_pool_connections_draining_total",
                "endpoint" => endpoint,
                "cause" => drain_cause(*cause)
            )
            .increment(1);
        }
        ConnEvent::Closed { cause } => {
            counter!(
                "squall_pool_connections_closed_total",
                "endpoint" => endpoint,
                "cause" => close_cause(cause)
            )
            .increment(1);
        }
        ConnEvent::Backoff { .. } => {
            counter!("squall_pool_backoffs_total", "endpoint" => endpoint).increment(1);
        }
        ConnEvent::LeaseHeld { .. } => {
            counter!("squall_pool_leases_held_too_long_total", "endpoint" => endpoint).increment(1);
        }
    }
}

fn record_limiter(limiter: &LimiterStats) {
    gauge!("squall_pool_limiter_in_flight").set(limiter.in_flight as f64);
    gauge!("squall_pool_limiter_queued").set(limiter.queued as f64);
}

/// Sets the gauges from a stats snapshot: each endpoint's slots by
/// connectivity state (every state is written, zeros included, so a state
/// that empties reads 0 rather than its last value), its RPCs in flight,
/// its breaker's state (when breakers are on) and the limiter's occupancy
/// (when there is a limiter).
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
        gauge!("squall_pool_rpcs_in_flight", "endpoint" => label.clone()).set(in_flight as f64);
        if let Some(current) = endpoint.breaker {
            for state in BREAKER_STATES {
                let on = if state == current { 1.0 } else { 0.0 };
                gauge!(
                    "squall_pool_breaker_state",
                    "endpoint" => label.clone(),
                    "state" => breaker_state_name(state)
                )
                .set(on);
            }
        }
    }
    if let Some(limiter) = &stats.limiter {
        record_limiter(limiter);
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
        "Connections closed, by cause (keepalive_timeout, user_timeout: a silently dead peer)."
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
    describe_counter!(
        "squall_pool_breaker_transitions_total",
        Unit::Count,
        "Circuit breaker state changes, by the state entered."
    );
    describe_counter!(
        "squall_pool_hedges_total",
        Unit::Count,
        "Hedges sent: copies of idempotent RPCs after the first, by endpoint."
    );
    describe_counter!(
        "squall_pool_hedges_cancelled_total",
        Unit::Count,
        "Copies of hedged RPCs cancelled because another answered first, by endpoint."
    );
    describe_gauge!(
        "squall_pool_breaker_state",
        Unit::Count,
        "1 for each endpoint's current circuit breaker state, 0 for the others."
    );
    describe_gauge!(
        "squall_pool_limiter_in_flight",
        Unit::Count,
        "RPCs holding a limiter permit."
    );
    describe_gauge!(
        "squall_pool_limiter_queued",
        Unit::Count,
        "RPCs waiting for a limiter permit."
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

const BREAKER_STATES: [BreakerState; 3] = [
    BreakerState::Closed,
    BreakerState::Open,
    BreakerState::HalfOpen,
];

fn breaker_state_name(state: BreakerState) -> &'static str {
    match state {
        BreakerState::Closed => "closed",
        BreakerState::Open => "open",
        BreakerState::HalfOpen => "half_open",
    }
}

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
        DrainCause::MaxAge => "max_age",
        DrainCause::Idle => "idle",
        DrainCause::EndpointRemoved => "endpoint_removed",
        DrainCause::ScaleDown => "scale_down",
        DrainCause::Goaway(_) => "goaway",
        DrainCause::StreamIdsUsed => "stream_ids_used",
    }
}

fn close_cause(cause: &CloseCause) -> &'static str {
    match cause {
        CloseCause::ConnectFailed(_) => "connect_failed",
        CloseCause::KeepaliveTimeout => "keepalive_timeout",
        CloseCause::UserTimeout => "user_timeout",
        CloseCause::PeerClosed => "peer_closed",
        CloseCause::PeerGoaway(_) => "peer_goaway",
        CloseCause::Transport { .. } => "transport",
        CloseCause::NotHttp2 { .. } => "not_http2",
        CloseCause::Shutdown => "shutdown",
        CloseCause::Retired(cause) => drain_cause(*cause),
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
        event::ConnectError,
        ids::ConnId,
        status::{ConnStats, EndpointStats, LimiterStats, SlotStats},
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

    fn event(endpoint: u32, event: ConnEvent) -> PoolEvent {
        PoolEvent {
            at: Instant::now(),
            kind: EventKind::Conn {
                endpoint: EndpointId(endpoint),
                conn: ConnId(1),
                event,
            },
        }
    }

    /// Dashboards count reconnects and dead peers from these counters, so
    /// each event must land on its own counter, by endpoint and cause.
    #[test]
    fn events_count_by_endpoint_and_cause() {
        let metrics = recorded(|| {
            let sink = MetricsSink;
            sink.on_event(&event(0, ConnEvent::Connecting { attempt: 1 }));
            sink.on_event(&event(0, ConnEvent::Ready));
            sink.on_event(&event(
                0,
                ConnEvent::Closed {
                    cause: CloseCause::KeepaliveTimeout,
                },
            ));
            sink.on_event(&event(
                0,
                ConnEvent::Closed {
                    cause: CloseCause::UserTimeout,
                },
            ));
            sink.on_event(&event(
                0,
                ConnEvent::Closed {
                    cause: CloseCause::PeerGoaway(crate::GoawayCode::ENHANCE_YOUR_CALM),
                },
            ));
            sink.on_event(&event(
                1,
                ConnEvent::Closed {
                    cause: CloseCause::ConnectFailed(ConnectError::Timeout),
                },
            ));
            sink.on_event(&event(
                1,
                ConnEvent::Closed {
                    cause: CloseCause::ConnectFailed(ConnectError::Handshake),
                },
            ));
            sink.on_event(&event(
                1,
                ConnEvent::Backoff {
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
                (
                    "squall_pool_connections_closed_total{cause=user_timeout,endpoint=0}",
                    1.0,
                ),
                // The GOAWAY's code is in the event, not in the label.
                (
                    "squall_pool_connections_closed_total{cause=peer_goaway,endpoint=0}",
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
            capacity: None,
            server_max_streams: None,
            rpcs_routed: 10,
        };
        let stats = PoolStats {
            state: Connectivity::Ready,
            endpoints: vec![EndpointStats {
                id: EndpointId(0),
                endpoint: Endpoint::parse("http://127.0.0.1:1").unwrap(),
                removed: false,
                state: Connectivity::Ready,
                breaker: Some(BreakerState::Open),
                ejected: None,
                health: None,
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
            limiter: Some(LimiterStats {
                in_flight: 5,
                queued: 2,
            }),
            retry: None,
            hedging: None,
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
        assert_eq!(
            gauge("squall_pool_breaker_state{endpoint=0,state=open}"),
            Some(1.0)
        );
        assert_eq!(
            gauge("squall_pool_breaker_state{endpoint=0,state=closed}"),
            Some(0.0)
        );
        assert_eq!(gauge("squall_pool_limiter_in_flight{}"), Some(5.0));
        assert_eq!(gauge("squall_pool_limiter_queued{}"), Some(2.0));
        assert_eq!(
            metrics.len(),
            1 + STATES.len() + BREAKER_STATES.len() + 2,
            "{metrics:?}"
        );
    }

    /// Breaker transitions count by the state entered; limiter events set
    /// the limiter's gauges to the latest occupancy.
    #[test]
    fn breaker_and_limiter_events() {
        use crate::policy::breaker::TransitionReason;
        let metrics = recorded(|| {
            let sink = MetricsSink;
            let at = Instant::now();
            let open = EventKind::Breaker {
                endpoint: EndpointId(2),
                from: BreakerState::Closed,
                to: BreakerState::Open,
                reason: TransitionReason::FailureRate {
                    failures: 5,
                    calls: 10,
                },
            };
            sink.on_event(&PoolEvent { at, kind: open });
            for (in_flight, queued) in [(1, 0), (4, 3), (2, 0)] {
                let kind = EventKind::Limiter { in_flight, queued };
                sink.on_event(&PoolEvent { at, kind });
            }
        });
        let expected = BTreeMap::from(
            [
                (
                    "squall_pool_breaker_transitions_total{endpoint=2,to=open}",
                    1.0,
                ),
                ("squall_pool_limiter_in_flight{}", 2.0),
                ("squall_pool_limiter_queued{}", 0.0),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        assert_eq!(metrics, expected);
    }
}
