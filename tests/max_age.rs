//! Max connection age on turmoil.
//!
//! Users rely on `max_connection_age` rotating every connection without a
//! single failed RPC: the replacement is dialled while the old connection
//! still serves, the old one drains only once the replacement is ready (so
//! capacity never drops), its in-flight RPCs finish, and then it closes.
//! They also rely on the jitter spreading rotations, so connections dialled
//! together do not all rotate at once. Every link has 1 ms latency, so a
//! dial (SYN, then the HTTP/2 handshake) takes a known, exact time.

use std::{sync::Arc, time::Duration};

use futures_util::future::join_all;
use squall_pool::{Pool, PoolConfig};
use squall_sim::{
    TurmoilConnector,
    echo::proto::{EchoRequest, echo_client::EchoClient},
};
use squall_suite::{EventLines, conn_event_recorder, lines_before_shutdown, sim_with_one_server};
use tokio::time::{Instant, sleep, sleep_until};
use tonic::Code;

/// One caller: back-to-back RPCs that each spend `delay_ms` at the server,
/// until `until`. Returns every RPC's (ms sent, code).
async fn caller(
    mut client: EchoClient<Pool>,
    start: Instant,
    delay_ms: u32,
    until: Instant,
) -> Vec<(u128, Code)> {
    let mut results = Vec::new();
    while Instant::now() < until {
        let sent = start.elapsed().as_millis();
        let mut request = tonic::Request::new(EchoRequest {
            message: "x".into(),
            delay_ms,
            fail_code: 0,
        });
        request.set_timeout(Duration::from_secs(5));
        let code = match client.echo(request).await {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        };
        results.push((sent, code));
    }
    results
}

#[test]
fn connections_rotate_at_their_age_with_no_failed_rpc() {
    let mut sim = sim_with_one_server(21, Duration::from_secs(60));
    let lines: EventLines = Arc::default();
    let recorded = Arc::clone(&lines);
    sim.client("client", async move {
        let start = Instant::now();
        let config = PoolConfig {
            connections_per_endpoint: 1,
            max_connection_age: Some(Duration::from_secs(10)),
            max_connection_age_jitter: 0.0,
            max_connection_age_grace: Duration::from_secs(1),
            ..PoolConfig::default()
        };
        let pool = Pool::builder()
            .endpoint("http://server-1:50051")
            .config(config)
            .on_event(conn_event_recorder(start, &recorded))
            .build(TurmoilConnector)?;
        sleep(Duration::from_millis(50)).await;

        // Four callers keep RPCs in flight across every rotation.
        let until = start + Duration::from_secs(35);
        let client = EchoClient::new(pool.clone());
        let results = join_all((0..4).map(|_| caller(client.clone(), start, 300, until))).await;
        let all: Vec<(u128, Code)> = results.into_iter().flatten().collect();
        let failed: Vec<_> = all.iter().filter(|(_, code)| *code != Code::Ok).collect();
        assert!(all.len() > 400, "the load ran: {} RPCs", all.len());
        assert_eq!(failed, Vec::<&(u128, Code)>::new(), "no RPC failed");

        sleep_until(start + Duration::from_secs(40)).await;
        assert_eq!(pool.ready_connections(), 1);
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });
    sim.run().expect("simulation runs");

    let rotation = lines_before_shutdown(&lines);
    // Connecting is 1 ms (the SYN; hyper's handshake only writes the
    // preface), so connection 1 is ready at 1 ms and reaches its age at
    // 10 001 ms. Its replacement is dialled then and ready at 10 002 ms,
    // the moment connection 1 drains. Each caller's RPCs take 302 ms (300
    // at the server, 1 ms each way) back to back from 50 ms, so connection
    // 1 still carries the four sent at 50 + 32 * 302 = 9 714 ms; they
    // answer at 10 016 ms, and connection 1 closes then. Each replacement's
    // age counts from when it became ready, and each old connection closes
    // when the batch in flight at its drain answers (at 50 + 66 * 302 +
    // 302 = 20 284 ms and 50 + 99 * 302 = 30 250 ms).
    assert_eq!(
        rotation,
        vec![
            "0 conn_connecting conn=1 attempt=1",
            "1 conn_ready conn=1",
            "10001 conn_connecting conn=2 attempt=1",
            "10002 conn_ready conn=2",
            "10002 conn_draining conn=1 cause=max_age",
            "10016 conn_closed conn=1 cause=max_age",
            "20002 conn_connecting conn=3 attempt=1",
            "20003 conn_ready conn=3",
            "20003 conn_draining conn=2 cause=max_age",
            "20284 conn_closed conn=2 cause=max_age",
            "30003 conn_connecting conn=4 attempt=1",
            "30004 conn_ready conn=4",
            "30004 conn_draining conn=3 cause=max_age",
            "30250 conn_closed conn=3 cause=max_age",
        ]
    );
}

/// Three connections dialled together get three different age limits,
/// each within ±10% of `max_connection_age`, drawn from the pool's RNG.
#[test]
fn jitter_spreads_rotations_within_ten_percent() {
    let mut sim = sim_with_one_server(22, Duration::from_secs(60));
    let lines: EventLines = Arc::default();
    let recorded = Arc::clone(&lines);
    sim.client("client", async move {
        let start = Instant::now();
        let config = PoolConfig {
            connections_per_endpoint: 3,
            max_connection_age: Some(Duration::from_secs(10)),
            ..PoolConfig::default()
        };
        let pool = Pool::builder()
            .endpoint("http://server-1:50051")
            .config(config)
            .on_event(conn_event_recorder(start, &recorded))
            .build(TurmoilConnector)?;
        sleep_until(start + Duration::from_secs(12)).await;
        assert_eq!(pool.ready_connections(), 3, "every slot was replaced");
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });
    sim.run().expect("simulation runs");

    let lines = lines.lock().unwrap().clone();
    let at = |event: &str, conn: u64| -> Option<u128> {
        let suffix = format!(" {event} conn={conn}");
        lines
            .iter()
            .find(|l| l.contains(&format!("{suffix} ")) || l.ends_with(&suffix))
            .map(|l| l.split(' ').next().unwrap().parse().unwrap())
    };
    let mut lives = Vec::new();
    for conn in 1..=3 {
        let ready = at("conn_ready", conn).expect("ready");
        let drained = at("conn_draining", conn).expect("rotated");
        // Draining starts when the replacement is ready, 1 ms after the
        // age limit.
        lives.push(drained - ready - 1);
    }
    assert!(
        lives.iter().all(|life| (9_000..=11_000).contains(life)),
        "{lives:?}"
    );
    lives.sort_unstable();
    lives.dedup();
    assert_eq!(lives.len(), 3, "jitter makes every age limit different");
}
