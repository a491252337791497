//! gRPC's CONNECTING semantics on turmoil: what a fail-fast RPC does when
//! no connection is ready yet.
//!
//! Users rely on the first RPC after `build()` succeeding (it waits for the
//! first dial, as a tonic `Channel`'s does), and on a server that refuses
//! every connect still failing RPCs fast: once a slot's dial has failed it
//! is TRANSIENT_FAILURE, and it stays so while it redials (gRPC's sticky
//! TRANSIENT_FAILURE), so later RPCs fail at once rather than wait on each
//! redial. Every link has 1 ms latency, so an RPC's round trip is 2 ms;
//! these worlds (`squall_suite::sim_with_servers`) run turmoil's own
//! connect, which completes (or is refused) as the SYN arrives, 1 ms after
//! the dial.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use squall_pool::{Connectivity, Pool, PoolConfig, PoolError};
use squall_sim::{
    TurmoilConnector,
    echo::proto::{EchoRequest, echo_client::EchoClient},
};
use squall_suite::{one_connection_to_server_1, sim_with_one_server};
use tokio::time::{Instant, sleep_until};
use tonic::Code;

/// How one RPC ended: ms after the test's start, its code, and whether
/// the pool's error was "no ready connection".
type Outcome = (u128, Code, bool);

async fn echo(mut client: EchoClient<Pool>, start: Instant) -> Outcome {
    let mut request = tonic::Request::new(EchoRequest {
        message: "x".into(),
        delay_ms: 0,
        fail_code: 0,
    });
    request.set_timeout(Duration::from_secs(10));
    let (code, no_ready) = match client.echo(request).await {
        Ok(_) => (Code::Ok, false),
        Err(status) => (
            status.code(),
            matches!(
                PoolError::from_status(&status),
                Some(PoolError::NoReadyConnection)
            ),
        ),
    };
    (start.elapsed().as_millis(), code, no_ready)
}

/// An RPC sent at t = 0, as the pool is built, waits for the first dial
/// and succeeds; so does one sent while the connection is on its way.
#[test]
fn rpcs_sent_before_the_first_connection_is_ready_wait_for_it() {
    let mut sim = sim_with_one_server(7, Duration::from_secs(10));
    let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let recorded = Arc::clone(&outcomes);
    sim.client("client", async move {
        let start = Instant::now();
        let pool = one_connection_to_server_1()?;
        assert_eq!(pool.ready_connections(), 0);
        let client = EchoClient::new(pool.clone());
        let at_build = echo(client.clone(), start);
        let a_moment_later = async {
            sleep_until(start + Duration::from_millis(1)).await;
            echo(client.clone(), start).await
        };
        let (first, second) = tokio::join!(at_build, a_moment_later);
        recorded.lock().unwrap().extend([first, second]);
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });
    sim.run().unwrap();
    // The connect completes at 1 ms and the first RPC takes a round trip:
    // answered at 3 ms. The second waits for the server's SETTINGS (2 ms),
    // since a connection carries one stream until then: answered at 4 ms.
    assert_eq!(
        *outcomes.lock().unwrap(),
        vec![(3, Code::Ok, false), (4, Code::Ok, false)]
    );
}

/// A pool to a port nobody listens on: the RPC sent at build waits for the
/// first dial, which is refused as its SYN arrives, and then fails with
/// UNAVAILABLE at once, at 1 ms, not at its
/// deadline. Later RPCs, while the slot backs off and redials, fail at the
/// moment they are sent: the slot stays TRANSIENT_FAILURE.
#[test]
fn a_refused_dial_fails_the_waiting_rpc_and_later_ones_fail_fast() {
    let mut sim = sim_with_one_server(8, Duration::from_secs(10));
    let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let recorded = Arc::clone(&outcomes);
    sim.client("client", async move {
        let start = Instant::now();
        let pool = Pool::builder()
            .endpoint("http://server-1:50052")
            .config(PoolConfig {
                connections_per_endpoint: 1,
                ..PoolConfig::default()
            })
            .build(TurmoilConnector)?;
        let client = EchoClient::new(pool.clone());
        let first = echo(client.clone(), start).await;
        let mut later = Vec::new();
        // Sent during the backoff (1 s, ±20 %) and across the redials that
        // follow it (each refused 1 ms after it starts).
        for at in [500, 1_500, 2_001, 4_000] {
            sleep_until(start + Duration::from_millis(at)).await;
            later.push(echo(client.clone(), start).await);
            assert_eq!(pool.stats().state, Connectivity::TransientFailure);
        }
        {
            let mut recorded = recorded.lock().unwrap();
            recorded.push(first);
            recorded.extend(later);
        }
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });
    sim.run().unwrap();
    assert_eq!(
        *outcomes.lock().unwrap(),
        vec![
            (1, Code::Unavailable, true),
            (500, Code::Unavailable, true),
            (1_500, Code::Unavailable, true),
            (2_001, Code::Unavailable, true),
            (4_000, Code::Unavailable, true),
        ]
    );
}
