//! The retry policy on turmoil.
//!
//! Users rely on three things: an idempotent call that meets a failing
//! server is resent, after the configured backoff, to a server that works,
//! while a call not marked idempotent is never resent; the retry budget
//! caps how many retries the pool sends when everything fails, so retries
//! cannot multiply the load on a dead service; and no retry outlives the
//! call's deadline. Every link has 1 ms latency, so one attempt takes
//! exactly 2 ms, and backoffs have no jitter, so times are exact.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use squall_pool::{
    EndpointId, EventKind, Idempotent, Pool, PoolConfig, PoolEvent, RetryBudgetConfig, RetryConfig,
    RoutedTo, breaker::GrpcCode,
};
use squall_sim::{
    TurmoilConnector,
    echo::proto::{EchoRequest, echo_client::EchoClient},
    server::{Failure, ServerControl},
};
use tokio::time::{Instant, sleep};
use tonic::Code;

type Events = Arc<Mutex<Vec<PoolEvent>>>;

/// A simulation with `servers` echo servers; the first `failing` of them
/// fail every call with UNAVAILABLE.
fn sim_with_servers(servers: usize, failing: usize) -> turmoil::Sim<'static> {
    let controls: Vec<ServerControl> = (0..servers)
        .map(|index| {
            let control = ServerControl::default();
            if index < failing {
                control.set_behaviour(|b| {
                    b.failure = Some(Failure {
                        percent: 100,
                        code: Code::Unavailable,
                    })
                });
            }
            control
        })
        .collect();
    squall_suite::sim_with_servers(5, Duration::from_secs(60), &controls)
}

fn retry_config(budget: RetryBudgetConfig) -> RetryConfig {
    RetryConfig {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        backoff_multiplier: 2.0,
        max_backoff: Duration::from_millis(100),
        jitter: 0.0,
        budget,
        ..RetryConfig::default()
    }
}

/// A pool with one connection to each of `servers`, recording its events.
async fn pool(servers: usize, retry: RetryConfig, events: &Events) -> Pool {
    let sink = Arc::clone(events);
    let pool = Pool::builder()
        .endpoints((1..=servers).map(|i| format!("http://server-{i}:50051")))
        .config(PoolConfig {
            connections_per_endpoint: 1,
            retry: Some(retry),
            ..PoolConfig::default()
        })
        .on_event(move |e: &PoolEvent| sink.lock().unwrap().push(e.clone()))
        .build(TurmoilConnector)
        .expect("valid pool");
    sleep(Duration::from_millis(50)).await;
    assert_eq!(pool.ready_connections(), servers);
    pool
}

fn request(idempotent: bool, timeout: Duration) -> tonic::Request<EchoRequest> {
    let mut request = tonic::Request::new(EchoRequest {
        message: "x".into(),
        ..EchoRequest::default()
    });
    request.set_timeout(timeout);
    if idempotent {
        request.extensions_mut().insert(Idempotent);
    }
    request
}

/// (endpoint index, attempt, code, backoff ms) of every retry event.
fn retries(events: &Events) -> Vec<(u32, u32, GrpcCode, u128)> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Retry {
                endpoint,
                attempt,
                code,
                backoff,
                ..
            } => Some((endpoint.0, attempt, code, backoff.as_millis())),
            _ => None,
        })
        .collect()
}

