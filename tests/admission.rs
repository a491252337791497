//! The limiter and the circuit breaker, in the pool's RPC path, on turmoil.
//!
//! Users rely on the limiter to bound what they send (never more than
//! `max_concurrency` in flight, a bounded FIFO queue, immediate
//! RESOURCE_EXHAUSTED when it is full, no waiter past its deadline, no permit
//! lost when a caller gives up or panics), and on the breaker to stop sending to a
//! failing endpoint without touching the network, then probe it and resume.
//! Times are simulated and asserted exactly: every link has 1 ms latency, so
//! an RPC that reaches the server takes at least 2 ms.

use std::{panic::AssertUnwindSafe, time::Duration};

use futures_util::{FutureExt, future::join_all};
use squall_pool::{
    Pool, PoolConfig, PoolError,
    breaker::{BreakerConfig, SlidingWindow},
    limit::{LimiterConfig, Rejection},
};
use squall_sim::{
    TurmoilConnector,
    echo::proto::{EchoRequest, echo_client::EchoClient},
};
use squall_suite::sim_with_one_server;
use tokio::time::Instant;
use tonic::Code;

type Client = EchoClient<Pool>;

/// Runs `client` on a turmoil client host against one echo server.
fn simulate<F, Fut>(config: PoolConfig, client: F)
where
    F: FnOnce(Client, Pool) -> Fut + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let mut sim = sim_with_one_server(11, Duration::from_secs(120));
    sim.client("client", async move {
        let pool = Pool::builder()
            .endpoint("http://server-1:50051")
            .config(config)
            .build(TurmoilConnector)?;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(pool.ready_connections(), 1);
        client(EchoClient::new(pool.clone()), pool.clone()).await;
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });
    sim.run().expect("simulation runs");
}

fn request(delay_ms: u32, fail_code: Code, timeout: Duration) -> tonic::Request<EchoRequest> {
    let mut request = tonic::Request::new(EchoRequest {
        message: "x".into(),
        delay_ms,
        fail_code: fail_code as i32,
    });
    request.set_timeout(timeout);
    request
}

/// Sends one RPC; returns (ms after `start` it finished, its code).
async fn call(
    mut client: Client,
    start: Instant,
    request: tonic::Request<EchoRequest>,
) -> (u128, Code) {
    let code = match client.echo(request).await {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    };
    (start.elapsed().as_millis(), code)
}

fn one_connection(limiter: Option<LimiterConfig>, breaker: Option<BreakerConfig>) -> PoolConfig {
    PoolConfig {
        connections_per_endpoint: 1,
        limiter,
        breaker,
        ..PoolConfig::default()
    }
}

#[test]
fn limiter_bounds_in_flight_queues_fifo_and_rejects_when_full() {
    let limiter = LimiterConfig {
        max_concurrency: 2,
        rate: None,
        max_queue_len: 2,
        max_queue_wait: Duration::from_secs(1),
    };
    simulate(
        one_connection(Some(limiter), None),
        |client, _pool| async move {
            let start = Instant::now();
            let slow = || request(100, Code::Ok, Duration::from_secs(5));
            let results = join_all((0..6).map(|_| call(client.clone(), start, slow()))).await;
            // Two run at once (100 ms at the server + 2 ms of network), two
            // queue and run next, two find the queue full and fail at once.
            assert_eq!(
                results,
                vec![
                    (102, Code::Ok),
                    (102, Code::Ok),
                    (204, Code::Ok),
                    (204, Code::Ok),
                    (0, Code::ResourceExhausted),
                    (0, Code::ResourceExhausted),
                ]
            );
        },
    );
}

#[test]
fn a_queued_caller_gives_up_at_its_deadline() {
    let limiter = LimiterConfig {
        max_concurrency: 1,
        rate: None,
        max_queue_len: 4,
        max_queue_wait: Duration::from_secs(1),
    };
    simulate(
        one_connection(Some(limiter), None),
        |client, _pool| async move {
            let start = Instant::now();
            let (busy, impatient) = tokio::join!(
                call(
                    client.clone(),
                    start,
                    request(100, Code::Ok, Duration::from_secs(5))
                ),
                // Waits behind `busy`, but its deadline (30 ms) comes first.
                call(
                    client.clone(),
                    start,
                    request(0, Code::Ok, Duration::from_millis(30))
                ),
            );
            assert_eq!(busy, (102, Code::Ok));
            assert_eq!(impatient, (30, Code::DeadlineExceeded));
        },
    );
}

