//! The turmoil fork's connect handshake as packets (`vendor/turmoil`,
//! `net/tcp/handshake.rs`, docs/upstream.md), on turmoil's own API.
//!
//! Users of the simulation rely on a connect behaving as on Linux: a SYN
//! lost to a partition is sent again at 1, 2, 3, 4, 5, 7, 11 s ... (Linux
//! 6.5+: `tcp_syn_linear_timeouts` 4 retries 1 s apart, then one more at
//! 1 s and doubling) and the connect completes on the first retry after
//! the heal; into a black hole it stays pending until the caller's
//! timeout, or fails with `TimedOut` at 131 s (`tcp_syn_retries` 6 plus
//! the 4 linear ones); a port nothing listens on refuses it with a RST,
//! which takes a round trip and can be lost; a crashed host answers
//! nothing until it restarts; the SYN-ACK is a packet, so a one-way
//! partition stops the handshake both ways. They also rely on the switch
//! being off by default: turmoil 0.7.2 refuses a connect during a partition
//! at once.
//!
//! Every run here has a 1 ms tick and a fixed 10 ms one-way latency unless
//! a test says otherwise. A segment sent in step `t` is read in step
//! `t + 10`; a timer due at `t` fires in step `t`, before the host's
//! software runs, so a connect started at 0 whose SYN gets through returns
//! at 20 ms (one round trip) and the listener's `accept` at 30 ms (the
//! client's ACK).

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use turmoil::net::{TcpListener, TcpStream};
use turmoil::{Builder, Protocol, Segment, Sim, TcpRetransmission, TimerWheel};

const PORT: u16 = 9000;

/// Linux's TCP with timers that fire at their expiry, so the times below
/// are its arithmetic alone; the kernel timer wheel's rounding, which the
/// worlds use, is tested last.
fn exact_timers() -> TcpRetransmission {
    TcpRetransmission {
        timer_wheel: TimerWheel::Exact,
        ..TcpRetransmission::default()
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A simulation with explicit timing: 1 ms tick, `latency` each way.
fn sim_with<'a>(retransmission: bool, latency: Duration, duration: Duration) -> Sim<'a> {
    sim_timed(retransmission.then(exact_timers), latency, duration)
}

fn sim_timed<'a>(
    retransmission: Option<TcpRetransmission>,
    latency: Duration,
    duration: Duration,
) -> Sim<'a> {
    let mut b = Builder::new();
    b.tick_duration(ms(1))
        .simulation_duration(duration)
        .min_message_latency(latency)
        .max_message_latency(latency)
        .rng_seed(1);
    if let Some(retransmission) = retransmission {
        b.tcp_retransmission(retransmission);
    }
    b.build()
}

fn sim<'a>(duration: Duration) -> Sim<'a> {
    sim_with(true, ms(10), duration)
}

type Log<T> = Rc<RefCell<Vec<T>>>;

/// A server that accepts connections for ever, logging when each `accept`
/// returned, and reads each connection's first message (5 bytes) into
/// `read`.
fn accepting_server(sim: &mut Sim<'_>) -> (Log<Duration>, Log<Vec<u8>>) {
    let accepted: Log<Duration> = Rc::default();
    let read: Log<Vec<u8>> = Rc::default();
    let (accepted_log, read_log) = (accepted.clone(), read.clone());
    sim.host("server", move || {
        let (accepted, read) = (accepted_log.clone(), read_log.clone());
        async move {
            let listener = TcpListener::bind(("0.0.0.0", PORT)).await?;
            loop {
                let (mut stream, _) = listener.accept().await?;
                accepted.borrow_mut().push(turmoil::sim_elapsed().unwrap());
                let read = read.clone();
                tokio::task::spawn_local(async move {
                    let mut buf = [0u8; 5];
                    if stream.read_exact(&mut buf).await.is_ok() {
                        read.borrow_mut().push(buf.to_vec());
                    }
                    // Keep the stream open: dropping it would close it.
                    std::future::pending::<()>().await;
                });
            }
        }
    });
    (accepted, read)
}

