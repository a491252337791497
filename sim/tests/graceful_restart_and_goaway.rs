//! Graceful restart and graceful GOAWAY storms: the server says goodbye
//! properly (GOAWAY NO_ERROR on every connection).
//!
//! Users rely on the pool replacing every GOAWAY'd connection without
//! waiting for keepalive, routing around a server that is down for a
//! restart, and coming back when it listens again. These tests record how
//! many RPCs fail: none when the server drains in time (hyper's two-phase
//! GOAWAY lets in-flight streams finish, and the pool resends a stream
//! above the last-stream-id, never processed, on another connection), and
//! only those it cuts off when it does not.

mod common;

use std::time::Duration;

use common::*;
use squall_pool::{CloseCause, GoawayCode};
use squall_sim::{
    Fault, GoawayStorm, GracefulRestart, SlowServer, Trace, TraceEvent, server::GoawayMode,
};

const FAULT_AT: Duration = Duration::from_secs(5);

fn restart(drain_timeout: Duration, downtime: Duration) -> Fault {
    Fault::GracefulRestart(GracefulRestart {
        hosts: hosts(&["server-2"]),
        drain_timeout,
        downtime,
    })
}

fn at_of(trace: &Trace, host: &str, event: &str) -> Vec<Duration> {
    lines(trace, event)
        .into_iter()
        .filter(|l| l.host == host)
        .map(|l| l.at)
        .collect()
}

/// server-2 restarts at 5 s (drain up to 1 s, 2 s down): both its
/// connections get GOAWAY at 5 s and the pool closes them as peer_closed
/// within 2 ms; the server has drained by 5002 ms (none aborted), listens
/// again at 7002 ms, refuses connects in between, and the pool is back on
/// it within its backoff. server-1 takes every RPC meanwhile; none fails.
#[test]
fn graceful_restart_drains_refuses_and_comes_back() {
    let w = world(
        2,
        &["server-1", "server-2"],
        secs(15),
        vec![at(FAULT_AT, None, restart(secs(1), secs(2)))],
    );
    let trace = run_ok(&w);
    let text = interesting(&trace);
    assert_eq!(
        at_of(&trace, "server-2", "server_goaway"),
        [FAULT_AT; 2],
        "{text}"
    );
    let goodbyes: Vec<_> = trace
        .pool_closes("server-2", FAULT_AT, FAULT_AT + ms(3))
        .into_iter()
        .filter(|(_, cause)| *cause == CloseCause::PeerClosed)
        .collect();
    assert_eq!(goodbyes.len(), 2, "{text}");
    let stopped = lines(&trace, "server_stopped");
    assert_eq!(stopped.len(), 1);
    assert_eq!(
        stopped[0].to_string(),
        "5002 server-2 server_stopped aborted=0"
    );
    let listening = at_of(&trace, "server-2", "server_listening");
    assert_eq!(listening, [Duration::ZERO, ms(7002)], "{text}");
    let refused = trace
        .pool_closes("server-2", FAULT_AT, ms(7002))
        .into_iter()
        .filter(|(_, c)| c.to_string().contains("ConnectionRefused"))
        .count();
    assert_eq!(refused, 4, "{text}");
    let back: Vec<_> = lines(&trace, "conn_ready")
        .into_iter()
        .filter(|l| l.at > FAULT_AT && l.to_string().contains("endpoint=server-2"))
        .map(|l| l.at)
        .collect();
    assert_eq!(back.len(), 2, "{text}");
    assert!(
        back.iter().all(|at| *at > ms(7002) && *at < ms(10_000)),
        "{text}"
    );
    assert_eq!(
        trace.rpcs().filter(|(_, r)| r.result.is_err()).count(),
        0,
        "{text}"
    );
}

/// A drain timeout shorter than the streams in flight: server-2 answers
/// after 500 ms, the drain gives up after 100 ms and closes the rest. The
/// RPCs still in flight on server-2 fail (the pool does not retry them):
/// observed, two connections aborted and two RPCs failed.
#[test]
fn graceful_restart_closes_what_did_not_drain_in_time() {
    let slow = Fault::SlowServer(SlowServer {
        hosts: hosts(&["server-2"]),
        added_latency: ms(500),
    });
    let w = world(
        2,
        &["server-1", "server-2"],
        secs(15),
        vec![
            at(secs(4), None, slow),
            at(FAULT_AT, None, restart(ms(100), secs(1))),
        ],
    );
    let trace = run_ok(&w);
    let text = interesting(&trace);
    let stopped = lines(&trace, "server_stopped");
    assert_eq!(stopped.len(), 1, "{text}");
    assert_eq!(stopped[0].at, FAULT_AT + ms(100), "{text}");
    let aborted = match stopped[0].event {
        TraceEvent::ServerStopped { aborted } => aborted,
        _ => unreachable!(),
    };
    let failed: Vec<_> = trace.rpcs().filter(|(_, r)| r.result.is_err()).collect();
    assert!(aborted >= 1, "{text}");
    assert!(!failed.is_empty(), "{text}");
    for (line, rpc) in &failed {
        assert_eq!(rpc.endpoint.as_deref(), Some("server-2"), "{line}");
        assert!(
            rpc.sent_at <= FAULT_AT && line.at <= FAULT_AT + ms(101),
            "{line}"
        );
    }
    assert_eq!((aborted, failed.len()), (2, 2), "{text}");
}

