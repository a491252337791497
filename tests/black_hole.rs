//! The black-hole scenario, end to end: the property squall exists for.
//!
//! A server becomes a black hole (packets vanish, no RST, no FIN). Users rely
//! on the pool noticing every connection to it within keepalive interval +
//! timeout (under load TCP's user timeout, set from the keepalive timeout,
//! notices first, as on Linux), never routing another RPC to a connection it knows is dead, and
//! producing the same trace for the same seed, so a failure can be replayed.

use std::time::Duration;

use squall_pool::CloseCause;
use squall_scenarios::{DEFAULT_SEED, Report, Script, library, run_script, run_script_observed};
use squall_suite::rpcs_sent_between;

const FAULT_AT: Duration = Duration::from_millis(5_050);
const HEAL_AT: Duration = Duration::from_millis(25_050);
const KEEPALIVE: Duration = Duration::from_secs(3); // interval 2 s + timeout 1 s
const TICK: Duration = Duration::from_millis(1);

/// The sim tests' helpers: `user_timeout_abort` is TCP's abort time for an
/// RPC sent into a cut on these worlds (the same pool keepalive).
#[path = "../sim/tests/common/mod.rs"]
mod common;

/// The built-in script `scenarios/scripts/black-hole.toml`.
fn black_hole() -> Script {
    library::builtin("black-hole").expect("the built-in script is valid")
}

fn run(seed: u64) -> Report {
    run_script(&black_hole(), seed)
}

/// (a) Every connection to the black-holed server is closed within
/// keepalive interval + timeout + one tick of the fault, for several seeds.
/// Under this load TCP finds each one first, as Linux does: the pool sets
/// TCP_USER_TIMEOUT to its keepalive timeout (1 s), and the first RPC sent
/// on the connection after the fault (HEADERS and DATA: two segments) gets
/// a tail loss probe 2 SRTT + 2 jiffies later, its first retransmission
/// one RTO (202 ms) after the probe, and the abort 1 s after that
/// retransmission, every timer on the kernel's 4 ms timer wheel. So each
/// connection ends at `common::user_timeout_abort` of its first RPC into
/// the hole, about 1.23 s after it (kernel mode: within 2 ms of the same
/// instants), with a transport error (the kernel's ETIMEDOUT).
#[test]
fn every_cut_off_connection_is_detected_within_keepalive_bound() {
    for seed in [DEFAULT_SEED, 7, 8] {
        let report = run(seed);
        assert!(report.passed(), "seed {seed}:\n{}", report.verdict());
        assert_eq!(black_hole().expect.detection_within, Some(KEEPALIVE + TICK));

        // Both connections to server-2 were ready when the fault hit.
        assert_eq!(
            report.detections.len(),
            2,
            "seed {seed}:\n{}",
            report.verdict()
        );
        for d in &report.detections {
            assert_eq!(d.endpoint, "server-2");
            assert_eq!(d.fault_at, FAULT_AT);
            assert!(
                d.cause == Some(CloseCause::UserTimeout),
                "seed {seed}: {:?}",
                d.cause
            );
            let latency = d.latency().expect("detected");
            assert!(
                latency <= KEEPALIVE + TICK,
                "seed {seed}: conn {} took {latency:?}",
                d.conn
            );

            let first_into_hole = report
                .trace
                .rpcs()
                .filter(|(_, rpc)| rpc.conn == Some(d.conn) && rpc.sent_at >= FAULT_AT)
                .map(|(_, rpc)| rpc.sent_at)
                .min()
                .expect("each connection carried an RPC into the hole");
            assert_eq!(
                d.detected_at,
                Some(common::user_timeout_abort(first_into_hole)),
                "seed {seed}: conn {} first sent into the hole at {first_into_hole:?}",
                d.conn
            );
        }
    }
}

