//! Active health checks on turmoil.
//!
//! Users rely on a server that reports NOT_SERVING on `grpc.health.v1`
//! getting no new RPCs within `interval × unhealthy_threshold` (plus a
//! round trip), and getting them again once it has reported SERVING
//! `healthy_threshold` times in a row. Checks run every `interval` from the
//! pool's start; every link has 1 ms latency, so a check's answer arrives
//! 2 ms after it was sent, and every time below is exact. A check takes one
//! of the connection's streams like an RPC, never one past its capacity.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use squall_pool::{
    CheckResult, EndpointId, EventKind, HealthCheckConfig, HealthState, Pool, PoolConfig,
    PoolEvent, RoutedTo,
};
use squall_sim::{
    TurmoilConnector,
    echo::proto::{EchoRequest, echo_client::EchoClient},
    server::ServerControl,
};
use squall_suite::{health_checks_every_second, sim_with_servers};
use tokio::time::{Instant, sleep_until};

#[test]
fn a_not_serving_endpoint_gets_no_rpcs_until_it_serves_again() {
    let controls = [ServerControl::default(), ServerControl::default()];
    let mut sim = sim_with_servers(13, Duration::from_secs(60), &controls);
    let server_2 = controls[1].clone();
    sim.client("client", async move {
        let events: Arc<Mutex<Vec<PoolEvent>>> = Arc::default();
        let sink = Arc::clone(&events);
        let health = HealthCheckConfig {
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            unhealthy_threshold: 2,
            healthy_threshold: 2,
            ..HealthCheckConfig::default()
        };
        let pool = Pool::builder()
            .endpoints(["http://server-1:50051", "http://server-2:50051"])
            .config(PoolConfig {
                connections_per_endpoint: 1,
                health_check: Some(health),
                ..PoolConfig::default()
            })
            .on_event(move |e: &PoolEvent| sink.lock().unwrap().push(e.clone()))
            .build(TurmoilConnector)?;
        let built = Instant::now();
        let ms = |at: Instant| at.duration_since(built).as_millis() as u64;

        // server-2 is drained by its operator at 2.5 s and back at 6.5 s.
        let operator = async {
            sleep_until(built + Duration::from_millis(2500)).await;
            server_2.set_serving(false);
            sleep_until(built + Duration::from_millis(6500)).await;
            server_2.set_serving(true);
        };
        // One call every 10 ms from 50 ms to 10 s: (sent ms, endpoint).
        let load = async {
            let mut client = EchoClient::new(pool.clone());
            let mut calls = Vec::new();
            let mut next = built + Duration::from_millis(50);
            while next < built + Duration::from_secs(10) {
                sleep_until(next).await;
                let sent = ms(Instant::now());
                let reply = client.echo(EchoRequest::default()).await.expect("served");
                calls.push((sent, reply.extensions().get::<RoutedTo>().unwrap().endpoint));
                next += Duration::from_millis(10);
            }
            calls
        };
        let ((), calls) = tokio::join!(operator, load);

        let changes: Vec<(u64, u32, HealthState, u32, CheckResult)> = events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::Health {
                    endpoint,
                    to,
                    checks,
                    last,
                } => Some((ms(e.at), endpoint.0, to, checks, last)),
                _ => None,
            })
            .collect();
        // Checks at 3 s and 4 s find it NOT_SERVING: unhealthy when the
        // second answer arrives. Checks at 7 s and 8 s find it SERVING.
        assert_eq!(
            changes,
            vec![
                (4002, 1, HealthState::Unhealthy, 2, CheckResult::NotServing),
                (8002, 1, HealthState::Healthy, 2, CheckResult::Serving),
            ]
        );
        let judged_after = changes[0].0 - 2500;
        assert!(judged_after <= 2 * 1000 + 2, "within interval × threshold");

        let to_server_2 = |from: u64, to: u64| {
            calls
                .iter()
                .filter(|(sent, e)| *sent > from && *sent < to && *e == EndpointId(1))
                .count()
        };
        assert!(
            to_server_2(2500, 4002) > 0,
            "still in rotation until judged"
        );
        assert_eq!(to_server_2(4002, 8002), 0, "no RPC while unhealthy");
        assert!(to_server_2(8002, 10_000) > 0, "back in rotation");
        let stats = pool.stats();
        assert_eq!(stats.endpoints[1].health, Some(HealthState::Healthy));
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });
    sim.run().expect("simulation runs");
}

#[test]
fn a_check_takes_a_stream_within_the_connections_capacity() {
    let control = ServerControl::default();
    control.set_serving(false);
    let mut sim = sim_with_servers(14, Duration::from_secs(30), std::slice::from_ref(&control));
    sim.client("client", async move {
        let events: Arc<Mutex<Vec<PoolEvent>>> = Arc::default();
        let sink = Arc::clone(&events);
        let pool = Pool::builder()
            .endpoint("http://server-1:50051")
            .config(PoolConfig {
                connections_per_endpoint: 1,
                max_streams_per_connection: Some(1),
                health_check: Some(health_checks_every_second()),
                ..PoolConfig::default()
            })
            .on_event(move |e: &PoolEvent| sink.lock().unwrap().push(e.clone()))
            .build(TurmoilConnector)?;
        let built = Instant::now();
        // One RPC holds the connection's only stream from 500 ms to
        // 2,502 ms: the checks due at 1 s and 2 s find no room and skip;
        // the one at 3 s runs and finds the server NOT_SERVING.
        sleep_until(built + Duration::from_millis(500)).await;
        let mut client = EchoClient::new(pool.clone());
        client
            .echo(EchoRequest {
                message: "x".into(),
                delay_ms: 2_000,
                fail_code: 0,
            })
            .await
            .expect("served");
        sleep_until(built + Duration::from_millis(3_500)).await;
        let changes: Vec<(u128, HealthState)> = events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::Health { to, .. } => Some((e.at.duration_since(built).as_millis(), to)),
                _ => None,
            })
            .collect();
        assert_eq!(changes, vec![(3_002, HealthState::Unhealthy)]);
        let stats = pool.stats();
        let conn = stats.endpoints[0].slots[0]
            .connection
            .clone()
            .expect("ready");
        assert_eq!(conn.rpcs_routed, 1, "the check is not an RPC");
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });
    sim.run().expect("simulation runs");
}