fn storm(every: Option<Duration>) -> Trace {
    storm_of(GoawayMode::Graceful, every)
}

fn storm_of(mode: GoawayMode, every: Option<Duration>) -> Trace {
    let fault = Fault::GoawayStorm(GoawayStorm {
        hosts: hosts(&["server-1", "server-2"]),
        every,
        mode,
    });
    let w = world(
        2,
        &["server-1", "server-2"],
        secs(15),
        vec![at(FAULT_AT, Some(secs(5)), fault)],
    );
    run_ok(&w)
}

/// One GOAWAY round on both servers: all four connections get GOAWAY at
/// 5 s, the pool replaces every one (peer_closed, then ready again within
/// 3 ms), the servers keep accepting, and no RPC fails.
#[test]
fn goaway_storm_once_replaces_every_connection_without_failures() {
    let trace = storm(None);
    let text = interesting(&trace);
    let goaways = lines(&trace, "server_goaway");
    assert_eq!(goaways.len(), 4, "{text}");
    assert!(goaways.iter().all(|l| l.at == FAULT_AT));
    for server in ["server-1", "server-2"] {
        let closed = trace.pool_closes(server, FAULT_AT, FAULT_AT + ms(3));
        assert_eq!(closed.len(), 2, "{text}");
        assert!(
            closed.iter().all(|(_, c)| *c == CloseCause::PeerClosed),
            "{text}"
        );
    }
    let ready = lines(&trace, "conn_ready")
        .into_iter()
        .filter(|l| l.at > FAULT_AT && l.at <= FAULT_AT + ms(3))
        .count();
    assert_eq!(ready, 4, "{text}");
    assert_eq!(
        trace.rpcs().filter(|(_, r)| r.result.is_err()).count(),
        0,
        "{text}"
    );
}

/// A storm every second from 5 s until the heal at 10 s: five rounds (the
/// heal at 10 s wins over a sixth), each a GOAWAY on every connection then
/// open. Each connection lives under a second, less than
/// `backoff.initial`, but carried RPCs, which proves the server healthy:
/// every one is replaced at once (a connection sent away before carrying
/// anything would wait out the backoff), and no RPC fails. Every round
/// reaches all four connections: each replacement is open on the server
/// 3 ms after the round (one round trip to connect, and the server accepts
/// when the client's ACK arrives, as on Linux).
#[test]
fn repeating_goaway_storm_rounds_until_healed() {
    let trace = storm(Some(secs(1)));
    let text = interesting(&trace);
    let goaways = lines(&trace, "server_goaway");
    let mut rounds: Vec<Duration> = goaways.iter().map(|l| l.at).collect();
    rounds.dedup();
    assert_eq!(
        rounds,
        [secs(5), secs(6), secs(7), secs(8), secs(9)],
        "{text}"
    );
    assert_eq!(goaways.len(), 20, "{text}");
    let peer_closed = lines(&trace, "conn_closed")
        .into_iter()
        .filter(|l| l.to_string().contains("cause=peer_closed"))
        .count();
    assert_eq!(peer_closed, 20, "{text}");
    let failed: Vec<_> = trace.rpcs().filter(|(_, r)| r.result.is_err()).collect();
    assert!(failed.is_empty(), "{text}");
}

/// Both servers answer 300 ms late from 4 s, so four RPCs are in flight
/// when a storm of `mode` hits at 5 s.
fn storm_with_streams_in_flight(mode: GoawayMode) -> Trace {
    let slow = Fault::SlowServer(SlowServer {
        hosts: hosts(&["server-1", "server-2"]),
        added_latency: ms(300),
    });
    let storm = Fault::GoawayStorm(GoawayStorm {
        hosts: hosts(&["server-1", "server-2"]),
        every: None,
        mode,
    });
    let w = world(
        2,
        &["server-1", "server-2"],
        secs(10),
        vec![at(secs(4), None, slow), at(FAULT_AT, None, storm)],
    );
    run_ok(&w)
}

