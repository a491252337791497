//! `squall peers`: one script with squall's pool and with tonic's own
//! clients, measured alike.
//!
//! Users rely on: every client running the same load on the same seed; a
//! tonic client's dials and connections being seen (tonic reports no
//! events, so its connector records them); a default Channel never finding
//! a silently dead connection while one with keepalive does within its
//! interval + timeout; and `tonic-balance` being tonic's own balancer over
//! every target.

use squall_scenarios::{
    DEFAULT_SEED, Script, library,
    peers::{Found, PeerRow, for_client, peers},
    script::{ClientKind, PoolOverrides},
};

fn row(rows: &[PeerRow], client: ClientKind) -> &PeerRow {
    rows.iter()
        .find(|r| r.client == client)
        .expect("a row per client")
}

/// The built-in black hole (server-2 of two, 20 s): every client runs the
/// same 590 RPCs. The pool meets its bound; tonic's balancer, which has no
/// keepalive and keeps picking the dead connection, fails many more. A
/// Channel dials once (lazily) and lands on server-1, the live server;
/// the balancer dials each target once.
#[test]
fn black_hole_gets_a_row_per_client() {
    let script = library::builtin("black-hole").expect("valid");
    let rows = peers(&script, DEFAULT_SEED);
    let clients: Vec<ClientKind> = rows.iter().map(|r| r.client).collect();
    assert_eq!(clients, ClientKind::ALL);
    assert!(rows.iter().all(|r| r.sent == 590), "{rows:?}");
    let pool = row(&rows, ClientKind::Pool);
    let bound = script
        .expect
        .max_failed_rpcs
        .expect("the script bounds failures");
    assert!(pool.failed <= bound, "{pool:?}");
    assert!(pool.failing.is_empty(), "{pool:?}");
    let balance = row(&rows, ClientKind::TonicBalance);
    assert!(balance.failed > 2 * bound, "{balance:?}");
    assert_eq!(balance.dials, 2);
    assert_eq!(balance.worst_detection, Some(Found::Undetected));
    assert_eq!(balance.failing, ["failed_rpcs_at_most"]);
    for client in [ClientKind::TonicChannel, ClientKind::TonicChannelKeepalive] {
        let channel = row(&rows, client);
        assert_eq!((channel.dials, channel.failed), (1, 0), "{channel:?}");
        // Its one connection is to server-1: no fault cut it off.
        assert_eq!(channel.worst_detection, None, "{channel:?}");
    }
}

/// The same black hole with the client on server-2 only: the default
/// Channel never closes its dead connection; the Channel with keepalive
/// (the script's `[pool.keepalive]`: 2 s + 1 s) closes it within interval
/// + timeout + one PING round, as the pool finds it within its own bound.
#[test]
fn keepalive_is_what_finds_a_dead_connection() {
    let mut script = library::builtin("black-hole").expect("valid");
    script.client.targets = vec!["server-2".into()];
    let keepalive = script.pool.apply(DEFAULT_SEED).keepalive;
    let bound = keepalive.interval * 2 + keepalive.timeout;
    let rows = peers(&script, DEFAULT_SEED);
    let found = |client| row(&rows, client).worst_detection;
    assert_eq!(found(ClientKind::TonicChannel), Some(Found::Undetected));
    assert_eq!(found(ClientKind::TonicBalance), Some(Found::Undetected));
    for client in [ClientKind::TonicChannelKeepalive, ClientKind::Pool] {
        match found(client) {
            Some(Found::After(after)) => assert!(after <= bound, "{client:?}: {after:?}"),
            other => panic!("{client:?}: {other:?}"),
        }
    }
    let failed = |client| row(&rows, client).failed;
    assert!(failed(ClientKind::Pool) < failed(ClientKind::TonicChannelKeepalive));
    assert!(failed(ClientKind::TonicChannelKeepalive) < failed(ClientKind::TonicChannel));
}

/// A script rewritten for a tonic client keeps its faults and load, loses
/// the expectations only the pool can meet, and keeps only the keepalive
/// of `[pool]`, for `tonic-channel-keepalive`.
#[test]
fn a_script_for_a_tonic_client_drops_what_only_the_pool_reads() {
    let script = library::builtin("black-hole").expect("valid");
    assert!(script.expect.detection_within.is_some() && script.expect.no_leaks);
    let channel = for_client(&script, ClientKind::TonicChannel);
    assert_eq!(channel.client.kind, ClientKind::TonicChannel);
    assert_eq!(channel.faults, script.faults);
    assert_eq!(channel.load, script.load);
    assert_eq!(channel.expect.detection_within, None);
    assert!(!channel.expect.no_leaks);
    assert_eq!(
        channel.expect.max_failed_rpcs,
        script.expect.max_failed_rpcs
    );
    assert_eq!(channel.pool, PoolOverrides::default());
    let keepalive = for_client(&script, ClientKind::TonicChannelKeepalive);
    assert_eq!(keepalive.pool.keepalive, script.pool.keepalive);
    assert_eq!(
        keepalive.pool,
        PoolOverrides {
            keepalive: script.pool.keepalive,
            ..PoolOverrides::default()
        }
    );
    // Both are scripts a user could have written.
    for rewritten in [channel, keepalive] {
        let text = rewritten.to_toml("rewritten").expect("serialises");
        Script::parse(&rewritten.name, "rewritten.toml", &text)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
    }
}
