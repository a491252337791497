//! Passive outlier ejection on turmoil.
//!
//! Users rely on an endpoint that keeps failing being taken out of rotation
//! at the failure that crosses the threshold, getting no RPC until its
//! ejection time has passed, coming back exactly then, and being ejected
//! for longer each time it fails again (up to the cap); and on the
//! `max_ejection_percent` cap holding even when more endpoints fail.
//! Every link has 1 ms latency, so a call takes exactly 2 ms; calls start
//! every 10 ms, one at a time.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use squall_pool::{
    EndpointId, EventKind, OutlierChange, OutlierConfig, Pool, PoolConfig, PoolEvent, RoutedTo,
};
use squall_sim::{
    TurmoilConnector,
    echo::proto::{EchoRequest, echo_client::EchoClient},
    server::{Failure, ServerControl},
};
use tokio::time::{Instant, sleep, sleep_until};
use tonic::Code;

type Events = Arc<Mutex<Vec<PoolEvent>>>;

/// A simulation with one echo server per entry of `failing`; server `i`
/// fails every call with `failing[i]`, if set.
fn sim_with_servers(failing: &[Option<Code>]) -> turmoil::Sim<'static> {
    let controls: Vec<ServerControl> = failing
        .iter()
        .map(|code| {
            let control = ServerControl::default();
            if let Some(code) = *code {
                control.set_behaviour(|b| b.failure = Some(Failure { percent: 100, code }));
            }
            control
        })
        .collect();
    squall_suite::sim_with_servers(9, Duration::from_secs(120), &controls)
}

async fn pool(servers: usize, outlier: OutlierConfig, events: &Events) -> Pool {
    let sink = Arc::clone(events);
    let pool = Pool::builder()
        .endpoints((1..=servers).map(|i| format!("http://server-{i}:50051")))
        .config(PoolConfig {
            connections_per_endpoint: 1,
            outlier: Some(outlier),
            ..PoolConfig::default()
        })
        .on_event(move |e: &PoolEvent| sink.lock().unwrap().push(e.clone()))
        .build(TurmoilConnector)
        .expect("valid pool");
    sleep(Duration::from_millis(50)).await;
    assert_eq!(pool.ready_connections(), servers);
    pool
}

/// One call: when it was sent and ended (ms after the start), and the
/// endpoint that served it or the code it failed with.
#[derive(Debug, Clone, Copy)]
struct Call {
    sent: u64,
    done: u64,
    result: Result<EndpointId, Code>,
}

/// Sends one call every 10 ms for `duration`, one at a time.
async fn run_load(pool: &Pool, start: Instant, duration: Duration) -> Vec<Call> {
    let mut client = EchoClient::new(pool.clone());
    let ms = |at: Instant| at.duration_since(start).as_millis() as u64;
    let mut calls = Vec::new();
    let mut next = start;
    while next < start + duration {
        sleep_until(next).await;
        let sent = ms(Instant::now());
        let result = match client.echo(EchoRequest::default()).await {
            Ok(reply) => Ok(reply.extensions().get::<RoutedTo>().unwrap().endpoint),
            Err(status) => Err(status.code()),
        };
        let done = ms(Instant::now());
        assert_eq!(done - sent, 2, "every call is one round trip");
        calls.push(Call { sent, done, result });
        next += Duration::from_millis(10);
    }
    calls
}

/// (ms after `start`, endpoint, change) of every outlier event.
fn outlier_events(events: &Events, start: Instant) -> Vec<(u64, u32, OutlierChange)> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Outlier { endpoint, change } => Some((
                e.at.duration_since(start).as_millis() as u64,
                endpoint.0,
                change,
            )),
            _ => None,
        })
        .collect()
}

fn config(max_ejection_percent: u8) -> OutlierConfig {
    OutlierConfig {
        consecutive_failures: 3,
        base_ejection_time: Duration::from_secs(1),
        max_ejection_time: Duration::from_secs(3),
        max_ejection_percent,
        ..OutlierConfig::default()
    }
}

/// The `n`-th failure with `code` after `from` ms (n from 1).
fn nth_failure_after(calls: &[Call], code: Code, from: u64, n: usize) -> Option<&Call> {
    calls
        .iter()
        .filter(|c| c.done > from && c.result == Err(code))
        .nth(n - 1)
}

