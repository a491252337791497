//! What the server's HTTP/2 frames tell the pool, on turmoil: GOAWAY, the
//! server's stream limit, and stream-id exhaustion.
//!
//! Users rely on a connection that receives GOAWAY taking no new RPC at
//! once, its in-flight RPCs finishing on it, and its replacement being
//! dialled before it closes; on "too_many_pings" halving the PING rate to
//! that server once per complaint; on the pool never handing a connection
//! more RPCs than the server's SETTINGS_MAX_CONCURRENT_STREAMS (RPCs wait
//! for room instead of queueing invisibly inside h2); and on connections
//! being replaced, with no failed RPC, long before their stream ids run
//! out. Every link has 1 ms latency, so every time below is exact.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_util::future::join_all;
use squall_pool::{ConnId, EventKind, Pool, PoolConfig, RoutedTo, WaitForReady};
use squall_sim::{
    TurmoilConnector,
    echo::proto::{EchoRequest, echo_client::EchoClient},
    server::{GoawayMode, ServerControl},
};
use squall_suite::{
    EventLines, conn_event_recorder, lines_before_shutdown, one_connection_to_server_1,
    peak_in_flight, sim_with_servers,
};
use tokio::time::{Instant, sleep, sleep_until};
use tonic::Code;

/// An echo request spending `delay_ms` at the server, with a 5 s deadline.
fn echo_request(delay_ms: u32) -> tonic::Request<EchoRequest> {
    let mut request = tonic::Request::new(EchoRequest {
        message: "x".into(),
        delay_ms,
        fail_code: 0,
    });
    request.set_timeout(Duration::from_secs(5));
    request
}

/// Sends `request`: (ms answered, code, conn).
async fn answered(
    mut client: EchoClient<Pool>,
    start: Instant,
    request: tonic::Request<EchoRequest>,
) -> (u128, Code, Option<ConnId>) {
    let (code, conn) = match client.echo(request).await {
        Ok(response) => (
            Code::Ok,
            response.extensions().get::<RoutedTo>().map(|r| r.conn),
        ),
        Err(status) => (status.code(), None),
    };
    (start.elapsed().as_millis(), code, conn)
}

/// One RPC spending `delay_ms` at the server: (ms answered, code, conn).
async fn echo(
    client: EchoClient<Pool>,
    start: Instant,
    delay_ms: u32,
) -> (u128, Code, Option<ConnId>) {
    answered(client, start, echo_request(delay_ms)).await
}

/// As [`echo`], waiting for a ready connection (`WaitForReady`).
async fn waiting_echo(
    client: EchoClient<Pool>,
    start: Instant,
    delay_ms: u32,
) -> (u128, Code, Option<ConnId>) {
    let mut request = echo_request(delay_ms);
    request.extensions_mut().insert(WaitForReady);
    answered(client, start, request).await
}

#[test]
fn a_goaway_drains_the_connection_while_its_replacement_takes_new_rpcs() {
    let control = ServerControl::default();
    let mut sim = sim_with_servers(31, Duration::from_secs(30), std::slice::from_ref(&control));
    let lines: EventLines = Arc::default();
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
            .on_event(conn_event_recorder(start, &recorded))
            .build(TurmoilConnector)?;
        let client = EchoClient::new(pool.clone());
        sleep_until(start + Duration::from_millis(800)).await;
        // In flight on connection 1 when the GOAWAY comes at 1 000 ms.
        let long = tokio::spawn(echo(client.clone(), start, 500));
        sleep_until(start + Duration::from_millis(1000)).await;
        control.goaway(GoawayMode::Graceful, None);
        sleep_until(start + Duration::from_millis(1100)).await;
        let after = echo(client.clone(), start, 0).await;
        let long = long.await.expect("the long RPC's task");

        assert_eq!(
            long,
            (1302, Code::Ok, Some(ConnId(1))),
            "finished on its connection"
        );
        assert_eq!(
            after,
            (1102, Code::Ok, Some(ConnId(2))),
            "went to the replacement"
        );
        sleep(Duration::from_secs(1)).await;
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });
    sim.run().expect("simulation runs");

    let until_shutdown = lines_before_shutdown(&lines);
    // The server acts on the command in its next step and its GOAWAY
    // leaves at 1 001 ms, arriving at 1 002 ms: connection 1 drains and
    // its replacement is dialled in the same millisecond, and is ready
    // 1 ms later. Connection 1 closes once the
    // long RPC (sent at 800 ms, 500 ms at the server) answers at 1 302 ms.
    assert_eq!(
        until_shutdown,
        vec![
            "0 conn_connecting conn=1 attempt=1",
            "1 conn_ready conn=1",
            "1002 conn_draining conn=1 cause=goaway(no_error)",
            "1002 conn_connecting conn=2 attempt=1",
            "1003 conn_ready conn=2",
            "1302 conn_closed conn=1 cause=peer_closed",
        ]
    );
}

