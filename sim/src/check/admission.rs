//! Checkers for the pool's admission control, read from the trace: the
//! circuit breakers' transitions (`breaker_*` lines), what servers received
//! while a breaker was open (`server_rpc` lines), the limiter's occupancy
//! (`limiter` lines), and whether each breaker follows a failing server
//! (`expect.breaker_opens_within` / `breaker_closes_within`).

use std::{collections::BTreeMap, time::Duration};

use squall_pool::{breaker::State, limit::LimiterConfig};

use super::Invariant;
use crate::{
    fault::{Fault, ScheduledFault},
    trace::{Trace, TraceEvent},
    world::CLIENT_HOST,
};

/// Every breaker starts CLOSED and moves only CLOSED→OPEN, OPEN→HALF_OPEN,
/// HALF_OPEN→OPEN or HALF_OPEN→CLOSED, each line leaving the state the
/// previous one entered.
pub fn breaker_transitions_legal(trace: &Trace) -> Invariant {
    let mut states: BTreeMap<&str, State> = BTreeMap::new();
    let mut transitions = 0usize;
    for line in &trace.lines {
        let TraceEvent::Breaker {
            endpoint, from, to, ..
        } = &line.event
        else {
            continue;
        };
        transitions += 1;
        let current = states.entry(endpoint.as_str()).or_insert(State::Closed);
        let legal = matches!(
            (*from, *to),
            (State::Closed, State::Open)
                | (State::Open, State::HalfOpen)
                | (State::HalfOpen, State::Open)
                | (State::HalfOpen, State::Closed)
        );
        if *from != *current || !legal {
            return Invariant {
                name: "breaker_transitions_legal",
                ok: false,
                detail: format!(
                    "{endpoint}'s breaker was {current:?}; illegal transition at: {line}"
                ),
            };
        }
        *current = *to;
    }
    Invariant {
        name: "breaker_transitions_legal",
        ok: true,
        detail: format!(
            "{transitions} transitions over {} endpoints, all legal",
            states.len()
        ),
    }
}

/// No RPC from the client reaches a server while the client's breaker for
/// that server is OPEN. Counted on the server (`server_rpc` lines, which a
/// world records when the pool has a breaker). A call sent just before the
/// breaker opened still arrives one `link_latency` later, so each OPEN span
/// `[opened, left)` is checked as `(opened + latency, left + latency)`.
///
/// A call the load sent before the breaker opened may also arrive inside
/// the span much later: TCP retransmits a request the network lost, and a
/// real kernel does too. The server's line names the RPC (`rpc=`, from the
/// `squall-rpc` metadata), so such a call is told apart by when the load
/// sent it and counted as late, not as a violation. What this cannot see:
/// a retry, or a first attempt that queued, of a call sent before the span,
/// which go by the same name; the breaker's unit tests cover those paths.
/// Endpoints that are not servers (a NAT in front of one) are not checked.
pub fn no_rpc_reaches_server_while_breaker_open(
    trace: &Trace,
    link_latency: Duration,
) -> Invariant {
    let name = "no_rpc_reaches_server_while_breaker_open";
    let open_spans = open_spans(trace);
    let sent: BTreeMap<u64, (Duration, usize)> = trace
        .lines
        .iter()
        .filter_map(|line| match &line.event {
            TraceEvent::Rpc(rpc) => Some((rpc.id, (rpc.sent_at, rpc.sent_seq))),
            _ => None,
        })
        .collect();
    let client_peer = format!("{CLIENT_HOST}:");
    let (mut received, mut late) = (0usize, 0usize);
    for line in &trace.lines {
        let TraceEvent::ServerRpc { peer, rpc, .. } = &line.event else {
            continue;
        };
        if !peer.starts_with(&client_peer) {
            continue;
        }
        received += 1;
        let spans = open_spans
            .get(line.host.as_str())
            .map_or(&[][..], Vec::as_slice);
        let Some(span) = spans.iter().find(|span| {
            line.at > span.opened.saturating_add(link_latency)
                && line.at < span.left.saturating_add(link_latency)
        }) else {
            continue;
        };
        let sent_before_open = rpc.and_then(|id| sent.get(&id)).is_some_and(|&(at, seq)| {
            at < span.opened || (at == span.opened && seq <= span.opened_seq)
        });
        if sent_before_open {
            late += 1;
            continue;
        }
        return Invariant {
            name,
            ok: false,
            detail: format!(
                "the breaker for {} was open from {} ms to {} ms, yet: {line}",
                line.host,
                span.opened.as_millis(),
                span.left.as_millis()
            ),
        };
    }
    let spans: usize = open_spans.values().map(Vec::len).sum();
    Invariant {
        name,
        ok: true,
        detail: format!(
            "servers received {received} RPCs from the client, none sent while one of {spans} open spans held ({late} sent before one opened arrived in it)"
        ),
    }
}