#[test]
fn a_failing_endpoint_is_ejected_for_growing_periods_and_gets_no_rpc_meanwhile() {
    let mut sim = sim_with_servers(&[Some(Code::Unavailable), None]);
    sim.client("client", async move {
        let events = Events::default();
        let pool = pool(2, config(50), &events).await;
        let start = Instant::now();
        let calls = run_load(&pool, start, Duration::from_secs(12)).await;
        let changes = outlier_events(&events, start);

        // Ejected for 1, 2, 3, then (capped) 3 s, each time at exactly the
        // third failure in a row after it came back, and back exactly when
        // its time is up. The last ejection may outlast the load.
        assert!(changes.len() >= 8, "{changes:?}");
        let mut back_at = 0;
        for (round, pair) in changes.chunks(2).enumerate() {
            let third = nth_failure_after(&calls, Code::Unavailable, back_at, 3).unwrap();
            let secs = (round as u64 + 1).min(3);
            let (ejected_at, endpoint, change) = pair[0];
            assert_eq!((ejected_at, endpoint), (third.done, 0));
            let OutlierChange::Ejected {
                times, duration, ..
            } = change
            else {
                panic!("expected an ejection, got {change:?}");
            };
            assert_eq!(
                (times, duration),
                (round as u32 + 1, Duration::from_secs(secs))
            );
            let Some(&returned) = pair.get(1) else {
                assert!(ejected_at + secs * 1000 > calls.last().unwrap().sent);
                break;
            };
            assert_eq!(
                returned,
                (ejected_at + secs * 1000, 0, OutlierChange::Returned)
            );
            back_at = returned.0;
            // Nothing sent while it was out reached it.
            let meanwhile = calls
                .iter()
                .filter(|c| c.sent >= ejected_at && c.sent < back_at);
            assert!(meanwhile.clone().count() > 90);
            assert!(meanwhile.clone().all(|c| c.result == Ok(EndpointId(1))));
        }
        let ejected_now = changes.len() % 2 == 1;
        assert_eq!(pool.stats().endpoints[0].ejected, Some(ejected_now));
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });
    sim.run().expect("simulation runs");
}

#[test]
fn no_more_than_max_ejection_percent_of_endpoints_is_ejected() {
    // Two of four endpoints fail (told apart by their codes); 25 % of four
    // is one endpoint ejected at a time.
    let failing = [Some(Code::Unavailable), Some(Code::Internal), None, None];
    let mut sim = sim_with_servers(&failing);
    sim.client("client", async move {
        let events = Events::default();
        let pool = pool(4, config(25), &events).await;
        let start = Instant::now();
        let calls = run_load(&pool, start, Duration::from_secs(6)).await;
        let changes = outlier_events(&events, start);
        let code_of = |endpoint: u32| failing[endpoint as usize].unwrap();

        let mut ejected: Vec<u32> = Vec::new();
        let mut held_back = 0;
        for window in changes.windows(2) {
            let (at, endpoint, change) = window[0];
            match change {
                OutlierChange::Ejected { .. } => ejected.push(endpoint),
                OutlierChange::Returned => ejected.retain(|e| *e != endpoint),
            }
            assert!(ejected.len() <= 1, "two ejected at {at} ms: {changes:?}");
            let OutlierChange::Ejected { .. } = change else {
                continue;
            };
            // While `endpoint` is out, the other failing one fails at least
            // 3 times in a row (enough to eject it) but stays in.
            let (back, other) = (window[1].0, 1 - endpoint);
            assert_eq!(window[1], (back, endpoint, OutlierChange::Returned));
            let failures = calls
                .iter()
                .filter(|c| c.sent >= at && c.done <= back && c.result == Err(code_of(other)))
                .count();
            if failures >= 3 {
                held_back += 1;
                // Once there is room, its next failure ejects it at once,
                // unless another ejection took the room first.
                // (A failure that ends in the millisecond of the return is
                // recorded after it.)
                let next = nth_failure_after(&calls, code_of(other), back - 1, 1).unwrap();
                let room_taken = changes.iter().any(|c| {
                    c.0 >= back && c.0 < next.done && matches!(c.2, OutlierChange::Ejected { .. })
                });
                let ejected_then = changes.iter().any(|c| {
                    (c.0, c.1) == (next.done, other) && matches!(c.2, OutlierChange::Ejected { .. })
                });
                assert!(
                    room_taken || ejected_then,
                    "endpoint {other} not ejected at {} ms: {changes:?}",
                    next.done
                );
            }
        }
        assert!(
            held_back >= 2,
            "the cap held an ejection back {held_back} times"
        );
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });
    sim.run().expect("simulation runs");
}