#[test]
fn too_many_pings_doubles_the_keepalive_interval_once_per_complaint() {
    let control = ServerControl::default();
    let mut sim = sim_with_servers(32, Duration::from_secs(30), std::slice::from_ref(&control));
    let throttled: Arc<Mutex<Vec<(u128, ConnId, Duration)>>> = Arc::default();
    let recorded = Arc::clone(&throttled);
    sim.client("client", async move {
        let start = Instant::now();
        let config = PoolConfig {
            connections_per_endpoint: 2,
            ..PoolConfig::default()
        };
        let pool = Pool::builder()
            .endpoint("http://server-1:50051")
            .config(config)
            .on_event(move |e: &squall_pool::PoolEvent| {
                if let EventKind::KeepaliveThrottled { conn, interval, .. } = &e.kind {
                    let at = e.at.duration_since(start).as_millis();
                    recorded.lock().unwrap().push((at, *conn, *interval));
                }
            })
            .build(TurmoilConnector)?;
        sleep_until(start + Duration::from_secs(2)).await;
        control.goaway(GoawayMode::TooManyPings, None);
        sleep_until(start + Duration::from_secs(4)).await;
        // Both connections were replaced by connections dialled with the
        // doubled interval; a second complaint doubles it again, once.
        control.goaway(GoawayMode::TooManyPings, None);
        sleep_until(start + Duration::from_secs(6)).await;
        assert_eq!(pool.ready_connections(), 2);
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });
    sim.run().expect("simulation runs");

    let default = PoolConfig::default().keepalive.interval;
    assert_eq!(
        throttled.lock().unwrap().clone(),
        vec![
            (2002, ConnId(2), default * 2),
            (4002, ConnId(3), default * 4),
        ],
        "one doubling per GOAWAY round (it arrives 2 ms after the command), \
         though each round reached both connections"
    );
}

#[test]
fn the_servers_stream_limit_caps_each_connection() {
    let control = ServerControl::default().with_max_streams(Some(2));
    let mut sim = sim_with_servers(33, Duration::from_secs(30), &[control]);
    sim.client("client", async move {
        let start = Instant::now();
        let pool = one_connection_to_server_1()?;
        sleep_until(start + Duration::from_millis(100)).await;
        let stats = pool.stats();
        let conn = stats.endpoints[0].slots[0]
            .connection
            .clone()
            .expect("ready");
        assert_eq!((conn.server_max_streams, conn.capacity), (Some(2), Some(2)));

        // Six RPCs at once on a connection that takes two: two run at a
        // time and the rest wait in the pool (not in h2) for room.
        let client = EchoClient::new(pool.clone());
        let sampler = peak_in_flight(&pool, 400);
        let results = join_all((0..6).map(|_| echo(client.clone(), start, 100))).await;
        let mut answered: Vec<u128> = results
            .iter()
            .map(|(at, code, _)| {
                assert_eq!(*code, Code::Ok);
                *at
            })
            .collect();
        answered.sort_unstable();
        // Each RPC takes 102 ms; a freed stream is taken by a waiting RPC
        // in the millisecond its predecessor answers.
        assert_eq!(answered, vec![202, 202, 304, 304, 406, 406]);
        assert_eq!(
            sampler.await.expect("sampler"),
            2,
            "never more than 2 in flight"
        );
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });
    sim.run().expect("simulation runs");
}

/// Until the server's SETTINGS say its limit, a new connection carries one
/// stream (`PROVISIONAL_PEER_LIMIT`): a server with a lower limit than
/// h2's default of 100 is never sent more than it takes, so nothing is
/// refused, and no RPC waits for the SETTINGS but those beyond the first.
#[test]
fn rpcs_sent_before_the_servers_settings_go_one_at_a_time_and_none_is_refused() {
    let control = ServerControl::default().with_max_streams(Some(2));
    let mut sim = sim_with_servers(35, Duration::from_secs(30), &[control]);
    sim.client("client", async move {
        let start = Instant::now();
        let pool = one_connection_to_server_1()?;
        let client = EchoClient::new(pool.clone());
        // Six calls waiting for the first connection. The first goes out
        // the moment it is ready (1 ms), the second when the server's
        // SETTINGS (2 ms) say it takes two at a time, and the other four
        // wait in the pool for room: each as one answers.
        let calls = (0..6).map(|_| waiting_echo(client.clone(), start, 100));
        let mut results: Vec<(u128, Code)> = join_all(calls)
            .await
            .into_iter()
            .map(|(at, code, _)| (at, code))
            .collect();
        results.sort_by_key(|(at, _)| *at);
        let ok = |at| (at, Code::Ok);
        assert_eq!(
            results,
            vec![ok(103), ok(104), ok(205), ok(206), ok(307), ok(308)]
        );
        let stats = pool.stats();
        let slot = &stats.endpoints[0].slots[0];
        assert_eq!(slot.dials, 1, "the connection was never lost");
        let conn = slot.connection.as_ref().expect("ready");
        assert_eq!(conn.rpcs_routed, 6, "each sent once: none refused");
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });
    sim.run().expect("simulation runs");
}

