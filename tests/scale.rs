//! Stream cap and scaling between min and max connections, on turmoil.
//!
//! Users rely on `max_streams_per_connection` never being exceeded (checked
//! at every pool event and at every RPC's response), on saturation dialling
//! one more connection per endpoint up to `max_connections_per_endpoint`
//! (RPCs wait for it rather than fail), on an RPC that finds no room and no
//! way to grow waiting for room within its deadline, and on extra
//! connections closing again after `scale_down_after` without RPCs, back to
//! `connections_per_endpoint`. Every link has 1 ms latency: connecting
//! takes 1 ms, an RPC's round trip 2 ms plus its time at the server.

use std::{
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use futures_util::future::join_all;
use squall_pool::{ConnId, EventKind, Pool, PoolConfig, PoolEvent, RoutedTo};
use squall_sim::{
    TurmoilConnector,
    echo::proto::{EchoRequest, echo_client::EchoClient},
};
use squall_suite::sim_with_one_server;
use tokio::time::{Instant, sleep_until};
use tonic::Code;

const CAP: usize = 2;

#[derive(Default)]
struct Seen {
    lines: Vec<String>,
    /// Most RPCs seen in flight on one connection.
    max_in_flight: usize,
}

/// The largest in-flight count of any connection right now.
fn busiest(pool: &Pool) -> usize {
    let stats = pool.stats();
    let conns = stats.endpoints.iter().flat_map(|e| &e.slots);
    conns
        .filter_map(|s| s.connection.as_ref().map(|c| c.in_flight))
        .max()
        .unwrap_or(0)
}

async fn echo(
    mut client: EchoClient<Pool>,
    pool: Pool,
    seen: Arc<Mutex<Seen>>,
    start: Instant,
    delay_ms: u32,
) -> (u128, Code, Option<ConnId>) {
    let mut request = tonic::Request::new(EchoRequest {
        message: "x".into(),
        delay_ms,
        fail_code: 0,
    });
    request.set_timeout(Duration::from_secs(5));
    let result = client.echo(request).await;
    let mut seen = seen.lock().unwrap();
    seen.max_in_flight = seen.max_in_flight.max(busiest(&pool));
    match result {
        Ok(response) => (
            start.elapsed().as_millis(),
            Code::Ok,
            response.extensions().get::<RoutedTo>().map(|r| r.conn),
        ),
        Err(status) => (start.elapsed().as_millis(), status.code(), None),
    }
}

#[test]
fn saturation_scales_up_idle_scales_down_and_the_cap_holds() {
    let mut sim = sim_with_one_server(61, Duration::from_secs(30));
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let by_client = Arc::clone(&seen);
    sim.client("client", async move {
        let start = Instant::now();
        let config = PoolConfig {
            connections_per_endpoint: 1,
            max_connections_per_endpoint: Some(3),
            max_streams_per_connection: Some(CAP),
            scale_down_after: Duration::from_secs(2),
            ..PoolConfig::default()
        };
        // The sink checks the cap at every event, through the pool itself.
        let handle: Arc<OnceLock<Pool>> = Arc::default();
        let (sink_handle, sink_seen) = (Arc::clone(&handle), Arc::clone(&by_client));
        let pool = Pool::builder()
            .endpoint("http://server-1:50051")
            .config(config)
            .on_event(move |e: &PoolEvent| {
                let busiest = sink_handle.get().map_or(0, busiest);
                let mut seen = sink_seen.lock().unwrap();
                seen.max_in_flight = seen.max_in_flight.max(busiest);
                if let EventKind::Conn { .. } = &e.kind {
                    let at = e.at.duration_since(start).as_millis();
                    seen.lines.push(format!("{at} {}{}", e.kind.name(), e.kind));
                }
            })
            .build(TurmoilConnector)?;
        handle.set(pool.clone()).ok().expect("set once");
        let client = EchoClient::new(pool.clone());

        sleep_until(start + Duration::from_millis(100)).await;
        assert_eq!(pool.ready_connections(), 1);
        let call = |delay| {
            echo(
                client.clone(),
                pool.clone(),
                Arc::clone(&by_client),
                start,
                delay,
            )
        };
        // Seven RPCs of 1 s at once: room for two per connection, and at
        // most three connections.
        let results = join_all((0..7).map(|_| call(1000))).await;
        let mut ends: Vec<(u128, Code)> = results.iter().map(|(at, c, _)| (*at, *c)).collect();
        ends.sort_by_key(|(at, _)| *at);
        assert_eq!(
            ends,
            vec![
                // Two on connection 1, sent at 100 ms.
                (1102, Code::Ok),
                (1102, Code::Ok),
                // Two on connection 2, dialled at 100 ms: one sent as it
                // is ready (101 ms), one when its server's SETTINGS say
                // it takes two (102 ms); until then it carries one.
                (1103, Code::Ok),
                (1104, Code::Ok),
                // Two on connection 3, dialled once 2 was full for good
                // (102 ms), the same way a round trip later.
                (1105, Code::Ok),
                (1106, Code::Ok),
                // No room and no more connections: it waits for the first
                // RPC to end (1102 ms) and then takes 1002 ms.
                (2104, Code::Ok),
            ]
        );
        let mut conns: Vec<ConnId> = results.iter().filter_map(|r| r.2).collect();
        conns.sort();
        conns.dedup();
        assert_eq!(conns, [ConnId(1), ConnId(2), ConnId(3)]);
        assert_eq!(pool.ready_connections(), 3);

        // Scaled back down to the minimum.
        sleep_until(start + Duration::from_secs(5)).await;
        assert_eq!(pool.ready_connections(), 1);
        let stats = pool.stats();
        assert_eq!(
            stats.endpoints[0].slots.len(),
            1,
            "asleep slots are not shown"
        );

        // And up again when needed.
        let again = join_all((0..3).map(|_| call(100))).await;
        assert!(again.iter().all(|r| r.1 == Code::Ok));
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });
    sim.run().expect("simulation runs");

    let seen = seen.lock().unwrap();
    assert_eq!(seen.max_in_flight, CAP, "the cap was reached, never passed");
    let lines: Vec<&str> = seen
        .lines
        .iter()
        .map(String::as_str)
        .filter(|l| !l.contains("cause=shutdown"))
        .collect();
    assert_eq!(
        lines,
        vec![
            "0 conn_connecting conn=1 attempt=1",
            "1 conn_ready conn=1",
            "100 conn_connecting conn=2 attempt=1",
            "101 conn_ready conn=2",
            "102 conn_connecting conn=3 attempt=1",
            "103 conn_ready conn=3",
            // Quiet for 2 s after their last RPC ended.
            "3104 conn_draining conn=2 cause=scale_down",
            "3104 conn_closed conn=2 cause=scale_down",
            "3106 conn_draining conn=3 cause=scale_down",
            "3106 conn_closed conn=3 cause=scale_down",
            // The third of three RPCs at 5 s finds connection 1 full.
            "5000 conn_connecting conn=4 attempt=1",
            "5001 conn_ready conn=4",
        ]
    );
}
