//! The hedging policy on turmoil.
//!
//! Users rely on: one silently dead server out of several costing an
//! idempotent call no failure, only the hedging delay (the copy sent to
//! another server answers); the copy left on the dead server being
//! cancelled; a call not marked idempotent never being copied; a fatal
//! answer ending the call at once and a non-fatal one sending the next
//! copy at once; no call making more than `max_attempts` copies; and the
//! budget bounding hedges. Every link has 1 ms latency, so a round trip
//! takes exactly 2 ms and every time below is exact.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use squall_pool::{
    EndpointId, EventKind, HedgingConfig, Idempotent, Pool, PoolConfig, PoolEvent,
    RetryBudgetConfig, RoutedTo, breaker::GrpcCode,
};
use squall_sim::{
    Recorder, TraceEvent, TurmoilConnector, add_server,
    echo::proto::{EchoRequest, echo_client::EchoClient},
    server::{Failure, ServerControl},
    trace::{RPC_ID_HEADER, StreamEnd},
};
use tokio::time::{Instant, sleep};
use tonic::Code;

type Events = Arc<Mutex<Vec<PoolEvent>>>;

const DELAY: Duration = Duration::from_millis(100);

fn hedging(max_attempts: u32, non_fatal: &[GrpcCode]) -> HedgingConfig {
    HedgingConfig {
        max_attempts,
        hedging_delay: DELAY,
        non_fatal_status_codes: non_fatal.to_vec(),
        ..HedgingConfig::default()
    }
}

/// A pool with one connection to each of `servers`, recording its events;
/// returned once every connection is ready.
async fn pool(servers: usize, hedging: HedgingConfig, events: &Events) -> Pool {
    let sink = Arc::clone(events);
    let pool = Pool::builder()
        .endpoints((1..=servers).map(|i| format!("http://server-{i}:50051")))
        .config(PoolConfig {
            connections_per_endpoint: 1,
            hedging: Some(hedging),
            ..PoolConfig::default()
        })
        .on_event(move |e: &PoolEvent| sink.lock().unwrap().push(e.clone()))
        .build(TurmoilConnector)
        .expect("valid pool");
    sleep(Duration::from_millis(50)).await;
    assert_eq!(pool.ready_connections(), servers);
    pool
}

/// One call: (ms it took, its code, the endpoint that answered).
async fn call(
    client: &mut EchoClient<Pool>,
    idempotent: bool,
    timeout: Duration,
) -> (u128, Code, Option<EndpointId>) {
    let mut request = tonic::Request::new(EchoRequest {
        message: "x".into(),
        ..EchoRequest::default()
    });
    request.set_timeout(timeout);
    if idempotent {
        request.extensions_mut().insert(Idempotent);
    }
    let start = Instant::now();
    let outcome = client.echo(request).await;
    let took = start.elapsed().as_millis();
    match outcome {
        Ok(reply) => (
            took,
            Code::Ok,
            reply.extensions().get::<RoutedTo>().map(|r| r.endpoint),
        ),
        Err(status) => (took, status.code(), None),
    }
}

/// The hedging events recorded since `from`: ("hedge" or "cancelled",
/// endpoint index, copy number).
fn hedge_events(events: &Events, from: usize) -> Vec<(&'static str, u32, u32)> {
    events.lock().unwrap()[from..]
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Hedge {
                endpoint, attempt, ..
            } => Some(("hedge", endpoint.0, attempt)),
            EventKind::HedgeCancelled {
                endpoint, attempt, ..
            } => Some(("cancelled", endpoint.0, attempt)),
            _ => None,
        })
        .collect()
}

fn sim(seed: u64, controls: &[ServerControl]) -> turmoil::Sim<'static> {
    squall_suite::sim_with_servers(seed, Duration::from_secs(60), controls)
}

fn failing(code: Code) -> ServerControl {
    let control = ServerControl::default();
    control.set_behaviour(|b| b.failure = Some(Failure { percent: 100, code }));
    control
}

fn slow(latency: Duration) -> ServerControl {
    let control = ServerControl::default();
    control.set_behaviour(|b| b.added_latency = latency);
    control
}

