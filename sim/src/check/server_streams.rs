//! Server streams (`server_streams_end_with_their_rpc`, for a world whose
//! servers record RPCs): no server keeps a stream open for an RPC the
//! client has finished with. What it catches: a cancelled hedge copy, an
//! RPC past its deadline or an abandoned retry attempt whose stream the
//! client forgot to reset, so that the server goes on working for nobody.
//!
//! Every `server_rpc` line that names the load's RPC must be followed by
//! its `server_rpc_end` (or its server's `host_crash`) no later than
//! `bound` after both the client's outcome of that RPC and the request's
//! arrival: the reset has one trip across the network to make. The check
//! needs a path for the reset to take, so a stream is not judged when any
//! fault that cuts or degrades links was active between its arrival and
//! its bound, when it came through a middlebox one of whose flows expired
//! by then, or when the trace ends before its bound.

use std::{collections::BTreeMap, time::Duration};

use crate::{
    check::{Invariant, invariant},
    fault::Cut,
    trace::{Trace, TraceEvent},
    world::CLIENT_HOST,
};

/// Every server stream of a finished RPC ends within `bound` of the
/// client's outcome (and of its own arrival), where the path is up.
pub fn server_streams_end_with_their_rpc(trace: &Trace, bound: Duration) -> Invariant {
    invariant(
        "server_streams_end_with_their_rpc",
        check(trace, bound).map(|tally| {
            format!(
                "{} server streams of finished RPCs ended within {} ms of the client's outcome ({} not judged: a fault on the path, or the run ended first)",
                tally.judged,
                bound.as_millis(),
                tally.not_judged
            )
        }),
    )
}

#[derive(Default)]
struct Tally {
    judged: usize,
    not_judged: usize,
}

/// One server stream, from its `server_rpc` line.
struct Stream<'t> {
    server: &'t str,
    peer: &'t str,
    rpc: u64,
    arrived: Duration,
}

fn check(trace: &Trace, bound: Duration) -> Result<Tally, String> {
    let finished: BTreeMap<u64, Duration> =
        trace.rpcs().map(|(line, rpc)| (rpc.id, line.at)).collect();
    let impaired = Impairments::of(trace);
    let run_end = trace.lines.last().map_or(Duration::ZERO, |line| line.at);
    let mut tally = Tally::default();
    for (index, line) in trace.lines.iter().enumerate() {
        let TraceEvent::ServerRpc {
            peer,
            rpc: Some(rpc),
            ..
        } = &line.event
        else {
            continue;
        };
        let stream = Stream {
            server: &line.host,
            peer,
            rpc: *rpc,
            arrived: line.at,
        };
        // An RPC still running when the run ended has no outcome to judge by.
        let Some(&outcome) = finished.get(rpc) else {
            tally.not_judged += 1;
            continue;
        };
        let due = outcome.max(stream.arrived).saturating_add(bound);
        if due > run_end || impaired.between(&stream, due) {
            tally.not_judged += 1;
            continue;
        }
        tally.judged += 1;
        let ended = end_of(trace, index + 1, &stream);
        if ended.is_none_or(|at| at > due) {
            let ended = ended.map_or("never".to_owned(), |at| format!("at {} ms", at.as_millis()));
            return Err(format!(
                "{} kept the stream of rpc {} from {} (arrived at {} ms) open after the client finished with it at {} ms: it ended {ended}, past {} ms",
                stream.server,
                stream.rpc,
                stream.peer,
                stream.arrived.as_millis(),
                outcome.as_millis(),
                due.as_millis()
            ));
        }
    }
    Ok(tally)
}

/// When `stream` ended: its `server_rpc_end`, or its server's crash, the
/// first of them from line `from` on. An RPC sent twice to one server
/// (a retry) has two streams in turn; each matches the first end after
/// it, which is its own as long as the first ended before the second
/// began, as a retry's does.
fn end_of(trace: &Trace, from: usize, stream: &Stream<'_>) -> Option<Duration> {
    trace.lines[from..]
        .iter()
        .find(|line| {
            line.host == stream.server
                && match &line.event {
                    TraceEvent::ServerRpcEnd { peer, rpc, .. } => {
                        *rpc == stream.rpc && peer == stream.peer
                    }
                    TraceEvent::HostCrash => true,
                    _ => false,
                }
        })
        .map(|line| line.at)
}

