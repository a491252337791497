//! Wait-for-ready (a per-call opt-in, as in gRPC) across a server restart
//! on turmoil.
//!
//! Users rely on the default staying fail-fast (UNAVAILABLE as soon as no
//! connection is ready or on its way), on a call marked `WaitForReady` instead waiting
//! for a connection and succeeding once the server is back, and on such a
//! call never outliving its deadline: DEADLINE_EXCEEDED exactly at it.
//! The server's process crashes at 1 s (its sockets close, so the pool sees
//! the connection end 1 ms later) and restarts at 3 s; a connect to a
//! crashed host hangs until it restarts. Every link has 1 ms latency.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use squall_pool::{Pool, PoolError, WaitForReady};
use squall_sim::echo::proto::{EchoRequest, echo_client::EchoClient};
use squall_suite::{one_connection_to_server_1, sim_with_one_server};
use tokio::time::{Instant, sleep_until};
use tonic::Code;

/// (ms since start it ended, code, whether the pool's error was "no
/// connection before the deadline").
type Outcome = (u128, Code, bool);

async fn echo(
    mut client: EchoClient<Pool>,
    start: Instant,
    wait_for_ready: bool,
    timeout: Duration,
) -> Outcome {
    let mut request = tonic::Request::new(EchoRequest {
        message: "x".into(),
        delay_ms: 0,
        fail_code: 0,
    });
    request.set_timeout(timeout);
    if wait_for_ready {
        request.extensions_mut().insert(WaitForReady);
    }
    let (code, waited_out) = match client.echo(request).await {
        Ok(_) => (Code::Ok, false),
        Err(status) => (
            status.code(),
            matches!(
                PoolError::from_status(&status),
                Some(PoolError::NoConnectionBeforeDeadline)
            ),
        ),
    };
    (start.elapsed().as_millis(), code, waited_out)
}

#[test]
fn wait_for_ready_calls_wait_through_a_restart_until_their_deadline() {
    let mut sim = sim_with_one_server(41, Duration::from_secs(30));
    let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let recorded = Arc::clone(&outcomes);
    sim.client("client", async move {
        let start = Instant::now();
        let pool = one_connection_to_server_1()?;
        let client = EchoClient::new(pool.clone());

        sleep_until(start + Duration::from_millis(1500)).await;
        assert_eq!(pool.ready_connections(), 0, "the server is down");
        let (fail_fast, patient, impatient) = tokio::join!(
            echo(client.clone(), start, false, Duration::from_secs(5)),
            echo(client.clone(), start, true, Duration::from_secs(5)),
            echo(client.clone(), start, true, Duration::from_millis(500)),
        );
        recorded
            .lock()
            .unwrap()
            .extend([fail_fast, patient, impatient]);
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });

    let mut crashed = false;
    let mut restarted = false;
    loop {
        let elapsed = sim.elapsed();
        if !crashed && elapsed >= Duration::from_secs(1) {
            sim.crash("server-1");
            crashed = true;
        }
        if !restarted && elapsed >= Duration::from_secs(3) {
            sim.bounce("server-1");
            restarted = true;
        }
        if sim.step().expect("simulation steps") {
            break;
        }
    }

    let outcomes = outcomes.lock().unwrap().clone();
    assert_eq!(
        outcomes,
        vec![
            // Fail-fast, but the slot is CONNECTING (its redial after the
            // lost connection hangs on the crashed host), so it waits, as
            // gRPC's does; the restart at 3 s fails that dial (the slot is
            // TRANSIENT_FAILURE) and the call fails with UNAVAILABLE then.
            (3000, Code::Unavailable, false),
            // Waits for the redial that hung on the crashed host; the
            // server answers the connect when it restarts at 3 s, the
            // connection is ready 1 ms later and the RPC's round trip is
            // 2 ms.
            (3003, Code::Ok, false),
            // Its deadline (500 ms) comes before the restart.
            (2000, Code::DeadlineExceeded, true),
        ]
    );
}
