//! A load ramp: an open loop whose rate follows points over simulated time
//! (`Pace::Ramp`), for diurnal and step loads.
//!
//! Users rely on the rate being what the points say at each moment: linear
//! between two points, one RPC `1 / rate` after the one before, rate read
//! when that one was sent; and on the sends landing on the simulation's
//! 1 ms clock exactly, so a ramp's run is as replayable as any other.

mod common;

use common::*;
use squall_sim::{Pace, Ramp, RampPoint};

/// From 1 RPC/s at 0 s to 11 RPC/s at 10 s: the rate at `t` seconds is
/// `1 + t`. The load starts at 1 s and stops at 11 s.
fn ramp_world() -> squall_sim::WorldConfig {
    let mut w = world(1, &["server-1"], secs(11), Vec::new());
    w.load.pace = Pace::Ramp(
        Ramp::new(vec![
            RampPoint {
                at: secs(0),
                rate: 1,
            },
            RampPoint {
                at: secs(10),
                rate: 11,
            },
        ])
        .expect("a valid ramp"),
    );
    w
}

#[test]
fn sends_follow_the_rate_at_each_send() {
    let trace = run_ok(&ramp_world());
    let sent: Vec<u128> = trace
        .rpcs()
        .map(|(_, rpc)| rpc.sent_at.as_millis())
        .collect();
    // At 1 s the rate is 2/s: the next send 500 ms later; at 1.5 s it is
    // 2.5/s: 400 ms; at 1.9 s 2.9/s: 344.8 ms, so the next RPC is due at
    // 2,244.8 ms and sent at the simulation's next millisecond, 2,245.
    assert_eq!(sent[..4], [1000, 1500, 1900, 2245]);
    // Per second, the sends count about the rate in that second: rising.
    let per_second: Vec<usize> = (1..11)
        .map(|s| sent_between(&trace, secs(s), secs(s + 1)).len())
        .collect();
    assert!(
        per_second.windows(2).all(|w| w[0] <= w[1]),
        "the rate rises: {per_second:?}"
    );
    for (second, count) in (1u64..11).zip(&per_second) {
        // Between `1 + s` and `2 + s` RPCs per second during second `s`.
        let (low, high) = (1 + second as usize, 2 + second as usize);
        assert!(
            (low..=high).contains(count),
            "second {second}: {count} sends, expected {low}..={high}: {per_second:?}"
        );
    }
    assert!(
        trace.rpcs().all(|(_, rpc)| rpc.sent_at < secs(11)),
        "nothing is sent at or after the load's stop"
    );
}
