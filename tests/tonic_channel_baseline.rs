//! Why squall exists, as a test.
//!
//! A tonic `Channel` with default settings is put through the same black
//! hole as the pool, talking to the black-holed server only. It has no
//! keepalive and no TCP user timeout, so it never notices its connection
//! died: as on Linux, its TCP waits the outage out in exponential backoff
//! (RTOs of 0.2, 0.4, ... 12.8 s), and the first retransmission after the
//! heal at 25 s comes almost 6 s later. Every RPC until then fails. The
//! pool, on the same single server, closes the zombie at once (user
//! timeout), reconnects right after the heal and serves.

use std::time::Duration;

use squall_scenarios::{
    DEFAULT_SEED, library,
    script::{Client, ClientKind, PoolOverrides},
};
use squall_sim::run;
use squall_suite::rpcs_sent_between;
use tonic::Code;

const HEAL_AT: Duration = Duration::from_secs(25);
/// From 1 s after the heal (the pool has reconnected by then) for 4 s.
const AFTER_HEAL: (Duration, Duration) = (Duration::from_secs(26), Duration::from_secs(30));
const LAST_TEN_SECONDS: (Duration, Duration) = (Duration::from_secs(50), Duration::from_secs(60));

#[test]
fn default_tonic_channel_stays_down_after_the_heal_but_the_pool_recovers() {
    let black_hole = library::builtin("black-hole").expect("the built-in script is valid");
    let mut script = black_hole.clone();
    script.client = Client {
        kind: ClientKind::TonicChannel,
        targets: vec!["server-2".into()],
    };
    script.pool = PoolOverrides::default();
    let channel = run(&script.world(DEFAULT_SEED));
    channel.outcome.clone().expect("the channel run completes");
    let stuck = rpcs_sent_between(&channel.trace, AFTER_HEAL.0, AFTER_HEAL.1);
    assert_eq!(stuck.len(), 40, "4 s of load at 10 RPC/s");
    for (line, rpc) in &stuck {
        // tonic reports its own expired `grpc-timeout` as CANCELLED; the
        // last few fail otherwise when the backlog bursts out at the resend.
        assert!(rpc.result.is_err(), "{line}");
    }
    let timed_out = stuck
        .iter()
        .filter(|(_, rpc)| matches!(rpc.result, Err(Code::Cancelled | Code::DeadlineExceeded)))
        .count();
    assert!(timed_out >= 30, "{timed_out} of 40 timed out");
    // It worked before the fault, and works again once its TCP resends:
    // the failures are the black hole's doing.
    let early = rpcs_sent_between(&channel.trace, Duration::ZERO, Duration::from_secs(5));
    assert!(!early.is_empty() && early.iter().all(|(_, rpc)| rpc.result.is_ok()));
    let late = rpcs_sent_between(&channel.trace, LAST_TEN_SECONDS.0, LAST_TEN_SECONDS.1);
    assert!(late.iter().all(|(_, rpc)| rpc.result.is_ok()));
    let first_ok_after_heal = channel
        .trace
        .rpcs()
        .filter(|(line, rpc)| rpc.result.is_ok() && line.at > HEAL_AT)
        .map(|(line, _)| line.at)
        .next()
        .expect("the channel recovers in the end");
    assert!(
        first_ok_after_heal > AFTER_HEAL.1,
        "{first_ok_after_heal:?}"
    );

    let mut script = black_hole;
    script.client.targets = vec!["server-2".into()];
    let pool = run(&script.world(DEFAULT_SEED));
    pool.outcome.clone().expect("the pool run completes");
    let served = rpcs_sent_between(&pool.trace, AFTER_HEAL.0, AFTER_HEAL.1);
    assert_eq!(served.len(), 40);
    for (line, rpc) in &served {
        assert!(rpc.result.is_ok(), "{line}");
    }
}