#[test]
fn idempotent_calls_succeed_by_retrying_elsewhere_and_others_fail() {
    let mut sim = sim_with_servers(2, 1);
    sim.client("client", async move {
        let events = Events::default();
        let pool = pool(2, retry_config(RetryBudgetConfig::default()), &events).await;
        let mut client = EchoClient::new(pool.clone());
        let (mut retried, mut direct) = (0, 0);
        for _ in 0..20 {
            let start = Instant::now();
            let before = retries(&events).len();
            let reply = client
                .echo(request(true, Duration::from_secs(1)))
                .await
                .expect("an idempotent call succeeds despite server-1");
            let took = start.elapsed().as_millis();
            let routed = *reply.extensions().get::<RoutedTo>().unwrap();
            assert_eq!(routed.endpoint, EndpointId(1), "only server-2 answers OK");
            assert_eq!(reply.get_ref().server, "server-2");
            match &retries(&events)[before..] {
                // Straight to server-2: one round trip.
                [] => {
                    assert_eq!(took, 2);
                    direct += 1;
                }
                // To server-1 (2 ms), the 10 ms backoff, then server-2 (2 ms).
                [(0, 2, GrpcCode::Unavailable, 10)] => {
                    assert_eq!(took, 14);
                    retried += 1;
                }
                other => panic!("unexpected retries {other:?}"),
            }
        }
        assert!(
            retried > 0 && direct > 0,
            "{retried} retried, {direct} direct"
        );

        let (mut failed, mut ok) = (0, 0);
        for _ in 0..20 {
            let start = Instant::now();
            let result = client.echo(request(false, Duration::from_secs(1))).await;
            assert_eq!(start.elapsed().as_millis(), 2, "one attempt, never resent");
            match result {
                Ok(_) => ok += 1,
                Err(status) => {
                    assert_eq!(status.code(), Code::Unavailable);
                    failed += 1;
                }
            }
        }
        assert!(failed > 0 && ok > 0, "{failed} failed, {ok} ok");
        let stats = pool.stats().retry.expect("retry configured");
        assert_eq!(stats.retries, retried);
        assert_eq!(stats.budget_refused, 0);
        assert_eq!(retries(&events).len() as u64, retried);
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });
    sim.run().expect("simulation runs");
}

#[test]
fn the_budget_caps_retries_when_every_server_fails() {
    let mut sim = sim_with_servers(2, 2);
    sim.client("client", async move {
        let events = Events::default();
        // No share of calls, only the reserve: 1 retry a second over a
        // 10 s ttl, so 10 retries in all for a run shorter than 10 s.
        let budget = RetryBudgetConfig {
            ttl: Duration::from_secs(10),
            min_per_second: 1,
            ratio: 0.0,
        };
        let pool = pool(2, retry_config(budget), &events).await;
        let mut client = EchoClient::new(pool.clone());
        let mut took = Vec::new();
        for _ in 0..30 {
            let start = Instant::now();
            let status = client
                .echo(request(true, Duration::from_secs(1)))
                .await
                .expect_err("every server fails");
            assert_eq!(status.code(), Code::Unavailable);
            took.push(start.elapsed().as_millis());
        }
        // Without a budget, each of the 30 calls would be retried twice
        // (60 retries). The first 5 spend the 10 retries the budget holds:
        // 2 + 10 + 2 + 20 + 2 ms each. The other 25 are refused a retry
        // and fail after their first attempt.
        let mut expected = vec![36; 5];
        expected.extend([2; 25]);
        assert_eq!(took, expected);
        let made = retries(&events);
        assert_eq!(made.len(), 10);
        // Each call's retries go to the other server, then back.
        for call in made.chunks(2) {
            assert_eq!(call[0].1, 2);
            assert_eq!(call[1].1, 3);
            assert_ne!(call[0].0, call[1].0, "the retry went to the other server");
            assert_eq!((call[0].3, call[1].3), (10, 20));
        }
        let stats = pool.stats().retry.expect("retry configured");
        assert_eq!((stats.retries, stats.budget_refused), (10, 25));
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });
    sim.run().expect("simulation runs");
}

#[test]
fn no_retry_outlives_the_deadline() {
    let mut sim = sim_with_servers(1, 1);
    sim.client("client", async move {
        let events = Events::default();
        let config = RetryConfig {
            max_attempts: 5,
            ..retry_config(RetryBudgetConfig::default())
        };
        let pool = pool(1, config, &events).await;
        let mut client = EchoClient::new(pool.clone());
        let start = Instant::now();
        let status = client
            .echo(request(true, Duration::from_millis(25)))
            .await
            .expect_err("the only server fails");
        // Attempt 1 fails at 2 ms; the retry (on the same, only connection)
        // starts at 12 and fails at 14; the next would start at 34, past
        // the 25 ms deadline, so the call ends at 14 ms with the last status.
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(start.elapsed().as_millis(), 14);
        assert_eq!(retries(&events), vec![(0, 2, GrpcCode::Unavailable, 10)]);
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });
    sim.run().expect("simulation runs");
}
