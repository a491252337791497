//! Idle timeout on turmoil (gRPC channel idleness).
//!
//! Users rely on `idle_timeout` closing every connection once no RPC has
//! been in flight for that long, the pool then reporting IDLE, and the next
//! RPC reconnecting and succeeding: IDLE is not a failure, so even a
//! fail-fast RPC waits for the connection (within its deadline). A pool
//! that cannot reconnect is failing, though, and then a fail-fast RPC fails
//! at once. Every link has 1 ms latency: connecting takes 1 ms and an RPC's
//! round trip 2 ms.

use std::{sync::Arc, time::Duration};

use squall_pool::{Connectivity, Pool, PoolConfig};
use squall_sim::{
    TurmoilConnector,
    echo::proto::{EchoRequest, echo_client::EchoClient},
};
use squall_suite::{EventLines, conn_event_recorder, lines_before_shutdown, sim_with_one_server};
use tokio::time::{Instant, sleep_until};
use tonic::Code;

async fn echo(client: &mut EchoClient<Pool>, start: Instant, delay_ms: u32) -> (u128, Code) {
    let mut request = tonic::Request::new(EchoRequest {
        message: "x".into(),
        delay_ms,
        fail_code: 0,
    });
    request.set_timeout(Duration::from_secs(1));
    let code = match client.echo(request).await {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    };
    (start.elapsed().as_millis(), code)
}

#[test]
fn an_idle_pool_closes_its_connections_and_the_next_rpc_reconnects() {
    let mut sim = sim_with_one_server(31, Duration::from_secs(60));
    let lines: EventLines = Arc::default();
    let recorded = Arc::clone(&lines);
    sim.client("client", async move {
        let start = Instant::now();
        let config = PoolConfig {
            connections_per_endpoint: 2,
            idle_timeout: Some(Duration::from_secs(5)),
            ..PoolConfig::default()
        };
        let pool = Pool::builder()
            .endpoint("http://server-1:50051")
            .config(config)
            .on_event(conn_event_recorder(start, &recorded))
            .build(TurmoilConnector)?;
        let mut client = EchoClient::new(pool.clone());

        sleep_until(start + Duration::from_millis(50)).await;
        // 100 ms at the server and 1 ms each way.
        assert_eq!(echo(&mut client, start, 100).await, (152, Code::Ok));

        // Still open just before the idle timeout, closed right after it
        // (the events below give the exact time).
        sleep_until(start + Duration::from_millis(5151)).await;
        assert_eq!(pool.ready_connections(), 2);
        sleep_until(start + Duration::from_millis(5153)).await;
        assert_eq!(pool.ready_connections(), 0);
        let stats = pool.stats();
        assert_eq!(stats.state, Connectivity::Idle);
        assert!(
            stats.endpoints[0]
                .slots
                .iter()
                .all(|s| s.state == Connectivity::Idle && s.connection.is_none())
        );

        // A fail-fast RPC wakes the pool, waits 1 ms for the connection,
        // and succeeds 2 ms later.
        sleep_until(start + Duration::from_secs(20)).await;
        assert_eq!(echo(&mut client, start, 0).await, (20_003, Code::Ok));
        assert_eq!(pool.stats().state, Connectivity::Ready);

        // Idle again 5 s after that RPC; now the server is unreachable, so
        // waking fails (a partition refuses connects at once) and a
        // fail-fast RPC fails at once too.
        sleep_until(start + Duration::from_secs(30)).await;
        assert_eq!(pool.stats().state, Connectivity::Idle);
        turmoil::partition("client", "server-1");
        assert_eq!(
            echo(&mut client, start, 0).await,
            (30_000, Code::Unavailable)
        );

        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });
    sim.run().expect("simulation runs");

    let lines = lines_before_shutdown(&lines);
    assert_eq!(
        lines,
        vec![
            "0 conn_connecting conn=1 attempt=1",
            "0 conn_connecting conn=2 attempt=1",
            "1 conn_ready conn=1",
            "1 conn_ready conn=2",
            // The RPC's response was read at 152 ms: idle 5 s later.
            "5152 conn_draining conn=1 cause=idle",
            "5152 conn_closed conn=1 cause=idle",
            "5152 conn_draining conn=2 cause=idle",
            "5152 conn_closed conn=2 cause=idle",
            "20000 conn_connecting conn=3 attempt=1",
            "20000 conn_connecting conn=4 attempt=1",
            "20001 conn_ready conn=3",
            "20001 conn_ready conn=4",
            "25003 conn_draining conn=3 cause=idle",
            "25003 conn_closed conn=3 cause=idle",
            "25003 conn_draining conn=4 cause=idle",
            "25003 conn_closed conn=4 cause=idle",
            // The RPC wakes both slots; the partition refuses both dials
            // at once, and the pool is failing, no longer waking.
            "30000 conn_connecting conn=5 attempt=1",
            "30000 conn_closed conn=5 cause=connect_failed error=ConnectionRefused",
            "30000 conn_backoff conn=5 delay_ms=1000",
            "30000 conn_connecting conn=6 attempt=1",
            "30000 conn_closed conn=6 cause=connect_failed error=ConnectionRefused",
            "30000 conn_backoff conn=6 delay_ms=1000",
        ]
    );
}