/// How a connect ended, and when.
type Outcome = Rc<RefCell<Option<(Duration, Result<(), io::ErrorKind>)>>>;

/// A client that connects once, logs the outcome, and on success writes
/// "hello" and keeps the stream open until the simulation ends.
fn connecting_client(sim: &mut Sim<'_>) -> Outcome {
    let outcome: Outcome = Rc::default();
    let log = outcome.clone();
    sim.client("client", async move {
        let result = TcpStream::connect(("server", PORT)).await;
        let at = turmoil::sim_elapsed().unwrap();
        match result {
            Ok(mut stream) => {
                *log.borrow_mut() = Some((at, Ok(())));
                stream.write_all(b"hello").await?;
                std::future::pending::<()>().await;
            }
            Err(e) => *log.borrow_mut() = Some((at, Err(e.kind()))),
        }
        Ok(())
    });
    outcome
}

/// Step until `until`, calling `at` with the time before each step (to
/// inject faults); returns the simulation times at which a SYN went on a
/// link (the step it was sent in).
fn run(
    sim: &mut Sim<'_>,
    until: Duration,
    mut at: impl FnMut(&mut Sim<'_>, Duration),
) -> Vec<Duration> {
    let mut syns_sent = Vec::new();
    let mut on_link = 0;
    while sim.elapsed() < until {
        let now = sim.elapsed();
        at(sim, now);
        if sim.step().expect("the simulation runs") {
            break;
        }
        let mut syns = 0;
        sim.links(|links| {
            for link in links {
                for sent in link {
                    if matches!(sent.protocol(), Protocol::Tcp(Segment::Syn(_))) {
                        syns += 1;
                    }
                }
            }
        });
        if syns > on_link {
            syns_sent.push(now);
        }
        on_link = syns;
    }
    syns_sent
}

/// A partition made before the connect and repaired at 2.5 s: the SYNs of
/// 0, 1 and 2 s are dropped, the retry at 3 s gets through, and the connect
/// returns at 3,020 ms (one round trip later); the listener's `accept`
/// returns at 3,030 ms, when the client's ACK arrives, and the data
/// written then follows.
#[test]
fn a_connect_across_a_partition_completes_on_the_retry_after_the_heal() {
    let mut sim = sim(secs(10));
    let (accepted, read) = accepting_server(&mut sim);
    let outcome = connecting_client(&mut sim);
    sim.partition("client", "server");
    run(&mut sim, secs(5), |sim, now| {
        if now == ms(2_500) {
            sim.repair("client", "server");
        }
    });
    assert_eq!(*outcome.borrow(), Some((ms(3_020), Ok(()))));
    assert_eq!(*accepted.borrow(), [ms(3_030)]);
    assert_eq!(*read.borrow(), [b"hello".to_vec()]);
}

/// A partition never repaired: SYNs at 0, 1, 2, 3, 4, 5, 7, 11, 19, 35
/// and 67 s (the first and ten retries, seen with a one-way cut in the
/// next-but-one test), and the connect fails with `TimedOut` when the timer
/// after the last retry fires, at 131 s exactly (Linux measured: 133-135 s
/// of wall time with the same sysctls).
#[test]
fn a_connect_into_a_black_hole_times_out_at_131s() {
    let mut sim = sim(secs(200));
    let (accepted, _) = accepting_server(&mut sim);
    let outcome = connecting_client(&mut sim);
    sim.partition("client", "server");
    run(&mut sim, secs(135), |_, _| {});
    assert_eq!(
        *outcome.borrow(),
        Some((secs(131), Err(io::ErrorKind::TimedOut)))
    );
    assert!(accepted.borrow().is_empty());
}

/// A caller's 5 s `tokio::time::timeout` ends the pending connect at 5 s.
/// Dropping it gives the connect up: once the partition heals at 6 s,
/// nothing more is sent (the retry that was due at 7 s is gone), so the
/// server never accepts.
#[test]
fn a_callers_timeout_ends_a_pending_connect() {
    let mut sim = sim(secs(30));
    let (accepted, _) = accepting_server(&mut sim);
    let outcome: Rc<RefCell<Option<Duration>>> = Rc::default();
    let log = outcome.clone();
    sim.client("client", async move {
        let result = tokio::time::timeout(secs(5), TcpStream::connect(("server", PORT))).await;
        assert!(result.is_err(), "the connect must not complete");
        *log.borrow_mut() = Some(turmoil::sim_elapsed().unwrap());
        tokio::time::sleep(secs(20)).await;
        Ok(())
    });
    sim.partition("client", "server");
    let syns = run(&mut sim, secs(26), |sim, now| {
        if now == secs(6) {
            sim.repair("client", "server");
        }
    });
    assert_eq!(*outcome.borrow(), Some(secs(5)));
    assert!(
        syns.is_empty(),
        "a partitioned link holds nothing: {syns:?}"
    );
    assert!(accepted.borrow().is_empty());
}

/// Nothing listens on the port: the SYN is answered with a RST, and the
/// connect fails with `ConnectionRefused` one round trip later, at 20 ms.
/// The RST is a packet: during a partition (repaired at 2.5 s) there is
/// no answer, and the refusal comes with the 3 s retry, at 3,020 ms.
#[test]
fn no_listener_refuses_after_one_round_trip() {
    for (partitioned, refused_at) in [(false, ms(20)), (true, ms(3_020))] {
        let mut sim = sim(secs(10));
        sim.host("server", || async {
            std::future::pending::<()>().await;
            Ok(())
        });
        let outcome = connecting_client(&mut sim);
        if partitioned {
            sim.partition("client", "server");
        }
        run(&mut sim, secs(5), |sim, now| {
            if now == ms(2_500) {
                sim.repair("client", "server");
            }
        });
        assert_eq!(
            *outcome.borrow(),
            Some((refused_at, Err(io::ErrorKind::ConnectionRefused))),
            "partitioned {partitioned}"
        );
    }
}

/// A one-way partition from server to client: every SYN reaches the
/// server, at 0, 1, 2, 3, 4, 5, 7, 11, 19, 35 and 67 s, but every SYN-ACK
/// is lost, so the client's connect never completes (it fails with
/// `TimedOut` at 131 s) and the server's `accept` never returns: the handshake needs
/// both directions, as on a real network.
#[test]
fn a_one_way_partition_stops_the_handshake_in_both_directions() {
    let mut sim = sim(secs(200));
    let (accepted, _) = accepting_server(&mut sim);
    let outcome = connecting_client(&mut sim);
    sim.partition_oneway("server", "client");
    let syns = run(&mut sim, secs(135), |_, _| {});
    assert_eq!(
        syns,
        [0, 1, 2, 3, 4, 5, 7, 11, 19, 35, 67].map(secs),
        "SYN transmissions"
    );
    assert_eq!(
        *outcome.borrow(),
        Some((secs(131), Err(io::ErrorKind::TimedOut)))
    );
    assert!(accepted.borrow().is_empty());
}

/// A server crashed before the connect answers nothing: the SYNs of 0, 1
/// and 2 s reach a host that is down and are lost (not kept for it: turmoil
/// 0.7.2 would deliver them once it restarts, to find no listener yet and
/// refuse). Restarted at 2.5 s, it listens again, and the connect
/// completes on the 3 s retry, at 3,020 ms.
#[test]
fn a_crashed_server_answers_nothing_until_it_restarts() {
    let mut sim = sim(secs(10));
    let (accepted, read) = accepting_server(&mut sim);
    let outcome = connecting_client(&mut sim);
    sim.crash("server");
    run(&mut sim, secs(5), |sim, now| {
        if now == ms(2_500) {
            sim.bounce("server");
        }
    });
    assert_eq!(*outcome.borrow(), Some((ms(3_020), Ok(()))));
    assert_eq!(*accepted.borrow(), [ms(3_030)]);
    assert_eq!(*read.borrow(), [b"hello".to_vec()]);
}

/// Duplicates are answered idempotently. With 1.2 s each way the SYN of 0
/// arrives at 1,200 ms and is answered; the client, still waiting, sends
/// it again at 1 s and 2 s, and those duplicates (at 2,200 and 3,200) are
/// answered with the SYN-ACK again, as is the listener's own SYN-ACK retry
/// due at 2,200. The first SYN-ACK connects the client at 2,400; the later
/// ones reach a connected socket and are answered with ACKs. The first ACK
/// completes the listener's side at 3,600, where the client's "hello"
/// (written at 2,400) arrives too: one connection is accepted, and reads
/// its data once.
#[test]
fn duplicate_syns_and_syn_acks_make_one_connection() {
    let mut sim = sim_with(true, ms(1_200), secs(20));
    let (accepted, read) = accepting_server(&mut sim);
    let outcome = connecting_client(&mut sim);
    let syns = run(&mut sim, secs(10), |_, _| {});
    assert_eq!(syns, [ms(0), ms(1_000), ms(2_000)]);
    assert_eq!(*outcome.borrow(), Some((ms(2_400), Ok(()))));
    assert_eq!(*accepted.borrow(), [ms(3_600)]);
    assert_eq!(*read.borrow(), [b"hello".to_vec()]);
}

/// With the switch off (the default) the handshake is turmoil 0.7.2's: a
/// connect during a partition is refused at once, at 0 ms, and never
/// retried.
#[test]
fn without_the_switch_a_connect_during_a_partition_is_refused_at_once() {
    let mut sim = sim_with(false, ms(10), secs(10));
    let (accepted, _) = accepting_server(&mut sim);
    let outcome = connecting_client(&mut sim);
    sim.partition("client", "server");
    run(&mut sim, secs(5), |sim, now| {
        if now == ms(2_500) {
            sim.repair("client", "server");
        }
    });
    assert_eq!(
        *outcome.borrow(),
        Some((ms(0), Err(io::ErrorKind::ConnectionRefused)))
    );
    assert!(accepted.borrow().is_empty());
}

/// On Linux's timer wheel (`CONFIG_HZ=250`: 4 ms jiffies; the worlds'
/// setting, `TcpRetransmission::default()`) a timer fires at the end of
/// its wheel bucket, not at its expiry: the 1 s and 2 s SYN timeouts land
/// on 32 ms boundaries, the 4 s and 8 s ones on 256 ms boundaries, the
/// 16 s and 32 s ones on 2,048 ms boundaries. So the ninth SYN of a connect
/// into a black hole goes 19.456 s after the first, not at 19 s: kernel
/// mode's black-hole run on a 6.18 kernel (HZ 250) measured 19.456 s and
/// 19.520 s for two dials begun at different jiffy phases.
#[test]
fn on_linuxs_timer_wheel_a_syn_fires_at_the_end_of_its_bucket() {
    let mut sim = sim_timed(Some(TcpRetransmission::default()), ms(10), secs(200));
    assert_eq!(
        TcpRetransmission::default().timer_wheel,
        TimerWheel::Linux { hz: 250 }
    );
    let (accepted, _) = accepting_server(&mut sim);
    let outcome = connecting_client(&mut sim);
    // SYNs reach the link (and the server); no SYN-ACK comes back.
    sim.partition_oneway("server", "client");
    let syns = run(&mut sim, secs(150), |_, _| {});
    assert_eq!(
        syns,
        [
            0, 1024, 2048, 3072, 4096, 5120, 7136, 11264, 19456, 35584, 69632
        ]
        .map(ms),
        "SYN transmissions"
    );
    // The eleventh timeout (64 s, a 2,048 ms bucket) gives the connect up.
    assert_eq!(
        *outcome.borrow(),
        Some((ms(135_168), Err(io::ErrorKind::TimedOut)))
    );
    assert!(accepted.borrow().is_empty());
}
