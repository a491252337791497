//! What `PoolConfig::coalesce_request_writes` changes on the wire, where
//! users see it: how soon TCP gives up on a connection whose RPCs go into
//! a black hole. A coalescing pool writes a unary RPC as one segment, and
//! with one segment outstanding Linux's tail loss probe allows for a
//! delayed ACK (`rto_min`) where with two it waits 2 jiffies; so, at one
//! RPC per connection at a time, `TCP_USER_TIMEOUT` fires ~190 ms later.
//! Every other part of the run (routing, keepalive, reconnects) is the
//! same pool's.

mod common;

use std::time::Duration;

use common::*;
use squall_pool::{CloseCause, PoolConfig};
use squall_sim::{BlackHole, ClientKind, Fault, Trace, WorldConfig, check};

const FAULT_AT: Duration = Duration::from_millis(5_050);

/// Two servers, RPCs every 100 ms, server-2 a black hole from `FAULT_AT`
/// until the end; the pool coalescing or not.
fn black_hole_world(coalesce_request_writes: bool) -> WorldConfig {
    let fault = Fault::BlackHole(BlackHole {
        a: "client".to_owned(),
        b: "server-2".to_owned(),
    });
    let mut world = world(
        2,
        &["server-1", "server-2"],
        secs(10),
        vec![at(FAULT_AT, None, fault)],
    );
    world.client = ClientKind::Pool {
        config: PoolConfig {
            coalesce_request_writes,
            ..pool_config(1)
        },
        targets: hosts(&["server-1", "server-2"]),
    };
    world
}

/// Each connection the black hole cut off: when it first carried an RPC
/// into the hole, and when and why the pool closed it.
fn detections(trace: &Trace) -> Vec<(Duration, Option<Duration>, Option<CloseCause>)> {
    check::detections(trace)
        .into_iter()
        .map(|d| {
            let first_into_hole = trace
                .rpcs()
                .filter(|(_, r)| r.conn == Some(d.conn) && r.sent_at >= FAULT_AT)
                .map(|(_, r)| r.sent_at)
                .min()
                .expect("each connection carried an RPC into the hole");
            (first_into_hole, d.detected_at, d.cause)
        })
        .collect()
}

/// Both ways, TCP's user timeout closes each connection to the black hole
/// at exactly the instant Linux's timers give for its first RPC into it:
/// two segments by default, one when coalescing, ~190 ms later.
#[test]
fn coalescing_moves_user_timeout_detection_by_the_probes_delayed_ack_allowance() {
    for (coalesce, abort) in [
        (false, user_timeout_abort as fn(Duration) -> Duration),
        (true, user_timeout_abort_one_segment),
    ] {
        let trace = run_ok(&black_hole_world(coalesce));
        let text = interesting(&trace);
        let detections = detections(&trace);
        assert_eq!(detections.len(), 2, "coalescing {coalesce}\n{text}");
        for (first_into_hole, at, cause) in detections {
            assert_eq!(
                cause,
                Some(CloseCause::UserTimeout),
                "coalescing {coalesce}\n{text}"
            );
            assert_eq!(
                at,
                Some(abort(first_into_hole)),
                "coalescing {coalesce}\n{text}"
            );
        }
    }
    let sent = FAULT_AT;
    let later = user_timeout_abort_one_segment(sent) - user_timeout_abort(sent);
    assert!(
        (ms(150)..ms(250)).contains(&later),
        "one segment is detected {later:?} later"
    );
}