#[test]
fn a_cancelled_waiter_frees_its_queue_place_and_leaks_no_permit() {
    let limiter = LimiterConfig {
        max_concurrency: 1,
        rate: None,
        max_queue_len: 1,
        max_queue_wait: Duration::from_secs(1),
    };
    simulate(
        one_connection(Some(limiter), None),
        |client, _pool| async move {
            let start = Instant::now();
            let busy = call(
                client.clone(),
                start,
                request(100, Code::Ok, Duration::from_secs(5)),
            );
            let later = async {
                // Takes the only queue place, then its caller gives up at 10 ms.
                let cancelled = tokio::time::timeout(
                    Duration::from_millis(10),
                    call(
                        client.clone(),
                        start,
                        request(0, Code::Ok, Duration::from_secs(5)),
                    ),
                )
                .await;
                assert!(cancelled.is_err(), "still queued when dropped");
                // The place is free again: this caller queues instead of being
                // rejected, and runs when `busy` is done.
                call(
                    client.clone(),
                    start,
                    request(0, Code::Ok, Duration::from_secs(5)),
                )
                .await
            };
            let (busy, later) = tokio::join!(busy, later);
            assert_eq!(busy, (102, Code::Ok));
            assert_eq!(later, (104, Code::Ok));

            // And the single permit is free: one RPC runs at once, one queues.
            let start = Instant::now();
            let after = join_all((0..2).map(|_| {
                call(
                    client.clone(),
                    start,
                    request(10, Code::Ok, Duration::from_secs(5)),
                )
            }))
            .await;
            assert_eq!(after, vec![(12, Code::Ok), (24, Code::Ok)]);
        },
    );
}

#[test]
fn breaker_opens_fails_fast_then_probes_and_closes() {
    let breaker = BreakerConfig {
        minimum_calls: 4,
        sliding_window: SlidingWindow::Count(4),
        failure_rate_threshold: 50,
        wait_in_open: Duration::from_secs(2),
        permitted_in_half_open: 2,
        ..BreakerConfig::default()
    };
    simulate(
        one_connection(None, Some(breaker)),
        |client, _pool| async move {
            let timeout = Duration::from_secs(1);
            // Four UNAVAILABLE answers from the server fill the window: 100%
            // failures, so the breaker opens on the fourth.
            for _ in 0..4 {
                let start = Instant::now();
                let (ms, code) = call(
                    client.clone(),
                    start,
                    request(0, Code::Unavailable, timeout),
                )
                .await;
                assert_eq!((ms, code), (2, Code::Unavailable), "served by the server");
            }

            // Open: the next call fails at once, without a network round trip.
            let opened = Instant::now();
            let mut c = client.clone();
            let status = c.echo(request(0, Code::Ok, timeout)).await.unwrap_err();
            assert_eq!(opened.elapsed(), Duration::ZERO);
            assert_eq!(status.code(), Code::Unavailable);
            assert!(matches!(
                PoolError::from_status(&status),
                Some(PoolError::BreakerOpen)
            ));

            // After wait_in_open, two probes are let through; both succeed, so
            // the breaker closes and calls flow again.
            tokio::time::sleep_until(opened + Duration::from_secs(2)).await;
            let start = Instant::now();
            let probes = join_all(
                (0..2).map(|_| call(client.clone(), start, request(0, Code::Ok, timeout))),
            )
            .await;
            assert_eq!(probes, vec![(2, Code::Ok), (2, Code::Ok)]);
            // Closed (not still half-open, which would admit only two):
            // three concurrent calls all go through.
            let start = Instant::now();
            let flowing = join_all(
                (0..3).map(|_| call(client.clone(), start, request(5, Code::Ok, timeout))),
            )
            .await;
            assert_eq!(flowing, vec![(7, Code::Ok); 3]);
        },
    );
}