/// One OPEN span of a breaker: `[opened, left)`, and the trace position of
/// the line that opened it (orders it against sends of the same instant).
struct OpenSpan {
    opened: Duration,
    opened_seq: usize,
    left: Duration,
}

/// Each endpoint's OPEN spans `[opened, left)`; an OPEN never left lasts
/// to the end of time.
fn open_spans(trace: &Trace) -> BTreeMap<&str, Vec<OpenSpan>> {
    let mut spans: BTreeMap<&str, Vec<OpenSpan>> = BTreeMap::new();
    for (seq, line) in trace.lines.iter().enumerate() {
        let TraceEvent::Breaker {
            endpoint, from, to, ..
        } = &line.event
        else {
            continue;
        };
        let mine = spans.entry(endpoint.as_str()).or_default();
        if *to == State::Open {
            mine.push(OpenSpan {
                opened: line.at,
                opened_seq: seq,
                left: Duration::MAX,
            });
        } else if *from == State::Open
            && let Some(last) = mine.last_mut()
        {
            last.left = line.at;
        }
    }
    spans
}

/// The limiter's occupancy never exceeds its configuration: at most
/// `max_concurrency` RPCs hold a permit and at most `max_queue_len` wait,
/// at every change (each change is a `limiter` line).
pub fn limiter_inflight_within_limit(trace: &Trace, config: &LimiterConfig) -> Invariant {
    let name = "limiter_inflight_within_limit";
    let mut changes = 0usize;
    let (mut peak_in_flight, mut peak_queued) = (0, 0);
    for line in &trace.lines {
        let TraceEvent::Limiter { in_flight, queued } = &line.event else {
            continue;
        };
        changes += 1;
        peak_in_flight = peak_in_flight.max(*in_flight);
        peak_queued = peak_queued.max(*queued);
        if *in_flight > config.max_concurrency || *queued > config.max_queue_len {
            return Invariant {
                name,
                ok: false,
                detail: format!(
                    "limits are {} in flight and {} queued, yet: {line}",
                    config.max_concurrency, config.max_queue_len
                ),
            };
        }
    }
    Invariant {
        name,
        ok: true,
        detail: format!(
            "{changes} changes; peak {peak_in_flight} in flight (limit {}), {peak_queued} queued (limit {})",
            config.max_concurrency, config.max_queue_len
        ),
    }
}

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

#[cfg(test)]
mod tests {
    use squall_pool::breaker::TransitionReason;

    use super::*;
    use crate::{
        load::Call,
        trace::{RpcOutcome, TraceLine},
    };

    fn line(at_ms: u64, host: &str, event: TraceEvent) -> TraceLine {
        TraceLine {
            at: Duration::from_millis(at_ms),
            host: host.into(),
            event,
        }
    }

    fn breaker(at_ms: u64, from: State, to: State) -> TraceLine {
        line(
            at_ms,
            CLIENT_HOST,
            TraceEvent::Breaker {
                endpoint: "server-1".into(),
                from,
                to,
                reason: TransitionReason::OpenWaitElapsed,
            },
        )
    }

    fn server_rpc(at_ms: u64) -> TraceLine {
        server_rpc_of(at_ms, None)
    }

    fn server_rpc_of(at_ms: u64, rpc: Option<u64>) -> TraceLine {
        line(
            at_ms,
            "server-1",
            TraceEvent::ServerRpc {
                peer: "client:49152".into(),
                method: "/squall.echo.v1.Echo/Echo".into(),
                rpc,
            },
        )
    }

    fn rpc_sent(id: u64, sent_ms: u64, sent_seq: usize, ended_ms: u64) -> TraceLine {
        line(
            ended_ms,
            CLIENT_HOST,
            TraceEvent::Rpc(RpcOutcome {
                id,
                call: Call::Echo.into(),
                deadline: Duration::from_secs(1),
                conn: None,
                endpoint: Some("server-1".into()),
                sent_at: Duration::from_millis(sent_ms),
                sent_seq,
                result: Ok(()),
            }),
        )
    }

    fn trace(lines: Vec<TraceLine>) -> Trace {
        Trace { lines, dropped: 0 }
    }

    #[test]
    fn transitions_must_chain_and_follow_the_state_diagram() {
        let cycle = vec![
            breaker(10, State::Closed, State::Open),
            breaker(20, State::Open, State::HalfOpen),
            breaker(30, State::HalfOpen, State::Open),
            breaker(40, State::Open, State::HalfOpen),
            breaker(50, State::HalfOpen, State::Closed),
        ];
        assert!(breaker_transitions_legal(&trace(cycle.clone())).ok);
        // OPEN → CLOSED skips the probes.
        let skip = vec![
            breaker(10, State::Closed, State::Open),
            breaker(20, State::Open, State::Closed),
        ];
        let verdict = breaker_transitions_legal(&trace(skip));
        assert!(!verdict.ok);
        assert!(
            verdict.detail.contains("20 client breaker_closed"),
            "{}",
            verdict.detail
        );
        // A line that leaves a state the breaker was not in.
        let gap = vec![breaker(10, State::Open, State::HalfOpen)];
        assert!(!breaker_transitions_legal(&trace(gap)).ok);
    }

