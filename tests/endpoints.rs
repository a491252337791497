//! Changing the endpoint set at runtime, on turmoil.
//!
//! Users rely on `Pool::add_endpoint` starting connections to the new
//! endpoint at once, on bad or duplicate endpoints getting a typed error,
//! and on `Pool::remove_endpoint` draining the removed endpoint's
//! connections: no new RPC goes there, RPCs already in flight finish, then
//! the connections close and their tasks end, and `Pool::stats` shows the
//! endpoint removed. Every link has 1 ms latency: connecting takes 1 ms and
//! an RPC's round trip 2 ms plus its time at the server.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_util::future::join_all;
use squall_pool::{
    AddEndpointError, Connectivity, EndpointError, EndpointId, EventKind, Pool, PoolConfig,
    PoolEvent, RemoveEndpointError, RoutedTo,
};
use squall_sim::{
    Recorder, TurmoilConnector,
    echo::proto::{EchoRequest, echo_client::EchoClient},
    server,
};
use squall_suite::{lines_before_shutdown, sim_with_one_server};
use tokio::time::{Instant, sleep_until};
use tonic::Code;

type Lines = Arc<Mutex<Vec<String>>>;

fn recorder(start: Instant, lines: &Lines) -> impl Fn(&PoolEvent) + Send + Sync + 'static {
    let lines = Arc::clone(lines);
    move |e: &PoolEvent| {
        if let EventKind::Conn { endpoint, .. } = &e.kind {
            let at = e.at.duration_since(start).as_millis();
            lines.lock().unwrap().push(format!(
                "{at} endpoint={endpoint} {}{}",
                e.kind.name(),
                e.kind
            ));
        }
    }
}

/// Sends one echo that spends `delay_ms` at the server; returns (ms it
/// ended, code, the endpoint it went to).
async fn echo(
    mut client: EchoClient<Pool>,
    start: Instant,
    delay_ms: u32,
) -> (u128, Code, Option<EndpointId>) {
    let request = tonic::Request::new(EchoRequest {
        message: "x".into(),
        delay_ms,
        fail_code: 0,
    });
    match client.echo(request).await {
        Ok(response) => (
            start.elapsed().as_millis(),
            Code::Ok,
            response.extensions().get::<RoutedTo>().map(|r| r.endpoint),
        ),
        Err(status) => (start.elapsed().as_millis(), status.code(), None),
    }
}

#[test]
fn endpoints_are_added_and_removed_endpoints_drain() {
    let mut sim = sim_with_one_server(51, Duration::from_secs(30));
    sim.host("server-2", || {
        server::serve(
            "server-2".into(),
            Recorder::default(),
            server::ServerControl::default(),
        )
    });
    let lines: Lines = Arc::default();
    let recorded = Arc::clone(&lines);
    sim.client("client", async move {
        let start = Instant::now();
        let config = PoolConfig {
            connections_per_endpoint: 1,
            ..PoolConfig::default()
        };
        let pool = Pool::builder()
            .endpoint("http://server-1:50051")
            .config(config)
            .on_event(recorder(start, &recorded))
            .build(TurmoilConnector)?;
        let client = EchoClient::new(pool.clone());

        sleep_until(start + Duration::from_millis(100)).await;
        assert_eq!(
            pool.add_endpoint("http://server-2:50051"),
            Ok(EndpointId(1))
        );
        assert_eq!(
            pool.add_endpoint("http://server-2:50051"),
            Err(AddEndpointError::Duplicate("http://server-2:50051".into()))
        );
        assert!(matches!(
            pool.add_endpoint("http://server-3"),
            Err(AddEndpointError::Invalid(EndpointError::MissingPort(_)))
        ));
        assert_eq!(
            pool.remove_endpoint("http://server-9:50051"),
            Err(RemoveEndpointError::NotFound(
                "http://server-9:50051".into()
            ))
        );

        // Four slow RPCs spread over both endpoints; server-1 is removed
        // while two of them are in flight there, and they still succeed.
        sleep_until(start + Duration::from_millis(200)).await;
        let slow = join_all((0..4).map(|_| echo(client.clone(), start, 500)));
        let remove = async {
            sleep_until(start + Duration::from_millis(300)).await;
            assert_eq!(
                pool.remove_endpoint("http://server-1:50051"),
                Ok(EndpointId(0))
            );
            // From now on every RPC goes to server-2.
            join_all((0..10).map(|_| echo(client.clone(), start, 0))).await
        };
        let (slow, after) = tokio::join!(slow, remove);
        let mut slow_endpoints: Vec<_> = slow.iter().map(|(_, _, e)| *e).collect();
        slow_endpoints.sort();
        assert_eq!(
            slow_endpoints,
            [EndpointId(0), EndpointId(0), EndpointId(1), EndpointId(1)].map(Some)
        );
        assert!(
            slow.iter()
                .all(|(at, code, _)| (*at, *code) == (702, Code::Ok))
        );
        assert!(
            after
                .iter()
                .all(|r| *r == (302, Code::Ok, Some(EndpointId(1)))),
            "{after:?}"
        );

        sleep_until(start + Duration::from_millis(800)).await;
        let stats = pool.stats();
        assert_eq!(stats.state, Connectivity::Ready);
        let removed = &stats.endpoints[0];
        assert!(removed.removed);
        assert_eq!(removed.state, Connectivity::Shutdown);
        assert!(removed.slots.iter().all(|s| s.connection.is_none()));
        assert!(!stats.endpoints[1].removed);
        assert_eq!(stats.endpoints[1].state, Connectivity::Ready);
        assert_eq!(pool.ready_connections(), 1);

        // Removed endpoints can come back, under a new id.
        assert_eq!(
            pool.add_endpoint("http://server-1:50051"),
            Ok(EndpointId(2))
        );
        assert_eq!(pool.endpoints().len(), 3);
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        assert_eq!(
            pool.add_endpoint("http://server-3:50051"),
            Err(AddEndpointError::Shutdown)
        );
        Ok(())
    });
    sim.run().expect("simulation runs");

    let lines = lines_before_shutdown(&lines);
    assert_eq!(
        lines,
        vec![
            "0 endpoint=0 conn_connecting conn=1 attempt=1",
            "1 endpoint=0 conn_ready conn=1",
            "100 endpoint=1 conn_connecting conn=2 attempt=1",
            "101 endpoint=1 conn_ready conn=2",
            // Removed at 300 ms with two RPCs in flight; they answer at
            // 200 + 500 + 2 ms, and the connection closes then.
            "300 endpoint=0 conn_draining conn=1 cause=endpoint_removed",
            "702 endpoint=0 conn_closed conn=1 cause=endpoint_removed",
        ]
    );
}
