//! The built-in scenarios, by name.

use std::time::Duration;

use squall_pool::{KeepaliveConfig, PoolConfig};
use squall_sim::{BlackHole, ClientKind, Fault, LoadConfig, ScheduledFault, WorldConfig};

use crate::scenario::{Expectations, Scenario};

/// The seed used when none is given, so the default run is reproducible.
pub const DEFAULT_SEED: u64 = 1;

/// Names of the built-in scenarios, for `squall list` and error messages.
pub const NAMES: &[&str] = &["black-hole"];

/// The built-in scenario called `name`, with `seed`.
pub fn builtin(name: &str, seed: u64) -> Option<Scenario> {
    match name {
        "black-hole" => Some(black_hole(seed)),
        _ => None,
    }
}

/// The zombie-connection scenario squall exists for.
///
/// One client, two servers; the pool keeps 2 connections to each and pings
/// after 2 s of silence, giving up 1 s later. At t = 5 s every packet between
/// the client and server-2 starts vanishing (no RST, no FIN) for 20 s. The
/// pool must close both connections to server-2 within 3 s + one tick,
/// route everything to server-1 meanwhile, and reconnect after the heal.
pub fn black_hole(seed: u64) -> Scenario {
    let keepalive = KeepaliveConfig {
        interval: Duration::from_secs(2),
        timeout: Duration::from_secs(1),
        while_idle: true,
    };
    let tick = Duration::from_millis(1);
    let pool = PoolConfig {
        connections_per_endpoint: 2,
        keepalive,
        default_rpc_timeout: Duration::from_secs(1),
        shutdown_grace: Duration::from_secs(1),
        rng_seed: seed,
        ..PoolConfig::default()
    };
    Scenario {
        name: "black-hole",
        summary: "server-2 silently black-holed from t=5s for 20s; the pool must notice within 3s",
        world: WorldConfig {
            seed,
            servers: 2,
            middleboxes: Vec::new(),
            client: ClientKind::Pool {
                config: pool,
                targets: vec!["server-1".into(), "server-2".into()],
            },
            load: LoadConfig {
                start: Duration::from_secs(1),
                stop: Duration::from_secs(60),
                interval: Duration::from_millis(100),
                deadline: Duration::from_secs(1),
            },
            faults: vec![ScheduledFault {
                at: Duration::from_secs(5),
                heal_after: Some(Duration::from_secs(20)),
                fault: Fault::BlackHole(BlackHole {
                    a: "client".into(),
                    b: "server-2".into(),
                }),
            }],
            time_limit: Duration::from_secs(70),
            tick,
            link_latency: Duration::from_millis(1),
        },
        expect: Expectations {
            detection_within: Some(keepalive.interval + keepalive.timeout + tick),
        },
    }
}