    #[test]
    fn a_server_rpc_inside_an_open_span_is_a_violation() {
        let latency = Duration::from_millis(1);
        let spans = || {
            vec![
                breaker(100, State::Closed, State::Open),
                breaker(200, State::Open, State::HalfOpen),
            ]
        };
        // Sent at 100 just before opening (arrives 101), and the first probe
        // (sent 200, arrives 201): both fine.
        let mut lines = spans();
        lines.extend([server_rpc(101), server_rpc(201)]);
        let verdict = no_rpc_reaches_server_while_breaker_open(&trace(lines), latency);
        assert!(verdict.ok, "{}", verdict.detail);
        assert!(
            verdict.detail.contains("received 2 RPCs"),
            "{}",
            verdict.detail
        );
        let mut lines = spans();
        lines.push(server_rpc(150));
        let verdict = no_rpc_reaches_server_while_breaker_open(&trace(lines), latency);
        assert!(!verdict.ok);
        assert!(
            verdict.detail.contains("from 100 ms to 200 ms"),
            "{}",
            verdict.detail
        );
        // An OPEN never left covers the rest of the run.
        let lines = vec![breaker(100, State::Closed, State::Open), server_rpc(9_000)];
        assert!(!no_rpc_reaches_server_while_breaker_open(&trace(lines), latency).ok);
    }

    /// TCP may retransmit a request the network lost and deliver it after
    /// the breaker opened: a call the load sent before the span is late,
    /// not a violation; one sent inside the span is, whatever the trace
    /// position of its server line.
    #[test]
    fn a_call_sent_before_the_span_may_arrive_inside_it() {
        let latency = Duration::from_millis(1);
        // Index 0: the RPC 7 line (sent at 90), index 1: the breaker opens.
        let lines = vec![
            rpc_sent(7, 90, 0, 310),
            breaker(100, State::Closed, State::Open),
            breaker(400, State::Open, State::HalfOpen),
            server_rpc_of(305, Some(7)),
        ];
        let verdict = no_rpc_reaches_server_while_breaker_open(&trace(lines), latency);
        assert!(verdict.ok, "{}", verdict.detail);
        assert!(
            verdict.detail.contains("(1 sent before"),
            "{}",
            verdict.detail
        );
        // Sent at 150, inside the span.
        let lines = vec![
            rpc_sent(8, 150, 0, 310),
            breaker(100, State::Closed, State::Open),
            breaker(400, State::Open, State::HalfOpen),
            server_rpc_of(305, Some(8)),
        ];
        assert!(!no_rpc_reaches_server_while_breaker_open(&trace(lines), latency).ok);
        // Sent in the instant the breaker opened, after the breaker line.
        let lines = vec![
            breaker(100, State::Closed, State::Open),
            rpc_sent(9, 100, 1, 310),
            breaker(400, State::Open, State::HalfOpen),
            server_rpc_of(305, Some(9)),
        ];
        assert!(!no_rpc_reaches_server_while_breaker_open(&trace(lines), latency).ok);
        // A server line naming no RPC the load sent is a violation.
        let lines = vec![
            breaker(100, State::Closed, State::Open),
            breaker(400, State::Open, State::HalfOpen),
            server_rpc_of(305, Some(99)),
        ];
        assert!(!no_rpc_reaches_server_while_breaker_open(&trace(lines), latency).ok);
    }

    #[test]
    fn limiter_lines_over_either_bound_are_violations() {
        let config = LimiterConfig {
            max_concurrency: 2,
            max_queue_len: 1,
            ..LimiterConfig::default()
        };
        let limiter = |at_ms, in_flight, queued| {
            line(
                at_ms,
                CLIENT_HOST,
                TraceEvent::Limiter { in_flight, queued },
            )
        };
        let fine = vec![limiter(1, 1, 0), limiter(2, 2, 1), limiter(3, 0, 0)];
        let verdict = limiter_inflight_within_limit(&trace(fine), &config);
        assert!(verdict.ok);
        assert!(
            verdict.detail.contains("peak 2 in flight"),
            "{}",
            verdict.detail
        );
        for (in_flight, queued) in [(3, 0), (2, 2)] {
            let over = vec![limiter(1, in_flight, queued)];
            assert!(!limiter_inflight_within_limit(&trace(over), &config).ok);
        }
    }
}