#[test]
fn half_open_admits_only_the_permitted_probes_and_a_failed_probe_reopens() {
    let breaker = BreakerConfig {
        minimum_calls: 2,
        sliding_window: SlidingWindow::Count(2),
        failure_rate_threshold: 50,
        wait_in_open: Duration::from_secs(1),
        permitted_in_half_open: 1,
        ..BreakerConfig::default()
    };
    simulate(
        one_connection(None, Some(breaker)),
        |client, _pool| async move {
            let timeout = Duration::from_secs(1);
            for _ in 0..2 {
                call(
                    client.clone(),
                    Instant::now(),
                    request(0, Code::Internal, timeout),
                )
                .await;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            // Half-open with one probe slot: a slow probe takes it, a second
            // call meanwhile is refused at once.
            let start = Instant::now();
            let (probe, refused) = tokio::join!(
                call(client.clone(), start, request(50, Code::Internal, timeout)),
                call(client.clone(), start, request(0, Code::Ok, timeout)),
            );
            assert_eq!(probe, (52, Code::Internal));
            assert_eq!(refused, (0, Code::Unavailable));
            // The probe failed: open again, so calls fail fast.
            let start = Instant::now();
            assert_eq!(
                call(client.clone(), start, request(0, Code::Ok, timeout)).await,
                (0, Code::Unavailable)
            );
        },
    );
}

#[test]
fn queue_full_is_resource_exhausted_with_a_typed_source() {
    let limiter = LimiterConfig {
        max_concurrency: 1,
        rate: None,
        max_queue_len: 0,
        max_queue_wait: Duration::from_secs(1),
    };
    simulate(
        one_connection(Some(limiter), None),
        |client, _pool| async move {
            let mut a = client.clone();
            let mut b = client.clone();
            let (first, second) = tokio::join!(
                a.echo(request(20, Code::Ok, Duration::from_secs(1))),
                b.echo(request(0, Code::Ok, Duration::from_secs(1))),
            );
            assert!(first.is_ok());
            let status = second.unwrap_err();
            assert_eq!(status.code(), Code::ResourceExhausted);
            assert!(matches!(
                PoolError::from_status(&status),
                Some(PoolError::Limited(Rejection::QueueFull { .. }))
            ));
        },
    );
}

#[test]
fn a_caller_that_panics_mid_rpc_leaks_no_permit() {
    let limiter = LimiterConfig {
        max_concurrency: 1,
        rate: None,
        max_queue_len: 0,
        max_queue_wait: Duration::from_secs(1),
    };
    simulate(
        one_connection(Some(limiter), None),
        |client, pool| async move {
            // turmoil turns a panicking task into a failed simulation, so the
            // caller's panic is caught where tokio would catch it: around the
            // caller's future, which unwinding drops with the RPC inside.
            let mut panicking = client.clone();
            let observer = pool.clone();
            let caller = async move {
                let rpc = panicking.echo(request(100, Code::Ok, Duration::from_secs(5)));
                tokio::pin!(rpc);
                let still_running = tokio::time::timeout(Duration::from_millis(10), &mut rpc).await;
                assert!(still_running.is_err(), "the RPC was still in flight");
                let held = observer.stats().limiter.expect("the pool has a limiter");
                assert_eq!((held.in_flight, held.queued), (1, 0));
                panic!("the caller panics while its RPC holds a permit");
            };
            let caught = AssertUnwindSafe(caller).catch_unwind().await;
            assert!(caught.is_err(), "the caller panicked");
            let limiter = pool.stats().limiter.expect("the pool has a limiter");
            assert_eq!((limiter.in_flight, limiter.queued), (0, 0));

            // With no queue, a leaked permit would make this fail at once.
            let start = Instant::now();
            let after = call(client, start, request(0, Code::Ok, Duration::from_secs(5))).await;
            assert_eq!(after, (2, Code::Ok));
        },
    );
}
