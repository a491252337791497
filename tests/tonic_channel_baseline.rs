//! Why squall exists, as a test.
//!
//! A tonic `Channel` with default settings is put through the same black
//! hole as the pool, talking to the black-holed server only. It has no
//! keepalive, so it never notices its connection died: turmoil's TCP (like
//! a real connection whose NAT entry is gone) stays wedged after the heal,
//! and every RPC until the end of the run times out. The pool, on the same
//! single server, closes the zombie, reconnects after the heal and serves.

use std::time::Duration;

use squall_scenarios::{DEFAULT_SEED, builtin::black_hole};
use squall_sim::{ClientKind, run};
use squall_suite::rpcs_sent_between;
use tonic::Code;

const LAST_TEN_SECONDS: (Duration, Duration) = (Duration::from_secs(50), Duration::from_secs(60));
const SERVER_2: &str = "server-2";

#[test]
fn default_tonic_channel_still_fails_at_the_end_but_the_pool_recovers() {
    let mut world = black_hole(DEFAULT_SEED).world;

    world.client = ClientKind::TonicChannel {
        target: SERVER_2.into(),
    };
    let channel = run(&world);
    channel.outcome.clone().expect("the channel run completes");
    let late = rpcs_sent_between(&channel.trace, LAST_TEN_SECONDS.0, LAST_TEN_SECONDS.1);
    assert_eq!(late.len(), 100, "10 s of load at 10 RPC/s");
    for (line, rpc) in &late {
        // tonic reports its own expired `grpc-timeout` as CANCELLED.
        assert!(
            matches!(rpc.result, Err(Code::Cancelled | Code::DeadlineExceeded)),
            "{line}"
        );
    }
    // It worked before the fault: the failures are the black hole's doing.
    let early = rpcs_sent_between(&channel.trace, Duration::ZERO, Duration::from_secs(5));
    assert!(!early.is_empty() && early.iter().all(|(_, rpc)| rpc.result.is_ok()));

    let mut pool_world = black_hole(DEFAULT_SEED).world;
    let ClientKind::Pool { targets, .. } = &mut pool_world.client else {
        unreachable!("the black-hole scenario runs a pool");
    };
    *targets = vec![SERVER_2.into()];
    let pool = run(&pool_world);
    pool.outcome.clone().expect("the pool run completes");
    let late = rpcs_sent_between(&pool.trace, LAST_TEN_SECONDS.0, LAST_TEN_SECONDS.1);
    assert_eq!(late.len(), 100);
    for (line, rpc) in &late {
        assert!(rpc.result.is_ok(), "{line}");
    }
}