/// server-2 black-holed: a call whose first copy goes there is answered
/// by the hedge to server-1, 100 ms + one round trip after it was sent,
/// and the copy on server-2 is cancelled. None fails.
#[test]
fn a_black_holed_server_costs_a_hedge_not_the_call() {
    let servers = [ServerControl::default(), ServerControl::default()];
    let mut sim = sim(41, &servers);
    sim.client("client", async move {
        let events = Events::default();
        let pool = pool(2, hedging(2, &[]), &events).await;
        let mut client = EchoClient::new(pool.clone());
        turmoil::partition("client", "server-2");
        let (mut hedged, mut direct) = (0, 0);
        for _ in 0..20 {
            let from = events.lock().unwrap().len();
            let (took, code, by) = call(&mut client, true, Duration::from_secs(1)).await;
            assert_eq!((code, by), (Code::Ok, Some(EndpointId(0))), "only server-1");
            match hedge_events(&events, from)[..] {
                [] => {
                    assert_eq!(took, 2);
                    direct += 1;
                }
                [("hedge", 0, 2), ("cancelled", 1, 1)] => {
                    assert_eq!(took, 102);
                    hedged += 1;
                }
                ref other => panic!("unexpected hedging: {other:?}"),
            }
            sleep(Duration::from_millis(10)).await;
        }
        assert!(hedged > 0 && direct > 0, "{hedged} hedged, {direct} direct");
        let stats = pool.stats().hedging.expect("hedging configured");
        assert_eq!((stats.hedges, stats.budget_refused), (hedged, 0));
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });
    sim.run().expect("simulation runs");
}