/// A stream the server refuses (REFUSED_STREAM: it was never processed)
/// is resent transparently rather than failed, to wherever there is room:
/// here a server that takes no streams at all refuses the one stream its
/// new connection carries before its SETTINGS, the RPC waits for room,
/// and an endpoint added later answers it.
#[test]
fn a_refused_stream_is_resent_where_there_is_room() {
    let servers = [
        ServerControl::default().with_max_streams(Some(0)),
        ServerControl::default(),
    ];
    let mut sim = sim_with_servers(36, Duration::from_secs(30), &servers);
    sim.client("client", async move {
        let start = Instant::now();
        let pool = one_connection_to_server_1()?;
        let client = EchoClient::new(pool.clone());
        let call = tokio::spawn(waiting_echo(client, start, 0));
        sleep_until(start + Duration::from_millis(100)).await;
        // Sent at 1 ms, refused at 2 ms; server-1 then has no room.
        let stats = pool.stats();
        let conn = stats.endpoints[0].slots[0]
            .connection
            .clone()
            .expect("ready");
        assert_eq!(
            (conn.rpcs_routed, conn.in_flight, conn.capacity),
            (1, 0, Some(0))
        );
        assert!(
            !call.is_finished(),
            "a refused stream does not fail its RPC"
        );
        let server_2 = pool.add_endpoint("http://server-2:50051")?;
        let (at, code, conn) = call.await.expect("the call's task");
        // server-2's connection is ready at 101 ms and answers at 103 ms.
        assert_eq!((at, code), (103, Code::Ok));
        let stats = pool.stats();
        let on_2 = stats.endpoints[server_2.0 as usize].slots[0]
            .connection
            .clone()
            .expect("ready");
        assert_eq!(conn, Some(on_2.conn));
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });
    sim.run().expect("simulation runs");
}

#[test]
fn a_connection_is_replaced_before_its_stream_ids_run_out() {
    let mut sim = sim_with_servers(34, Duration::from_secs(30), &[ServerControl::default()]);
    let lines: EventLines = Arc::default();
    let recorded = Arc::clone(&lines);
    sim.client("client", async move {
        let start = Instant::now();
        let config = PoolConfig {
            connections_per_endpoint: 1,
            recycle_after_streams: 3,
            max_connection_age_grace: Duration::from_secs(1),
            ..PoolConfig::default()
        };
        let pool = Pool::builder()
            .endpoint("http://server-1:50051")
            .config(config)
            .on_event(conn_event_recorder(start, &recorded))
            .build(TurmoilConnector)?;
        let client = EchoClient::new(pool.clone());
        let mut conns = Vec::new();
        for i in 1..=7u64 {
            sleep_until(start + Duration::from_millis(100 * i)).await;
            let (_, code, conn) = echo(client.clone(), start, 0).await;
            assert_eq!(code, Code::Ok);
            conns.push(conn.expect("routed").0);
        }
        assert_eq!(conns, vec![1, 1, 1, 2, 2, 2, 3]);
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });
    sim.run().expect("simulation runs");

    let until_shutdown = lines_before_shutdown(&lines);
    // The third RPC (sent at 300 ms) uses up connection 1's budget: its
    // replacement is dialled then, ready 1 ms later, and connection 1
    // drains at once (nothing in flight once the RPC answers at 302 ms).
    assert_eq!(
        until_shutdown,
        vec![
            "0 conn_connecting conn=1 attempt=1",
            "1 conn_ready conn=1",
            "300 conn_connecting conn=2 attempt=1",
            "301 conn_ready conn=2",
            "301 conn_draining conn=1 cause=stream_ids_used",
            "302 conn_closed conn=1 cause=stream_ids_used",
            "600 conn_connecting conn=3 attempt=1",
            "601 conn_ready conn=3",
            "601 conn_draining conn=2 cause=stream_ids_used",
            "602 conn_closed conn=2 cause=stream_ids_used",
        ]
    );
}
