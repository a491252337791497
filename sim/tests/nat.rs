//! NAT middlebox with idle-timeout expiry, silent or RST.
//!
//! Users rely on HTTP/2 keepalive for exactly this: a PING interval shorter
//! than the NAT's idle timeout keeps the flow alive (no expiry, no failure,
//! however long the connection idles); a longer one lets the NAT forget the
//! flow, and then keepalive is what finds the zombie, within interval +
//! timeout of the expiry. A NAT that resets expired flows ends the
//! connection at once instead.
//!
//! The world: one server behind `nat-1` (idle timeout 5 s), a pool with one
//! connection to `nat-1`, and one RPC every 20 s, so the flow idles.

mod common;

use std::{io, time::Duration};

use common::*;
use squall_pool::{CloseCause, ConnEvent, KeepaliveConfig};
use squall_sim::{
    ClientKind, Expiry, Middlebox, MiddleboxKind, Pace, Trace, TraceEvent, WorldConfig,
};

const NAT_IDLE: Duration = Duration::from_secs(5);

fn nat_world(expiry: Expiry, keepalive_interval: Duration, stop: Duration) -> WorldConfig {
    let mut w = world(1, &["nat-1"], stop, vec![]);
    w.middleboxes = vec![Middlebox {
        name: "nat-1".into(),
        kind: MiddleboxKind::Nat,
        forward_to: "server-1".into(),
        idle_timeout: NAT_IDLE,
        expiry,
    }];
    let ClientKind::Pool { config, .. } = &mut w.client else {
        unreachable!("the standard world runs a pool")
    };
    config.connections_per_endpoint = 1;
    config.keepalive = KeepaliveConfig {
        interval: keepalive_interval,
        timeout: KEEPALIVE_TIMEOUT,
        while_idle: true,
    };
    w.load.pace = Pace::Open { interval: secs(20) };
    w
}

/// Expiry times, and (time, cause) of the pool's closes, in order. With one
/// connection at a time, the n-th flow through the NAT is the n-th pool
/// connection.
fn expiries_and_closes(trace: &Trace) -> (Vec<Duration>, Vec<(Duration, CloseCause)>) {
    let expiries = lines(trace, "nat_flow_expired")
        .iter()
        .map(|l| l.at)
        .collect();
    let closes = trace
        .lines
        .iter()
        .filter_map(|l| match &l.event {
            TraceEvent::Pool {
                kind: ConnEvent::Closed { cause },
                ..
            } => Some((l.at, cause.clone())),
            _ => None,
        })
        .collect();
    (expiries, closes)
}

/// Keepalive every 10 s, NAT idle timeout 5 s, silent expiry: each flow
/// expires 5 s after its last byte, and the NAT drops whatever comes
/// later. An idle zombie is closed by keepalive about 6 s after the expiry
/// (PING after 10 s of silence, lost, given up 1 s later); one that an RPC
/// hits first is closed by TCP's user timeout, `user_timeout_abort` of
/// that RPC, as on Linux. The RPCs sent at 21 s and 41 s go into zombies
/// and fail at their deadlines: the cost of a keepalive longer than the
/// NAT timeout.
#[test]
fn silent_expiry_leaves_a_zombie_that_keepalive_finds() {
    let trace = run_ok(&nat_world(Expiry::Silent, secs(10), secs(60)));
    let text = interesting(&trace);
    let (expiries, closes) = expiries_and_closes(&trace);
    assert!(expiries.len() >= 4, "{text}");
    for line in lines(&trace, "nat_flow_expired") {
        assert!(line.to_string().ends_with("mode=silent"), "{line}");
    }
    let failed: Vec<Duration> = trace
        .rpcs()
        .filter(|(_, r)| r.result.is_err())
        .map(|(_, r)| r.sent_at)
        .collect();
    assert_eq!(failed, [secs(21), secs(41)], "{text}");
    // Every expiry but the last is followed by its connection's close.
    for (n, expired) in expiries.iter().enumerate().take(expiries.len() - 1) {
        let (closed, cause) = &closes[n];
        let after = *closed - *expired;
        assert!(after <= secs(10) + KEEPALIVE_TIMEOUT);
        match failed
            .iter()
            .find(|sent| **sent > *expired && **sent < *closed)
        {
            Some(sent) => {
                assert_eq!(*cause, CloseCause::UserTimeout, "flow {n}\n{text}");
                assert_eq!(*closed, user_timeout_abort(*sent), "flow {n}\n{text}");
            }
            None => {
                assert_eq!(*cause, CloseCause::KeepaliveTimeout, "flow {n}\n{text}");
                // Observed: 5996..=6001 ms, depending on which side sent
                // the flow's last byte.
                assert!(
                    after > ms(5990) && after <= ms(6001),
                    "flow {n}: {after:?}\n{text}"
                );
            }
        }
    }
}