/// A call not marked idempotent is sent once, hedging or not: the ones
/// that go to the black hole fail at their deadline.
#[test]
fn a_call_not_marked_idempotent_is_never_hedged() {
    let servers = [ServerControl::default(), ServerControl::default()];
    let mut sim = sim(42, &servers);
    sim.client("client", async move {
        let events = Events::default();
        let pool = pool(2, hedging(2, &[]), &events).await;
        let mut client = EchoClient::new(pool.clone());
        turmoil::partition("client", "server-2");
        let mut failed = 0;
        for _ in 0..10 {
            let (took, code, _) = call(&mut client, false, Duration::from_millis(300)).await;
            match code {
                Code::Ok => assert_eq!(took, 2),
                Code::DeadlineExceeded => {
                    assert_eq!(took, 300);
                    failed += 1;
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(failed > 0);
        assert_eq!(hedge_events(&events, 0), []);
        assert_eq!(pool.stats().hedging.map(|s| s.hedges), Some(0));
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });
    sim.run().expect("simulation runs");
}

/// server-1 fails every call with UNAVAILABLE; server-2 answers in 300 ms.
/// With UNAVAILABLE non-fatal, a first copy failed by server-1 (2 ms)
/// sends the hedge to server-2 at once (answered 2 + 302 ms after the
/// call); a first copy on server-2 is answered before the hedging delay
/// would send a second (which would go to server-1, fail, and change
/// nothing). With no non-fatal code, server-1's UNAVAILABLE ends the call.
#[test]
fn a_non_fatal_answer_sends_the_next_copy_at_once_and_a_fatal_one_ends_the_call() {
    for non_fatal in [true, false] {
        let servers = [failing(Code::Unavailable), slow(Duration::from_millis(300))];
        let mut sim = sim(43, &servers);
        sim.client("client", async move {
            let events = Events::default();
            let codes: &[GrpcCode] = if non_fatal {
                &[GrpcCode::Unavailable]
            } else {
                &[]
            };
            let config = HedgingConfig {
                hedging_delay: Duration::from_secs(1),
                ..hedging(2, codes)
            };
            let pool = pool(2, config, &events).await;
            let mut client = EchoClient::new(pool.clone());
            let mut via_server_1 = 0;
            for _ in 0..10 {
                let from = events.lock().unwrap().len();
                let outcome = call(&mut client, true, Duration::from_secs(5)).await;
                let hedges = hedge_events(&events, from);
                match (non_fatal, outcome, &hedges[..]) {
                    // Straight to server-2.
                    (_, (302, Code::Ok, Some(EndpointId(1))), []) => {}
                    (true, (304, Code::Ok, Some(EndpointId(1))), [("hedge", 1, 2)]) => {
                        via_server_1 += 1;
                    }
                    (false, (2, Code::Unavailable, None), []) => via_server_1 += 1,
                    (_, outcome, hedges) => {
                        panic!("non-fatal UNAVAILABLE {non_fatal}: {outcome:?} with {hedges:?}")
                    }
                }
            }
            assert!(via_server_1 > 0);
            assert_eq!(pool.shutdown().await.tasks_left, 0);
            Ok(())
        });
        sim.run().expect("simulation runs");
    }
}

/// Every server black-holed: a call makes `max_attempts` copies, one per
/// server, `hedging_delay` apart, and no more; at its deadline the first
/// copy ends it and the others are cancelled.
#[test]
fn no_call_makes_more_than_max_attempts_copies() {
    let servers = [
        ServerControl::default(),
        ServerControl::default(),
        ServerControl::default(),
        ServerControl::default(),
    ];
    let mut sim = sim(44, &servers);
    sim.client("client", async move {
        let events = Events::default();
        let pool = pool(4, hedging(3, &[]), &events).await;
        let mut client = EchoClient::new(pool.clone());
        for server in 1..=4 {
            turmoil::partition("client", format!("server-{server}"));
        }
        let (took, code, _) = call(&mut client, true, Duration::from_millis(500)).await;
        assert_eq!((took, code), (500, Code::DeadlineExceeded));
        let hedges = hedge_events(&events, 0);
        let sent: Vec<u32> = hedges
            .iter()
            .filter(|(kind, ..)| *kind == "hedge")
            .map(|(_, _, copy)| *copy)
            .collect();
        assert_eq!(sent, [2, 3], "{hedges:?}");
        let cancelled = hedges.iter().filter(|(kind, ..)| *kind == "cancelled");
        assert_eq!(cancelled.count(), 2, "{hedges:?}");
        // Each copy on a server of its own.
        let mut endpoints: Vec<u32> = hedges.iter().map(|(_, endpoint, _)| *endpoint).collect();
        endpoints.sort_unstable();
        endpoints.dedup();
        assert!(endpoints.len() >= 2, "{hedges:?}");
        let at: Vec<u128> = events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::Hedge { after, .. } => Some(after.as_millis()),
                _ => None,
            })
            .collect();
        assert_eq!(at, [100, 200]);
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });
    sim.run().expect("simulation runs");
}

/// A budget that allows nothing: no hedge is sent, each refusal counted,
/// and the calls to the black hole fail as unhedged ones do.
#[test]
fn the_budget_bounds_hedges() {
    let servers = [ServerControl::default(), ServerControl::default()];
    let mut sim = sim(45, &servers);
    sim.client("client", async move {
        let events = Events::default();
        let config = HedgingConfig {
            budget: RetryBudgetConfig {
                ttl: Duration::from_secs(1),
                min_per_second: 0,
                ratio: 0.0,
            },
            ..hedging(2, &[])
        };
        let pool = pool(2, config, &events).await;
        let mut client = EchoClient::new(pool.clone());
        turmoil::partition("client", "server-2");
        let mut failed = 0;
        for _ in 0..10 {
            let (_, code, _) = call(&mut client, true, Duration::from_millis(300)).await;
            if code != Code::Ok {
                assert_eq!(code, Code::DeadlineExceeded);
                failed += 1;
            }
        }
        assert!(failed > 0);
        assert_eq!(hedge_events(&events, 0), []);
        let stats = pool.stats().hedging.expect("hedging configured");
        assert_eq!((stats.hedges, stats.budget_refused), (0, failed));
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });
    sim.run().expect("simulation runs");
}

/// A zero delay sends the copies at once, one per endpoint: with two
/// servers, a call of up to three copies sends two, the first answer wins
/// (2 ms) and the other copy is cancelled; the third copy, with no
/// endpoint left for it, is never sent.
#[test]
fn a_zero_delay_sends_a_copy_to_every_endpoint_at_once() {
    let servers = [ServerControl::default(), ServerControl::default()];
    let mut sim = sim(46, &servers);
    sim.client("client", async move {
        let events = Events::default();
        let config = HedgingConfig {
            hedging_delay: Duration::ZERO,
            ..hedging(3, &[])
        };
        let pool = pool(2, config, &events).await;
        let mut client = EchoClient::new(pool.clone());
        for _ in 0..5 {
            let from = events.lock().unwrap().len();
            let (took, code, by) = call(&mut client, true, Duration::from_secs(1)).await;
            assert_eq!((took, code), (2, Code::Ok));
            let by = by.expect("answered").0;
            match hedge_events(&events, from)[..] {
                // Both copies out at once, both answering at 2 ms; the one
                // whose answer was not taken is cancelled.
                [("hedge", hedged, 2), ("cancelled", cancelled, copy)] => {
                    assert_ne!(by, cancelled, "the answer came from the other copy");
                    match copy {
                        // The hedge answered: the first copy was elsewhere.
                        1 => assert_eq!(by, hedged),
                        2 => assert_eq!(cancelled, hedged),
                        other => panic!("copy {other}"),
                    }
                }
                ref other => panic!("unexpected hedging: {other:?}"),
            }
        }
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });
    sim.run().expect("simulation runs");
}

/// server-1 answers in 300 ms, server-2 at once. A call whose first copy
/// goes to server-1 is answered by the hedge to server-2 at 102 ms, and
/// the copy on server-1 is reset: its stream there ends, unanswered, one
/// link (1 ms) after the client finished with the call. A call that goes
/// to server-2 first is answered there (its stream ends as the answer
/// leaves, 1 ms after sending) and never copied. Either way no server
/// holds a stream of a finished call.
#[test]
fn a_cancelled_copy_ends_its_stream_on_the_server_one_trip_later() {
    let servers = [ServerControl::tracing_rpcs(), ServerControl::tracing_rpcs()];
    servers[0].set_behaviour(|b| b.added_latency = Duration::from_millis(300));
    let recorder = Recorder::default();
    let mut sim = squall_suite::suite_setup(47, Duration::from_secs(60)).build();
    for (index, control) in servers.iter().enumerate() {
        add_server(
            &mut sim,
            &format!("server-{}", index + 1),
            &recorder,
            control,
        );
    }
    let calls = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::clone(&calls);
    sim.client("client", async move {
        let events = Events::default();
        let pool = pool(2, hedging(2, &[]), &events).await;
        let mut client = EchoClient::new(pool.clone());
        for rpc in 1..=10u64 {
            let mut request = tonic::Request::new(EchoRequest {
                message: "x".into(),
                ..EchoRequest::default()
            });
            request.set_timeout(Duration::from_secs(1));
            request.extensions_mut().insert(Idempotent);
            request
                .metadata_mut()
                .insert(RPC_ID_HEADER, rpc.to_string().parse().unwrap());
            let sent = turmoil::sim_elapsed().unwrap();
            let reply = client.echo(request).await.expect("answered");
            let finished = turmoil::sim_elapsed().unwrap();
            let by = reply.extensions().get::<RoutedTo>().map(|r| r.endpoint.0);
            done.lock().unwrap().push((rpc, sent, finished, by));
        }
        assert_eq!(pool.shutdown().await.tasks_left, 0);
        Ok(())
    });
    sim.run().expect("simulation runs");
    let trace = recorder.snapshot();
    let ends: Vec<(u64, &str, u128, StreamEnd)> = trace
        .lines
        .iter()
        .filter_map(|line| match &line.event {
            TraceEvent::ServerRpcEnd { rpc, how, .. } => {
                Some((*rpc, line.host.as_str(), line.at.as_millis(), *how))
            }
            _ => None,
        })
        .collect();
    let calls = calls.lock().unwrap();
    let mut hedged = 0;
    for &(rpc, sent, finished, by) in calls.iter() {
        let (sent, finished) = (sent.as_millis(), finished.as_millis());
        let of_rpc: Vec<_> = ends
            .iter()
            .filter(|e| e.0 == rpc)
            .map(|e| (e.1, e.2, e.3))
            .collect();
        assert_eq!(by, Some(1), "rpc {rpc}: server-2 answers every call");
        if finished - sent == 2 {
            assert_eq!(
                of_rpc,
                [("server-2", sent + 1, StreamEnd::Answered)],
                "rpc {rpc}"
            );
        } else {
            assert_eq!(finished - sent, 102, "rpc {rpc}");
            hedged += 1;
            assert_eq!(
                of_rpc,
                [
                    ("server-2", finished - 1, StreamEnd::Answered),
                    ("server-1", finished + 1, StreamEnd::Cancelled),
                ],
                "rpc {rpc}"
            );
        }
    }
    assert!(
        hedged > 0 && hedged < calls.len(),
        "{hedged} of {} hedged",
        calls.len()
    );
}
