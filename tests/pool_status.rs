//! Connectivity and stats, watched through a black hole on turmoil.
//!
//! Users rely on `Pool::connectivity()` and `Pool::stats()` to tell them,
//! without reading events, whether the pool can serve: READY while any
//! connection is up, TRANSIENT_FAILURE while every attempt is failing,
//! READY again after recovery, SHUTDOWN after `shutdown`; and on the stats
//! saying which connection is which, and how often each slot redialled.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use squall_pool::{ConnState, Connectivity, KeepaliveConfig, Pool, PoolConfig};
use squall_sim::TurmoilConnector;
use squall_suite::sim_with_one_server;
use tokio::time::{Instant, sleep, sleep_until};

#[test]
fn connectivity_follows_a_black_hole_and_stats_count_redials() {
    let mut sim = sim_with_one_server(5, Duration::from_secs(60));

    let seen: Arc<Mutex<Vec<(u128, Connectivity)>>> = Arc::default();
    let seen_by_client = Arc::clone(&seen);
    sim.client("client", async move {
        let start = Instant::now();
        let config = PoolConfig {
            connections_per_endpoint: 2,
            keepalive: KeepaliveConfig {
                interval: Duration::from_secs(2),
                timeout: Duration::from_secs(1),
                while_idle: true,
            },
            ..PoolConfig::default()
        };
        let pool = Pool::builder()
            .endpoint("http://server-1:50051")
            .config(config)
            .build(TurmoilConnector)?;

        let mut watch = pool.connectivity();
        let seen = Arc::clone(&seen_by_client);
        tokio::spawn(async move {
            loop {
                let state = *watch.borrow_and_update();
                let at = start.elapsed().as_millis();
                seen.lock().unwrap().push((at, state));
                if state == Connectivity::Shutdown || watch.changed().await.is_err() {
                    break;
                }
            }
        });

        sleep(Duration::from_millis(100)).await;
        let stats = pool.stats();
        assert_eq!(stats.state, Connectivity::Ready);
        let slots = &stats.endpoints[0].slots;
        assert_eq!(slots.len(), 2);
        for slot in slots {
            assert_eq!(slot.state, Connectivity::Ready);
            assert_eq!(slot.dials, 1);
            let conn = slot.connection.as_ref().expect("connected");
            assert_eq!(conn.state, ConnState::Ready);
            assert_eq!(conn.age, Duration::from_millis(100));
        }

        turmoil::partition("client", "server-1");
        sleep_until(start + Duration::from_secs(10)).await;
        let failing = pool.stats();
        assert_eq!(failing.state, Connectivity::TransientFailure);
        assert!(
            failing.endpoints[0]
                .slots
                .iter()
                .all(|s| s.connection.is_none() && s.dials > 2)
        );

        turmoil::repair("client", "server-1");
        sleep_until(start + Duration::from_secs(30)).await;
        assert_eq!(pool.stats().state, Connectivity::Ready);

        assert_eq!(pool.shutdown().await.tasks_left, 0);
        let closed = pool.stats();
        assert_eq!(closed.state, Connectivity::Shutdown);
        assert!(
            closed.endpoints[0]
                .slots
                .iter()
                .all(|s| s.connection.is_none())
        );
        sleep(Duration::from_millis(1)).await;
        Ok(())
    });
    sim.run().expect("simulation runs");

    let seen = seen.lock().unwrap().clone();
    let states: Vec<Connectivity> = seen.iter().map(|(_, s)| *s).collect();
    let order = [
        Connectivity::Ready,
        Connectivity::TransientFailure,
        Connectivity::Ready,
        Connectivity::Shutdown,
    ];
    let mut rest = states.iter();
    for wanted in order {
        assert!(
            rest.any(|s| *s == wanted),
            "{wanted:?} missing in order from {seen:?}"
        );
    }
    // The connections became READY when the server's handshake frames
    // arrived, their last frames before the partition. The idle keepalive
    // pings 2 s after that and gives up 1 s later: the pool leaves READY
    // exactly 3 s after it entered it.
    let ready_at = seen
        .iter()
        .find(|(_, s)| *s == Connectivity::Ready)
        .map(|(at, _)| *at);
    let left_ready = seen
        .windows(2)
        .find(|w| w[0].1 == Connectivity::Ready && w[1].1 != Connectivity::Ready)
        .map(|w| w[1].0);
    assert_eq!(left_ready, ready_at.map(|at| at + 3000), "{seen:?}");
}