/// When a reset could not cross the network: faults that cut or degrade
/// links, and middlebox flows that expired.
struct Impairments {
    /// `[start, heal)` of every fault with a cut; `Duration::MAX` unhealed.
    cuts: Vec<(Duration, Duration)>,
    /// The first NAT flow expiry of the run, if any.
    first_expiry: Option<Duration>,
}

impl Impairments {
    fn of(trace: &Trace) -> Self {
        let mut open: Vec<(&crate::fault::Fault, Duration)> = Vec::new();
        let mut cuts = Vec::new();
        let mut first_expiry = None;
        for line in &trace.lines {
            match &line.event {
                TraceEvent::FaultStart(fault) if fault.cut() != Cut::None => {
                    open.push((fault, line.at));
                }
                TraceEvent::FaultHeal(fault) => {
                    if let Some(i) = open.iter().position(|(f, _)| *f == fault) {
                        let (_, start) = open.remove(i);
                        cuts.push((start, line.at));
                    }
                }
                TraceEvent::NatFlowExpired { .. } => {
                    first_expiry.get_or_insert(line.at);
                }
                _ => {}
            }
        }
        cuts.extend(open.into_iter().map(|(_, start)| (start, Duration::MAX)));
        Self { cuts, first_expiry }
    }

    /// Whether the path of `stream` may have been down between its arrival
    /// and `due`.
    fn between(&self, stream: &Stream<'_>, due: Duration) -> bool {
        let cut = self
            .cuts
            .iter()
            .any(|&(start, heal)| start <= due && heal > stream.arrived);
        let through_middlebox = !stream
            .peer
            .strip_prefix(CLIENT_HOST)
            .is_some_and(|rest| rest.starts_with(':'));
        let expired = through_middlebox && self.first_expiry.is_some_and(|at| at <= due);
        cut || expired
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;

    use super::*;
    use crate::{
        fault::{BlackHole, Fault},
        load::Call,
        trace::{RpcOutcome, StreamEnd, TraceLine},
    };

    const BOUND: Duration = Duration::from_millis(5);

    fn line(at_ms: u64, host: &str, event: TraceEvent) -> TraceLine {
        TraceLine {
            at: Duration::from_millis(at_ms),
            host: host.into(),
            event,
        }
    }

    fn arrived(at_ms: u64, rpc: u64) -> TraceLine {
        line(
            at_ms,
            "server-2",
            TraceEvent::ServerRpc {
                peer: "client:49152".into(),
                method: "/squall.echo.Echo/Echo".into(),
                rpc: Some(rpc),
            },
        )
    }

    fn ended(at_ms: u64, rpc: u64) -> TraceLine {
        line(
            at_ms,
            "server-2",
            TraceEvent::ServerRpcEnd {
                peer: "client:49152".into(),
                rpc,
                how: StreamEnd::Cancelled,
            },
        )
    }

    fn outcome(at_ms: u64, rpc: u64) -> TraceLine {
        line(
            at_ms,
            "client",
            TraceEvent::Rpc(RpcOutcome {
                id: rpc,
                call: Call::Echo.into(),
                deadline: Duration::from_secs(1),
                conn: None,
                endpoint: None,
                sent_at: Duration::ZERO,
                sent_seq: 0,
                result: Ok(()),
            }),
        )
    }

    fn tail(at_ms: u64) -> TraceLine {
        line(at_ms, "net", TraceEvent::ServerListening)
    }

    fn black_hole() -> Fault {
        Fault::BlackHole(BlackHole {
            a: "client".into(),
            b: "server-2".into(),
        })
    }

    fn verdict(lines: Vec<TraceLine>) -> Invariant {
        server_streams_end_with_their_rpc(&Trace { lines, dropped: 0 }, BOUND)
    }

    #[test]
    fn a_stream_reset_one_trip_after_the_outcome_holds() {
        let v = verdict(vec![
            arrived(1, 7),
            outcome(102, 7),
            ended(104, 7),
            tail(500),
        ]);
        assert!(v.ok, "{}", v.detail);
        assert!(v.detail.starts_with("1 server streams"), "{}", v.detail);
    }

    #[test]
    fn a_stream_left_open_after_the_outcome_is_a_violation() {
        let v = verdict(vec![
            arrived(1, 7),
            outcome(102, 7),
            ended(300, 7),
            tail(500),
        ]);
        assert!(!v.ok);
        assert!(
            v.detail.contains("ended at 300 ms, past 107 ms"),
            "{}",
            v.detail
        );
        let v = verdict(vec![arrived(1, 7), outcome(102, 7), tail(500)]);
        assert!(!v.ok);
        assert!(v.detail.contains("ended never"), "{}", v.detail);
    }

    #[test]
    fn a_crash_ends_every_stream_of_its_server() {
        let crash = line(103, "server-2", TraceEvent::HostCrash);
        let v = verdict(vec![arrived(1, 7), outcome(102, 7), crash, tail(500)]);
        assert!(v.ok, "{}", v.detail);
    }

    #[test]
    fn a_stream_whose_path_was_cut_is_not_judged() {
        let v = verdict(vec![
            arrived(1, 7),
            line(50, "net", TraceEvent::FaultStart(black_hole())),
            outcome(102, 7),
            line(900, "net", TraceEvent::FaultHeal(black_hole())),
            tail(1_000),
        ]);
        assert!(v.ok, "{}", v.detail);
        assert!(v.detail.contains("(1 not judged"), "{}", v.detail);
        // A cut healed before the stream arrived does not excuse it.
        let v = verdict(vec![
            line(0, "net", TraceEvent::FaultStart(black_hole())),
            line(1, "net", TraceEvent::FaultHeal(black_hole())),
            arrived(2, 7),
            outcome(102, 7),
            tail(1_000),
        ]);
        assert!(!v.ok, "{}", v.detail);
    }

    #[test]
    fn a_stream_through_a_middlebox_whose_flow_expired_is_not_judged() {
        let via_nat = |mut l: TraceLine| {
            if let TraceEvent::ServerRpc { peer, .. } = &mut l.event {
                *peer = "nat:40000".into();
            }
            l
        };
        let expiry = line(
            50,
            "nat",
            TraceEvent::NatFlowExpired {
                flow: "client:49152".into(),
                mode: crate::middlebox::Expiry::Silent,
            },
        );
        let v = verdict(vec![
            via_nat(arrived(1, 7)),
            expiry,
            outcome(102, 7),
            tail(500),
        ]);
        assert!(v.ok, "{}", v.detail);
        // The same stream straight from the client is judged.
        let v = verdict(vec![arrived(1, 7), outcome(102, 7), tail(500)]);
        assert!(!v.ok);
    }

    #[test]
    fn streams_the_run_cannot_judge_are_counted_apart() {
        // No outcome: the RPC was still running at the end.
        let v = verdict(vec![arrived(1, 7), tail(500)]);
        assert!(v.ok && v.detail.contains("(1 not judged"), "{}", v.detail);
        // The trace ends before the bound.
        let v = verdict(vec![arrived(1, 7), outcome(102, 7)]);
        assert!(v.ok && v.detail.contains("(1 not judged"), "{}", v.detail);
        // A stream that arrives after the outcome gets its bound from arrival.
        let v = verdict(vec![
            outcome(102, 7),
            arrived(200, 7),
            ended(204, 7),
            tail(500),
        ]);
        assert!(v.ok && v.detail.starts_with("1 server"), "{}", v.detail);
        let failed = |mut l: TraceLine| {
            if let TraceEvent::Rpc(rpc) = &mut l.event {
                rpc.result = Err(Code::DeadlineExceeded);
            }
            l
        };
        let v = verdict(vec![
            arrived(1, 7),
            failed(outcome(1_001, 7)),
            ended(1_002, 7),
            tail(2_000),
        ]);
        assert!(v.ok, "{}", v.detail);
    }
}
