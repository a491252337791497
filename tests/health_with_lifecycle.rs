//! Active health checks together with the lifecycle features, on turmoil.
//!
//! Users rely on a call marked `WaitForReady` treating "every endpoint is
//! unhealthy" as "no ready connection", as gRPC does: it waits (within its
//! deadline) for an endpoint to pass its checks instead of failing with
//! UNAVAILABLE, while a fail-fast call still fails at once. And on an
//! endpoint added at runtime being health-checked like the first ones.
//!
//! Checks run every 1 s from the pool's start and each threshold is 1, so
//! one check's answer (1 ms each way) decides the state. Every link has
//! 1 ms latency: an echo call takes exactly 2 ms.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use squall_pool::{
    EndpointId, EventKind, HealthState, Pool, PoolConfig, PoolError, PoolEvent, WaitForReady,
};
use squall_sim::{
    TurmoilConnector,
    echo::proto::{EchoRequest, echo_client::EchoClient},
    server::ServerControl,
};
use tokio::time::{Instant, sleep_until};
use tonic::Code;

fn sim_with_servers(controls: &[ServerControl]) -> turmoil::Sim<'static> {
    squall_suite::sim_with_servers(17, Duration::from_secs(60), controls)
}

fn config() -> PoolConfig {
    PoolConfig {
        connections_per_endpoint: 1,
        health_check: Some(squall_suite::health_checks_every_second()),
        ..PoolConfig::default()
    }
}

/// (ms after `start` it ended, code, whether the pool said "no healthy
/// endpoint", whether it said "no connection before the deadline").
type Outcome = (u64, Code, bool, bool);

async fn echo(pool: &Pool, start: Instant, wait_for_ready: bool, timeout: Duration) -> Outcome {
    let mut request = tonic::Request::new(EchoRequest {
        message: "x".into(),
        delay_ms: 0,
        fail_code: 0,
    });
    request.set_timeout(timeout);
    if wait_for_ready {
        request.extensions_mut().insert(WaitForReady);
    }
    let result = EchoClient::new(pool.clone()).echo(request).await;
    let ms = start.elapsed().as_millis() as u64;
    match result {
        Ok(_) => (ms, Code::Ok, false, false),
        Err(status) => {
            let error = PoolError::from_status(&status);
            (
                ms,
                status.code(),
                matches!(error, Some(PoolError::NoHealthyEndpoint)),
                matches!(error, Some(PoolError::NoConnectionBeforeDeadline)),
            )
        }
    }
}

#[test]
fn wait_for_ready_calls_wait_for_an_unhealthy_endpoint_to_recover() {
    let controls = [ServerControl::default()];
    let mut sim = sim_with_servers(&controls);
    let server_1 = controls[0].clone();
    let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let recorded = Arc::clone(&outcomes);
    sim.client("client", async move {
        // NOT_SERVING from the start: the check at 1 s fails (answer at
        // 1002 ms), the check at 3 s passes (answer at 3002 ms).
        server_1.set_serving(false);
        let pool = Pool::builder()
            .endpoint("http://server-1:50051")
            .config(config())
            .build(TurmoilConnector)?;
        let start = Instant::now();
        let operator = async {
            sleep_until(start + Duration::from_millis(2500)).await;
            server_1.set_serving(true);
        };
        let calls = async {
            sleep_until(start + Duration::from_millis(1500)).await;
            assert_eq!(pool.ready_connections(), 1, "connected, only unhealthy");
            tokio::join!(
                echo(&pool, start, false, Duration::from_secs(5)),
                echo(&pool, start, true, Duration::from_secs(5)),
                echo(&pool, start, true, Duration::from_millis(500)),
            )
        };
        let ((), (fail_fast, patient, impatient)) = tokio::join!(operator, calls);
        recorded
            .lock()
            .unwrap()
            .extend([fail_fast, patient, impatient]);
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });
    sim.run().expect("simulation runs");

    assert_eq!(
        *outcomes.lock().unwrap(),
        vec![
            // Fail-fast: UNAVAILABLE at once, naming the cause.
            (1500, Code::Unavailable, true, false),
            // Waits until the endpoint is healthy again at 3002 ms, then
            // takes the 2 ms round trip.
            (3004, Code::Ok, false, false),
            // Its 500 ms deadline comes first.
            (2000, Code::DeadlineExceeded, false, true),
        ]
    );
}

#[test]
fn an_endpoint_added_at_runtime_is_health_checked() {
    let controls = [ServerControl::default(), ServerControl::default()];
    let mut sim = sim_with_servers(&controls);
    let server_2 = controls[1].clone();
    sim.client("client", async move {
        server_2.set_serving(false);
        let events: Arc<Mutex<Vec<PoolEvent>>> = Arc::default();
        let sink = Arc::clone(&events);
        let pool = Pool::builder()
            .endpoint("http://server-1:50051")
            .config(config())
            .on_event(move |e: &PoolEvent| sink.lock().unwrap().push(e.clone()))
            .build(TurmoilConnector)?;
        let start = Instant::now();
        sleep_until(start + Duration::from_millis(500)).await;
        let added = pool.add_endpoint("http://server-2:50051")?;
        assert_eq!(added, EndpointId(1));
        let health = |pool: &Pool| -> Vec<Option<HealthState>> {
            pool.stats().endpoints.iter().map(|e| e.health).collect()
        };
        // It starts healthy, like the endpoints the pool was built with.
        assert_eq!(
            health(&pool),
            [Some(HealthState::Healthy), Some(HealthState::Healthy)]
        );
        // Its own checks run every 1 s from when it was added: the first,
        // at 1500 ms, is answered NOT_SERVING at 1502 ms.
        sleep_until(start + Duration::from_millis(1600)).await;
        let changes: Vec<(u64, EndpointId, HealthState)> = events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::Health { endpoint, to, .. } => {
                    Some((e.at.duration_since(start).as_millis() as u64, endpoint, to))
                }
                _ => None,
            })
            .collect();
        assert_eq!(changes, [(1502, EndpointId(1), HealthState::Unhealthy)]);
        assert_eq!(
            health(&pool),
            [Some(HealthState::Healthy), Some(HealthState::Unhealthy)]
        );
        // So every call goes to server-1.
        for _ in 0..10 {
            let (_, code, _, _) = echo(&pool, start, false, Duration::from_secs(1)).await;
            assert_eq!(code, Code::Ok);
        }
        let routed: Vec<u64> = pool
            .stats()
            .endpoints
            .iter()
            .map(|e| {
                e.slots
                    .iter()
                    .filter_map(|s| s.connection.as_ref())
                    .map(|c| c.rpcs_routed)
                    .sum()
            })
            .collect();
        assert_eq!(routed, [10, 0]);
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });
    sim.run().expect("simulation runs");
}