/// RPCs in flight at the storm: sent in [4700, 5000] ms (each takes 302 ms).
fn in_flight_at_storm(trace: &Trace) -> Vec<u64> {
    sent_between(trace, ms(4700), FAULT_AT + TICK)
        .into_iter()
        .map(|(_, r)| r.id)
        .collect()
}

/// Graceful, with streams in flight: they finish (hyper's two-phase GOAWAY
/// lets them), so nothing fails.
#[test]
fn graceful_storm_lets_streams_in_flight_finish() {
    let trace = storm_with_streams_in_flight(GoawayMode::Graceful);
    let text = interesting(&trace);
    assert_eq!(in_flight_at_storm(&trace).len(), 4);
    assert_eq!(
        trace.rpcs().filter(|(_, r)| r.result.is_err()).count(),
        0,
        "{text}"
    );
}

/// Abrupt (GOAWAY last-stream-id 0, then close, injected by the
/// frame-aware relay): every connection closes 1 ms later as peer_closed,
/// and the pool has four new connections 3 ms after the storm (the
/// redial's handshake takes a 2 ms round trip, as a real one). GOAWAY
/// says the RPCs in flight were never processed, so the pool resends them
/// on the new connections (it waits for them: the pool is CONNECTING, not
/// failing) and none fails.
#[test]
fn abrupt_storm_resends_the_streams_in_flight() {
    let trace = storm_with_streams_in_flight(GoawayMode::Abrupt);
    let text = interesting(&trace);
    let goaways = lines(&trace, "server_goaway");
    assert_eq!(goaways.len(), 4, "{text}");
    assert!(
        goaways
            .iter()
            .all(|l| l.to_string().ends_with("mode=abrupt"))
    );
    for server in ["server-1", "server-2"] {
        let closed = trace.pool_closes(server, FAULT_AT, FAULT_AT + ms(2));
        assert_eq!(closed.len(), 2, "{text}");
        assert!(
            closed
                .iter()
                .all(|(at, c)| *at == FAULT_AT + TICK && *c == CloseCause::PeerClosed),
            "{text}"
        );
    }
    let failed: Vec<_> = trace.rpcs().filter(|(_, r)| r.result.is_err()).collect();
    assert!(failed.is_empty(), "{text}");
    let in_flight = in_flight_at_storm(&trace);
    assert_eq!(in_flight.len(), 4, "{text}");
    for (line, rpc) in trace.rpcs().filter(|(_, r)| in_flight.contains(&r.id)) {
        // Resent on a new connection ready at 5 003 ms, 300 ms at the
        // server, 2 ms on the links.
        assert_eq!(line.at, FAULT_AT + ms(305), "{line}");
        assert!(rpc.conn.is_some_and(|c| c.0 > 4), "{line}");
    }
    let ready = lines(&trace, "conn_ready")
        .into_iter()
        .filter(|l| l.at > FAULT_AT && l.at <= FAULT_AT + ms(3))
        .count();
    assert_eq!(ready, 4, "{text}");
}

/// ENHANCE_YOUR_CALM "too_many_pings", then close: the pool records the
/// GOAWAY's code as the cause (`peer_goaway`, not a bare transport error
/// or peer_closed); the streams the server had taken (its last-stream-id
/// covers them) fail with UNAVAILABLE, the one sent as the storm hit is
/// above it and is resent; reconnects at once, with each server's
/// keepalive interval doubled once.
#[test]
fn too_many_pings_closes_with_the_goaways_code() {
    let trace = storm_with_streams_in_flight(GoawayMode::TooManyPings);
    let text = interesting(&trace);
    for server in ["server-1", "server-2"] {
        let closed = trace.pool_closes(server, FAULT_AT, FAULT_AT + ms(2));
        assert_eq!(closed.len(), 2, "{text}");
        for (at, cause) in closed {
            assert_eq!(at, FAULT_AT + TICK);
            assert_eq!(
                cause,
                CloseCause::PeerGoaway(GoawayCode::ENHANCE_YOUR_CALM),
                "{text}"
            );
        }
    }
    let mut failed: Vec<u64> = trace
        .rpcs()
        .filter(|(_, r)| r.result.is_err())
        .map(|(_, r)| r.id)
        .collect();
    failed.sort();
    let mut taken: Vec<u64> = sent_between(&trace, ms(4700), FAULT_AT)
        .into_iter()
        .map(|(_, r)| r.id)
        .collect();
    taken.sort();
    assert_eq!(failed, taken, "{text}");
    assert!(
        trace
            .rpcs()
            .filter(|(_, r)| r.result.is_err())
            .all(|(_, r)| r.result == Err(tonic::Code::Unavailable))
    );
    assert_eq!(lines(&trace, "keepalive_throttled").len(), 2, "{text}");
}
