//! Leases on turmoil: users rely on a lease sending every call on its one
//! connection, on a forgotten lease being reported once, at exactly the
//! threshold, naming the line that took it, on a lease never failing over
//! to another connection, on its calls staying within the connection's
//! stream capacity (waiting for room until their deadline), and on
//! shutdown counting leases still held.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_util::future::join_all;
use squall_pool::{
    ConnEvent, EventKind, KeepaliveConfig, Pool, PoolConfig, PoolError, PoolEvent, RoutedTo,
};
use squall_sim::{
    TurmoilConnector,
    echo::proto::{EchoRequest, echo_client::EchoClient},
    server::ServerControl,
};
use squall_suite::{
    one_connection_to_server_1, peak_in_flight, sim_with_one_server, sim_with_servers,
};
use tokio::time::{Instant, sleep, sleep_until};
use tonic::Code;

#[test]
fn leases_pin_report_leaks_once_and_never_fail_over() {
    let mut sim = sim_with_one_server(3, Duration::from_secs(60));
    let events: Arc<Mutex<Vec<PoolEvent>>> = Arc::default();
    let sink = Arc::clone(&events);
    sim.client("client", async move {
        let config = PoolConfig {
            connections_per_endpoint: 2,
            lease_leak_threshold: Duration::from_secs(10),
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
            .on_event(move |e: &PoolEvent| sink.lock().unwrap().push(e.clone()))
            .build(TurmoilConnector)?;
        sleep(Duration::from_millis(50)).await;

        let (forgotten, taken_on_line) = (pool.lease()?, line!());
        let taken_at = Instant::now();
        let mut pinned = EchoClient::new(pool.lease()?);
        let conn = {
            let response = pinned.echo(EchoRequest::default()).await?;
            response
                .extensions()
                .get::<RoutedTo>()
                .expect("routed")
                .conn
        };
        for _ in 0..5 {
            let response = pinned.echo(EchoRequest::default()).await?;
            assert_eq!(response.extensions().get::<RoutedTo>().unwrap().conn, conn);
        }
        // Given back well before the threshold: never reported.
        drop(pinned);

        sleep_until(taken_at + Duration::from_secs(11)).await;
        {
            let events = events.lock().unwrap();
            let held: Vec<&PoolEvent> = events
                .iter()
                .filter(|e| {
                    matches!(
                        e.kind,
                        EventKind::Conn {
                            event: ConnEvent::LeaseHeld { .. },
                            ..
                        }
                    )
                })
                .collect();
            assert_eq!(held.len(), 1, "only the forgotten lease: {held:?}");
            let EventKind::Conn {
                conn,
                event: ConnEvent::LeaseHeld { lease, age, site },
                ..
            } = &held[0].kind
            else {
                unreachable!()
            };
            assert_eq!(*lease, forgotten.id());
            assert_eq!(*conn, forgotten.conn());
            assert_eq!(held[0].at, taken_at + Duration::from_secs(10));
            assert_eq!(*age, Duration::from_secs(10));
            assert!(site.file().ends_with("lease.rs"), "{}", site.file());
            assert_eq!(site.line(), taken_on_line);
        }

        // The leased connection dies (black hole, keepalive closes it): the
        // lease fails at once instead of moving to the other connection.
        let mut on_forgotten = EchoClient::new(pool.lease()?);
        let pinned_conn = on_forgotten
            .echo(EchoRequest::default())
            .await?
            .extensions()
            .get::<RoutedTo>()
            .unwrap()
            .conn;
        turmoil::partition("client", "server-1");
        sleep(Duration::from_secs(4)).await;
        let failed_at = Instant::now();
        let status = on_forgotten.echo(EchoRequest::default()).await.unwrap_err();
        assert_eq!(failed_at.elapsed(), Duration::ZERO);
        assert_eq!(status.code(), Code::Unavailable);
        assert!(matches!(
            PoolError::from_status(&status),
            Some(PoolError::LeaseLost { conn, .. }) if *conn == pinned_conn
        ));
        turmoil::repair("client", "server-1");
        drop(on_forgotten);

        let report = pool.shutdown().await;
        assert_eq!(report.leases_left, 1, "the forgotten lease");
        assert_eq!(report.tasks_left, 0);
        drop(forgotten);
        Ok(())
    });
    sim.run().expect("simulation runs");
}

#[test]
fn lease_calls_wait_for_room_within_the_connections_capacity() {
    let control = ServerControl::default().with_max_streams(Some(2));
    let mut sim = sim_with_servers(4, Duration::from_secs(30), &[control]);
    sim.client("client", async move {
        let pool = one_connection_to_server_1()?;
        sleep(Duration::from_millis(50)).await;
        // One call through a new lease of the pool's one connection: (ms
        // from `since` to its end, code).
        let call = |since: Instant, delay_ms: u32, timeout: Duration| {
            let mut client = EchoClient::new(pool.lease().expect("a ready connection"));
            async move {
                let mut request = tonic::Request::new(EchoRequest {
                    message: "x".into(),
                    delay_ms,
                    fail_code: 0,
                });
                request.set_timeout(timeout);
                let code = client
                    .echo(request)
                    .await
                    .map_or_else(|s| s.code(), |_| Code::Ok);
                (since.elapsed().as_millis(), code)
            }
        };
        // Four leased calls on a connection the server lets carry two: as with
        // the pool's own RPCs, two run and two wait for room, instead of
        // queueing inside h2.
        let sampler = peak_in_flight(&pool, 1_500);
        let start = Instant::now();
        let four = join_all((0..4).map(|_| call(start, 100, Duration::from_secs(5)))).await;
        let ok = |at| (at, Code::Ok);
        assert_eq!(four, vec![ok(102), ok(102), ok(204), ok(204)]);

        // A call that finds no room before its deadline fails then, with
        // DEADLINE_EXCEEDED, never having been sent.
        let start = Instant::now();
        let (long, short) = tokio::join!(
            join_all((0..2).map(|_| call(start, 1_000, Duration::from_secs(5)))),
            async {
                sleep(Duration::from_millis(10)).await;
                call(start, 0, Duration::from_millis(100)).await
            }
        );
        assert_eq!(short, (110, Code::DeadlineExceeded));
        assert_eq!(long, vec![(1_002, Code::Ok), (1_002, Code::Ok)]);
        assert_eq!(
            sampler.await.expect("sampler"),
            2,
            "never more than the server's 2 streams in flight"
        );
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });
    sim.run().expect("simulation runs");
}
