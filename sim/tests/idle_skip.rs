//! The turmoil fork's idle skipping (`Sim::idle_for`, `Sim::step_by`;
//! `vendor/turmoil`, `vendor/tokio`, docs/upstream.md), on turmoil's own
//! API.
//!
//! A driver that skips idle time relies on two things: `idle_for` never
//! reaches past anything that would happen (a timer, a message, a TCP
//! timer, a task left to run), and a step over what it allows is the very
//! same as that many ticks: the same events at the same simulated times,
//! and the same random draws afterwards (tokio draws a seed for its thread
//! RNG each time a host's runtime is entered, once per tick).
//!
//! Every world here has a 1 ms tick.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use turmoil::net::{TcpListener, TcpStream};
use turmoil::{Builder, Sim, TcpRetransmission};

const PORT: u16 = 9000;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A client that sleeps one second, then finishes.
fn sleeper<'a>() -> Sim<'a> {
    let mut sim = Builder::new()
        .tick_duration(ms(1))
        .simulation_duration(Duration::from_secs(10))
        .build();
    sim.client("client", async {
        tokio::time::sleep(ms(1000)).await;
        Ok(())
    });
    sim
}

/// The client's first step registers its 1,000 ms sleep; after that step
/// nothing happens until the sleep fires. tokio's timer wheel answers a
/// lower bound: a timer 1 s away sits in a level of 64 ms slots, and the
/// wheel reports the start of its slot; once the wheel has moved the timer
/// to its 1 ms level, `idle_for` allows the rest but for the tick that
/// meets the timer. The client finishes in the very step it does tick by
/// tick.
#[test]
fn idle_for_stops_a_tick_short_of_the_next_timer() {
    let mut sim = sleeper();
    assert_eq!(sim.idle_for(), None, "the client has not run yet");
    assert!(!sim.step().unwrap());
    assert_eq!(sim.elapsed(), ms(1));

    // Every step: (elapsed before it, ticks it covered).
    let mut steps = Vec::new();
    loop {
        let before = sim.elapsed();
        let finished = match sim.idle_for() {
            Some(idle) => sim.step_by(idle).unwrap(),
            None => sim.step().unwrap(),
        };
        steps.push((before.as_millis(), (sim.elapsed() - before).as_millis()));
        if finished {
            break;
        }
    }
    let finished_at = Some(sim.elapsed());
    // 957 ticks to the wheel's slot start; one tick as it cascades the
    // timer into its 1 ms level; 40 ticks to a tick before the timer; the
    // tick at whose end the sleep fires; the tick in which the client runs
    // and finishes: 5 steps for 1,000 ticks.
    assert_eq!(steps, [(1, 957), (958, 1), (959, 40), (999, 1), (1000, 1)]);

    let mut ticked = sleeper();
    while !ticked.step().unwrap() {}
    assert_eq!(
        finished_at,
        Some(ticked.elapsed()),
        "the same end tick by tick"
    );
}

/// A message on the wire bounds the skip like a timer: a server that
/// answers at once, 100 ms of latency each way, and a client that sends
/// one byte and waits. While the byte travels, neither host has anything to
/// do, but the step that delivers it must be an ordinary one.
#[test]
fn a_message_in_flight_bounds_the_skip() {
    let mut sim = Builder::new()
        .tick_duration(ms(1))
        .min_message_latency(ms(100))
        .max_message_latency(ms(100))
        .build();
    sim.host("server", || async {
        let listener = TcpListener::bind(("0.0.0.0", PORT)).await?;
        let (mut stream, _) = listener.accept().await?;
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await?;
        stream.write_all(&byte).await?;
        std::future::pending::<()>().await;
        Ok(())
    });
    sim.client("client", async {
        let mut stream = TcpStream::connect(("server", PORT)).await?;
        stream.write_all(b"x").await?;
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await?;
        Ok(())
    });
    // Both hosts start; the client's SYN leaves in the first step.
    sim.step().unwrap();
    let idle = sim.idle_for().expect("only the SYN is in flight");
    // The SYN left in the first step, whose network clock read 1 ms: it is
    // due at 101 ms, 100 ms from the network's clock now; 99 whole ticks
    // end strictly before it.
    assert_eq!(idle, ms(99));
    sim.step_by(idle).unwrap();
    assert_eq!(
        sim.idle_for(),
        None,
        "the SYN is delivered in the next step"
    );
}

/// What the equivalence world below records: each event with the host's
/// simulated time.
type Log = Arc<Mutex<Vec<String>>>;

fn record(log: &Log, what: String) {
    let at = turmoil::sim_elapsed().expect("inside the simulation");
    log.lock()
        .unwrap()
        .push(format!("{:>6} {what}", at.as_millis()));
}

/// The driver's scheduled faults, at exact simulated times.
#[derive(Debug, Clone, Copy)]
enum Fault {
    Partition,
    Repair,
    Crash,
    Bounce,
}

const FAULTS: [(u64, Fault); 4] = [
    (3_050, Fault::Partition),
    (3_600, Fault::Repair),
    (6_020, Fault::Crash),
    (7_000, Fault::Bounce),
];