/// The same with `expiry = "rst"`: the NAT answers the next packet of a
/// forgotten flow with a RST, as a real one does, so the connection ends
/// one round trip (2 ms) after the client next sends: its PING, 10 s after
/// the flow's last byte (about 5 s after the expiry), or an RPC. A PING
/// that meets the RST costs nothing; the RPCs of 21 s and 41 s meet it and
/// fail (the pool does not yet resend an RPC a reset connection never
/// delivered).
#[test]
fn rst_expiry_resets_the_next_packet() {
    let trace = run_ok(&nat_world(Expiry::Rst, secs(10), secs(60)));
    let text = interesting(&trace);
    let (expiries, closes) = expiries_and_closes(&trace);
    assert!(expiries.len() >= 4, "{text}");
    let failed: Vec<Duration> = trace
        .rpcs()
        .filter(|(_, r)| r.result.is_err())
        .map(|(_, r)| r.sent_at)
        .collect();
    assert_eq!(failed, [secs(21), secs(41)], "{text}");
    // Every expiry but the last (the run ends first) is followed by its
    // connection's close.
    for (n, expired) in expiries.iter().enumerate().take(expiries.len() - 1) {
        let (closed, cause) = &closes[n];
        // The NAT's RST for the flow's next packet.
        assert!(
            matches!(
                cause,
                CloseCause::Transport {
                    io: Some(io::ErrorKind::ConnectionReset),
                    ..
                }
            ),
            "flow {n}: {cause}\n{text}"
        );
        match failed
            .iter()
            .find(|sent| **sent > *expired && **sent < *closed)
        {
            Some(sent) => assert_eq!(*closed, *sent + ms(2), "flow {n}\n{text}"),
            None => {
                let after = *closed - *expired;
                assert!(
                    after > ms(4990) && after <= ms(5010),
                    "flow {n}: {after:?}\n{text}"
                );
            }
        }
    }
}

/// Keepalive every 2 s, NAT idle timeout 5 s: the PINGs keep the one flow
/// alive for ten minutes of simulated time. No expiry, one flow, no close
/// before shutdown, and all 30 RPCs succeed.
#[test]
fn keepalive_shorter_than_the_nat_timeout_holds_the_flow_for_ten_minutes() {
    let trace = run_ok(&nat_world(Expiry::Silent, secs(2), secs(600)));
    let text = interesting(&trace);
    assert_eq!(lines(&trace, "nat_flow_expired").len(), 0, "{text}");
    assert_eq!(lines(&trace, "nat_flow_open").len(), 1, "{text}");
    let (_, closes) = expiries_and_closes(&trace);
    assert_eq!(closes.len(), 1, "{text}");
    assert_eq!(closes[0].1, CloseCause::Shutdown, "{text}");
    assert_eq!(trace.rpcs().count(), 30);
    assert_eq!(
        trace.rpcs().filter(|(_, r)| r.result.is_err()).count(),
        0,
        "{text}"
    );
}