/// (b) Once both connections are known dead, no RPC goes to server-2 until
/// the heal, and no RPC fails: server-1 takes everything.
#[test]
fn after_detection_nothing_is_routed_to_the_dead_server() {
    let report = run(DEFAULT_SEED);
    let detected = report
        .detections
        .iter()
        .map(|d| d.detected_at.expect("detected"))
        .max()
        .expect("two detections");
    let between = rpcs_sent_between(&report.trace, detected + TICK, HEAL_AT);
    assert!(between.len() > 150, "load kept running: {}", between.len());
    for (line, rpc) in between {
        assert_eq!(rpc.endpoint.as_deref(), Some("server-1"), "{line}");
        assert!(rpc.result.is_ok(), "{line}");
    }
    let routing = report
        .invariants
        .iter()
        .find(|i| i.name == "no_rpc_on_dead_conn")
        .expect("checked on every run");
    assert!(routing.ok, "{}", routing.detail);
}

/// (c) Determinism: the same seed gives a byte-identical trace; different
/// seeds give different traces (the seed really reaches the pool's choices).
#[test]
fn same_seed_same_trace_different_seed_different_trace() {
    let first = run(7).trace;
    let second = run(7).trace;
    if let Some((line, ours, theirs)) = first.first_divergence(&second) {
        panic!("seed 7 diverged at line {line}:\n  first:  {ours}\n  second: {theirs}");
    }
    assert_eq!(first.hash(), second.hash());
    let other = run(8).trace;
    assert_ne!(first.hash(), other.hash());
}

/// (d) The default run's trace, pinned. A change to it is a change in
/// behaviour (or in the trace format) that a reviewer must see.
#[test]
fn black_hole_trace_snapshot() {
    let report = run(DEFAULT_SEED);
    assert!(report.passed(), "{}", report.verdict());
    insta::assert_snapshot!("black-hole-seed-1", report.trace.text());
}

/// (e) The script is the walking skeleton's hand-written world, field for
/// field: moving the scenario into a TOML file changed nothing it runs.
#[test]
fn the_script_builds_the_hand_written_world() {
    use squall_pool::{KeepaliveConfig, PoolConfig};
    use squall_sim::{BlackHole, ClientKind, Fault, LoadConfig, Pace, ScheduledFault, WorldConfig};
    let seed = 7;
    let expected = WorldConfig {
        seed,
        servers: 2,
        server_max_streams: None,
        client: ClientKind::Pool {
            config: PoolConfig {
                connections_per_endpoint: 2,
                keepalive: KeepaliveConfig {
                    interval: Duration::from_secs(2),
                    timeout: Duration::from_secs(1),
                    while_idle: true,
                },
                default_rpc_timeout: Duration::from_secs(1),
                shutdown_grace: Duration::from_secs(1),
                rng_seed: seed,
                ..PoolConfig::default()
            },
            targets: vec!["server-1".into(), "server-2".into()],
        },
        load: LoadConfig {
            start: Duration::from_secs(1),
            stop: Duration::from_secs(60),
            pace: Pace::Open {
                interval: Duration::from_millis(100),
            },
            deadline: Duration::from_secs(1),
            mix: Vec::new(),
            idempotent: false,
        },
        middleboxes: Vec::new(),
        faults: vec![ScheduledFault {
            at: FAULT_AT,
            heal_after: Some(HEAL_AT - FAULT_AT),
            fault: Fault::BlackHole(BlackHole {
                a: "client".into(),
                b: "server-2".into(),
            }),
        }],
        time_limit: Duration::from_secs(70),
        tick: TICK,
        link_latency: Duration::from_millis(1),
        skip_idle: true,
        user: None,
    };
    // WorldConfig has no PartialEq; its Debug form lists every field.
    assert_eq!(
        format!("{:#?}", black_hole().world(seed)),
        format!("{expected:#?}")
    );
}

/// The progress observer sees every simulated second, in order, and
/// observing a run does not change it.
#[test]
fn progress_is_reported_each_simulated_second_without_changing_the_run() {
    let mut reached = Vec::new();
    let observed = run_script_observed(&black_hole(), DEFAULT_SEED, &mut |at| reached.push(at));
    let plain = run(DEFAULT_SEED);
    assert_eq!(observed.trace.hash(), plain.trace.hash());
    assert!(
        reached.len() >= 60,
        "the load alone runs 60 s: {}",
        reached.len()
    );
    for (i, at) in reached.iter().enumerate() {
        assert_eq!(*at, Duration::from_secs(i as u64 + 1));
    }
}