/// A ping-pong world with every kind of event `idle_for` must see: TCP
/// with Linux's retransmission (a 550 ms partition heals by retransmit),
/// timers on both hosts, a task spawned on the runtime rather than the
/// `LocalSet`, a server crash and restart, reconnects, and random draws
/// from tokio's thread RNG (an unbiased `select!` over two ready branches,
/// whose choice depends on how many times the runtime was entered). Runs
/// it tick by tick or skipping idle time; returns the log and the steps.
fn ping_world(skip: bool) -> (Vec<String>, u64) {
    let log: Log = Arc::default();
    let mut sim = Builder::new()
        .tick_duration(ms(1))
        .simulation_duration(Duration::from_secs(30))
        .min_message_latency(ms(5))
        .max_message_latency(ms(5))
        .rng_seed(7)
        .tcp_retransmission(TcpRetransmission::default())
        .build();
    let server_log = log.clone();
    sim.host("server", move || {
        let log = server_log.clone();
        async move {
            let listener = TcpListener::bind(("0.0.0.0", PORT)).await?;
            loop {
                let (mut stream, _) = listener.accept().await?;
                record(&log, "server accepted".into());
                let log = log.clone();
                tokio::task::spawn_local(async move {
                    let mut byte = [0u8; 1];
                    while stream.read_exact(&mut byte).await.is_ok() {
                        // A reply after a timer of the server's own.
                        tokio::time::sleep(ms(u64::from(byte[0]) * 3)).await;
                        if stream.write_all(&byte).await.is_err() {
                            break;
                        }
                    }
                    record(&log, "server lost its connection".into());
                });
            }
        }
    });
    let client_log = log.clone();
    sim.client("client", async move {
        let log = client_log;
        // Runs on the runtime, not the LocalSet: idle_for must see its
        // queue and its timers too.
        let ticker = {
            let log = log.clone();
            tokio::spawn(async move {
                for i in 0..4 {
                    tokio::time::sleep(ms(2_333)).await;
                    record(&log, format!("ticker {i}"));
                }
            })
        };
        let mut i: u8 = 0;
        while turmoil::sim_elapsed().unwrap() < Duration::from_secs(12) {
            let Ok(mut stream) = TcpStream::connect(("server", PORT)).await else {
                record(&log, "connect failed".into());
                tokio::time::sleep(ms(500)).await;
                continue;
            };
            stream.set_user_timeout(Some(ms(1_500)))?;
            loop {
                i = i.wrapping_add(1);
                let mut byte = [i % 50];
                let sent = stream.write_all(&byte).await;
                let got = match sent {
                    Ok(()) => stream.read_exact(&mut byte).await.map(|_| byte[0]),
                    Err(e) => Err(e),
                };
                // Unbiased on purpose: both branches are ready, so the
                // choice is a draw from tokio's thread RNG.
                let pick = tokio::select! {
                    () = std::future::ready(()) => "a",
                    () = std::future::ready(()) => "b",
                };
                match got {
                    Ok(b) => record(&log, format!("pong {b} {pick}")),
                    Err(e) => {
                        record(&log, format!("lost: {:?} {pick}", e.kind()));
                        break;
                    }
                }
                tokio::time::sleep(ms(400 + u64::from(i % 7) * 90)).await;
                if turmoil::sim_elapsed().unwrap() >= Duration::from_secs(12) {
                    break;
                }
            }
        }
        // The last connection closes; the server sees it go before the
        // client finishes.
        tokio::time::sleep(ms(100)).await;
        ticker.await.expect("ticker");
        record(&log, "client done".into());
        Ok(())
    });

    let mut faults = FAULTS.iter().peekable();
    let mut steps = 0;
    loop {
        let now = sim.elapsed();
        while let Some((_, fault)) = faults.next_if(|(at, _)| ms(*at) <= now) {
            match fault {
                Fault::Partition => sim.partition("client", "server"),
                Fault::Repair => sim.repair("client", "server"),
                Fault::Crash => sim.crash("server"),
                Fault::Bounce => sim.bounce("server"),
            }
        }
        let until = faults.peek().map_or(Duration::MAX, |(at, _)| ms(*at));
        let skip_by = skip
            .then(|| sim.idle_for())
            .flatten()
            .map(|idle| idle.min(until.saturating_sub(now)))
            .map(|d| ms(d.as_millis() as u64))
            .filter(|d| *d >= ms(2));
        steps += 1;
        let finished = match skip_by {
            Some(d) => sim.step_by(d).unwrap(),
            None => sim.step().unwrap(),
        };
        if finished {
            break;
        }
    }
    let lines = log.lock().unwrap().clone();
    (lines, steps)
}

/// Skipping gives the run one gets tick by tick, event for event and draw
/// for draw, in far fewer steps.
#[test]
fn a_skipped_run_is_the_run_tick_by_tick() {
    let (ticked, ticked_steps) = ping_world(false);
    let (skipped, skipped_steps) = ping_world(true);
    assert_eq!(skipped, ticked);
    // The world did what it is for: pongs, the partition healed by
    // retransmission (no loss at 3.05–3.6 s), the crash lost the
    // connection, the client reconnected after the restart.
    let has = |what: &str| ticked.iter().any(|line| line.contains(what));
    assert!(has("pong"), "{ticked:#?}");
    assert!(has("server lost its connection"), "{ticked:#?}");
    assert!(has("ticker 3"), "{ticked:#?}");
    assert!(has("client done"), "{ticked:#?}");
    assert_eq!(
        ticked
            .iter()
            .filter(|l| l.contains("server accepted"))
            .count(),
        2,
        "one connection before the crash, one after: {ticked:#?}"
    );
    assert!(
        skipped_steps * 4 < ticked_steps,
        "{skipped_steps} steps skipping, {ticked_steps} tick by tick"
    );
}
