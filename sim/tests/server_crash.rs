//! Server crash and restart: a process crash (the kernel closes the
//! sockets) and a silent machine crash (partition → crash → bounce →
//! repair).
//!
//! Users rely on the pool telling the two apart by their effect: a process
//! crash ends connections at once (no waiting for keepalive), a silent crash
//! leaves zombies that keepalive closes within interval + timeout; in both
//! cases RPCs move to the other server and the pool reconnects after the
//! restart. The run is deterministic: the same world gives the same trace.

mod common;

use std::{io, time::Duration};

use common::*;
use squall_pool::CloseCause;
use squall_sim::{Fault, ServerCrash, Trace, TraceEvent, WorldConfig, check};

const CRASH_AT: Duration = Duration::from_secs(5);
const RESTART_AT: Duration = Duration::from_secs(10);

fn crash_world(silent: bool) -> WorldConfig {
    let fault = Fault::ServerCrash(ServerCrash {
        hosts: hosts(&["server-2"]),
        silent,
    });
    world(
        2,
        &["server-1", "server-2"],
        secs(20),
        vec![at(CRASH_AT, Some(RESTART_AT - CRASH_AT), fault)],
    )
}

fn ready_after(trace: &Trace, server: &str, from: Duration) -> Vec<Duration> {
    lines(trace, "conn_ready")
        .into_iter()
        .filter(|l| l.at >= from)
        .filter(|l| matches!(&l.event, TraceEvent::Pool { endpoint, .. } if endpoint == server))
        .map(|l| l.at)
        .collect()
}

/// Process crash: both connections end in the crash's own millisecond with
/// a transport error (the crashed process's sockets are closed: not a
/// zombie). Its host's kernel stays up, so every reconnect until the
/// restart is refused one round trip (2 ms) after it began, and the pool
/// backs off between them; after the restart each slot's next attempt
/// connects one round trip later. Only the RPC in flight on server-2 at
/// the crash fails.
#[test]
fn process_crash_ends_connections_at_once_and_restart_reconnects() {
    let trace = run_ok(&crash_world(false));
    let text = interesting(&trace);

    let crash = trace.pool_closes("server-2", CRASH_AT, CRASH_AT + TICK);
    assert_eq!(crash.len(), 2, "{text}");
    for (_, cause) in &crash {
        // The crashed process's kernel closes its sockets (FIN) and
        // answers the pool's next write with RST, which Linux reports to
        // a socket past the peer's FIN as EPIPE. Kernel mode agrees
        // (`squall run server-crash --net kernel`).
        assert!(
            matches!(
                cause,
                CloseCause::Transport {
                    io: Some(io::ErrorKind::BrokenPipe),
                    ..
                }
            ),
            "{cause}\n{text}"
        );
    }
    let refused = trace.pool_closes("server-2", CRASH_AT + TICK, RESTART_AT + TICK);
    assert!(refused.len() >= 4, "two slots, backing off\n{text}");
    for (_, cause) in &refused {
        assert!(cause.to_string().contains("ConnectionRefused"), "{cause}");
    }
    let attempts: Vec<Duration> = lines(&trace, "conn_connecting")
        .into_iter()
        .filter(|l| l.at >= CRASH_AT && l.to_string().contains("endpoint=server-2"))
        .map(|l| l.at)
        .collect();
    for (at, _) in &refused {
        assert!(
            attempts.contains(&(*at - ms(2))),
            "refused at {at:?}\n{text}"
        );
    }
    let ready = ready_after(&trace, "server-2", CRASH_AT);
    assert_eq!(ready.len(), 2, "{text}");
    for at in &ready {
        assert!(*at > RESTART_AT, "{text}");
        assert!(attempts.contains(&(*at - ms(2))), "ready at {at:?}\n{text}");
    }

    assert_eq!(lines(&trace, "host_crash").len(), 1);
    assert_eq!(lines(&trace, "host_restart")[0].at, RESTART_AT);
    let failed: Vec<u64> = trace
        .rpcs()
        .filter(|(_, r)| r.result.is_err())
        .map(|(_, r)| r.id)
        .collect();
    assert_eq!(failed, [41], "{text}");
    // While server-2 is down, server-1 serves everything.
    for (line, rpc) in sent_between(&trace, CRASH_AT + TICK, RESTART_AT) {
        assert_eq!(rpc.endpoint.as_deref(), Some("server-1"), "{line}");
        assert!(rpc.result.is_ok(), "{line}");
    }
}

/// Silent crash: nothing reaches the client, so both connections are
/// zombies until TCP's user timeout ends them under the load (about
/// 1.23 s after the first RPC each carried into the crash) or keepalive does,
/// within 3 s; the reconnects' SYNs go unanswered (a dead machine), so
/// they stay pending in SYN retries, 1 s apart, and complete on the first
/// retry after the restart.
#[test]
fn silent_crash_leaves_zombies_that_keepalive_closes() {
    let trace = run_ok(&crash_world(true));
    let text = interesting(&trace);
    let zombies: Vec<_> = trace
        .pool_closes("server-2", CRASH_AT, RESTART_AT)
        .into_iter()
        .filter(|(_, cause)| cause.is_dead_peer())
        .collect();
    assert_eq!(zombies.len(), 2, "{text}");
    for (at, _) in &zombies {
        assert!(
            *at >= user_timeout_abort(CRASH_AT) && *at <= CRASH_AT + secs(3),
            "{at:?}\n{text}"
        );
    }
    assert!(
        trace
            .pool_closes("server-2", CRASH_AT, user_timeout_abort(CRASH_AT))
            .is_empty(),
        "{text}"
    );
    let found = check::detections(&trace);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(check::check_detection(&found, secs(3) + TICK).ok);
    let ready = ready_after(&trace, "server-2", CRASH_AT);
    assert_eq!(ready.len(), 2, "{text}");
    for at in ready {
        assert!(
            at > RESTART_AT && at <= RESTART_AT + secs(1) + ms(10),
            "{at:?}\n{text}"
        );
    }
}

/// Determinism: a fault world run twice gives byte-identical traces.
#[test]
fn same_world_same_trace() {
    let first = run_ok(&crash_world(true));
    let second = run_ok(&crash_world(true));
    if let Some((line, ours, theirs)) = first.first_divergence(&second) {
        panic!("diverged at line {line}:\n  first:  {ours}\n  second: {theirs}");
    }
    assert_eq!(first.text(), second.text());
    assert_ne!(first.hash(), run_ok(&crash_world(false)).hash());
}
