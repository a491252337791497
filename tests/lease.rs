//! Leases on turmoil: users rely on a lease sending every call on its one
//! connection, on a forgotten lease being reported once, at exactly the
//! threshold, naming the line that took it, on a lease never failing over
//! to another connection, and on shutdown counting leases still held.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use squall_pool::{
    ConnEvent, EventKind, KeepaliveConfig, Pool, PoolConfig, PoolError, PoolEvent, RoutedTo,
};
use squall_sim::{
    TurmoilConnector,
    echo::proto::{EchoRequest, echo_client::EchoClient},
};
use squall_suite::sim_with_one_server;
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
