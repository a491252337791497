//! The turmoil fork's TCP keepalive (`vendor/turmoil`,
//! `net/tcp/keepalive.rs`, docs/upstream.md), on turmoil's own API.
//!
//! Users of the simulation (squall's connector among them) rely on an
//! idle connection to a peer that vanished ending as on Linux: probes
//! after `time` idle, again every `interval`, and `TimedOut` after
//! `retries` unanswered ones; or, with a user timeout set, once a probe is
//! out and nothing was received for the user timeout (Linux's
//! `tcp_keepalive_timer`). A healthy peer answers every probe and the
//! connection lives on.
//!
//! Every run has a 1 ms tick and a fixed 10 ms one-way latency. The
//! client's connect returns at 20 ms, when the SYN-ACK arrives: that is
//! the last thing it receives from a server that sends nothing, and the
//! keepalive is turned on then, so its first check is at 20 ms + `time`.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use turmoil::net::{TcpListener, TcpStream};
use turmoil::{Builder, Protocol, Segment, Sim, TcpKeepalive, TcpRetransmission, TimerWheel};

const PORT: u16 = 9000;

/// Linux's TCP with timers that fire at their expiry, so the times below
/// are its arithmetic alone; the kernel timer wheel's rounding, which the
/// worlds use, is tested in `tcp_timer_wheel.rs`.
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

fn sim<'a>() -> Sim<'a> {
    Builder::new()
        .tick_duration(ms(1))
        .simulation_duration(secs(120))
        .min_message_latency(ms(10))
        .max_message_latency(ms(10))
        .rng_seed(1)
        .tcp_retransmission(exact_timers())
        .build()
}

/// A server that accepts one connection and reads it, sending nothing.
fn silent_server(sim: &mut Sim<'_>) {
    sim.host("server", || async {
        let listener = TcpListener::bind(("0.0.0.0", PORT)).await?;
        let (mut stream, _) = listener.accept().await?;
        let mut buf = [0u8; 8];
        while stream.read(&mut buf).await? > 0 {}
        std::future::pending::<()>().await;
        Ok(())
    });
}

type Outcome = Rc<RefCell<Option<(Duration, io::ErrorKind)>>>;

/// A client that connects, sets `user_timeout` and `keepalive`, and reads;
/// logs when and how its read failed.
fn idle_client(
    sim: &mut Sim<'_>,
    user_timeout: Option<Duration>,
    keepalive: TcpKeepalive,
) -> Outcome {
    let outcome: Outcome = Rc::default();
    let log = outcome.clone();
    sim.client("client", async move {
        let mut stream = TcpStream::connect(("server", PORT)).await?;
        assert_eq!(turmoil::sim_elapsed().unwrap(), ms(20));
        stream.set_user_timeout(user_timeout)?;
        assert_eq!(stream.keepalive()?, None);
        stream.set_keepalive(Some(keepalive))?;
        assert_eq!(stream.keepalive()?, Some(keepalive));
        let mut buf = [0u8; 8];
        let e = stream
            .read(&mut buf)
            .await
            .expect_err("the server sends nothing");
        *log.borrow_mut() = Some((turmoil::sim_elapsed().unwrap(), e.kind()));
        Ok(())
    });
    outcome
}

/// Step until the clients finish or `until`, partitioning client and
/// server at `cut` if given; returns when each keepalive probe (a data
/// segment with sequence number 0) went on a link.
fn run(sim: &mut Sim<'_>, cut: Option<Duration>, until: Duration) -> Vec<Duration> {
    let mut probes = Vec::new();
    let mut on_link = 0;
    while sim.elapsed() < until {
        let now = sim.elapsed();
        if Some(now) == cut {
            sim.partition("client", "server");
        }
        if sim.step().expect("the simulation runs") {
            break;
        }
        let mut n = 0;
        sim.links(|links| {
            for link in links {
                for sent in link {
                    if matches!(sent.protocol(), Protocol::Tcp(Segment::Data(0, _))) {
                        n += 1;
                    }
                }
            }
        });
        if n > on_link {
            probes.push(now);
        }
        on_link = n;
    }
    probes
}

/// The peer is partitioned away at 1 s; time 2 s, interval 1 s, retries 3.
/// Nothing was received after 20 ms, so the probes go at 2,020, 3,020 and
/// 4,020 ms (all lost), and at 5,020 the third is unanswered for its
/// interval: the connection aborts, the blocked read failing with
/// `TimedOut` (time + retries * interval after the last receipt).
#[test]
fn unanswered_probes_end_the_connection() {
    let mut sim = sim();
    silent_server(&mut sim);
    let keepalive = TcpKeepalive {
        time: secs(2),
        interval: secs(1),
        retries: 3,
    };
    let outcome = idle_client(&mut sim, None, keepalive);
    let probes = run(&mut sim, Some(secs(1)), secs(20));
    // A partitioned link drops at once: no probe is ever on it.
    assert!(probes.is_empty(), "{probes:?}");
    assert_eq!(
        *outcome.borrow(),
        Some((ms(5_020), io::ErrorKind::TimedOut))
    );
}

/// With a user timeout, Linux aborts once a probe is out and nothing was
/// received for the user timeout, whatever `retries` says. Last receipt at
/// 20 ms, probes every `interval` from 2,020 ms:
/// - interval 2 s, retries 3, no user timeout: probes at 2,020, 4,020 and
///   6,020, abort at 8,020;
/// - the same with a 5 s user timeout: at 6,020 nothing was received for
///   6 s >= 5 s and a probe is out: abort at 6,020, before the retries;
/// - interval 1 s, retries 3 (an abort at 5,020 without one) and a 10 s
///   user timeout: probes go on until nothing was received for 10 s, abort
///   at 10,020, after the retries.
#[test]
fn a_user_timeout_decides_the_keepalive_abort() {
    let cases = [
        (secs(2), None, ms(8_020)),
        (secs(2), Some(secs(5)), ms(6_020)),
        (secs(1), Some(secs(10)), ms(10_020)),
    ];
    for (interval, user_timeout, aborted_at) in cases {
        let mut sim = sim();
        silent_server(&mut sim);
        let keepalive = TcpKeepalive {
            time: secs(2),
            interval,
            retries: 3,
        };
        let outcome = idle_client(&mut sim, user_timeout, keepalive);
        run(&mut sim, Some(secs(1)), secs(20));
        assert_eq!(
            *outcome.borrow(),
            Some((aborted_at, io::ErrorKind::TimedOut)),
            "interval {interval:?}, user timeout {user_timeout:?}"
        );
    }
}

/// A healthy peer answers every probe with an ACK, which counts as
/// received: the first probe goes at 2,020 ms and its ACK is back at
/// 2,040; the timer, due again at 3,020, finds only 980 ms idle and waits
/// for 2 s after that ACK, 4,040; and so on, a probe every 2,020 ms. Over
/// 60 s that is 29 probes, and the connection stays up (the read is still
/// waiting). Zero settings are refused with `InvalidInput`, as Linux does.
#[test]
fn a_healthy_peer_answers_every_probe() {
    let mut sim = sim();
    silent_server(&mut sim);
    let zero: Rc<RefCell<Vec<io::ErrorKind>>> = Rc::default();
    let zero_log = zero.clone();
    let keepalive = TcpKeepalive {
        time: secs(2),
        interval: secs(1),
        retries: 3,
    };
    let outcome: Outcome = Rc::default();
    let log = outcome.clone();
    sim.client("client", async move {
        let mut stream = TcpStream::connect(("server", PORT)).await?;
        for bad in [
            TcpKeepalive {
                time: Duration::ZERO,
                ..keepalive
            },
            TcpKeepalive {
                interval: Duration::ZERO,
                ..keepalive
            },
            TcpKeepalive {
                retries: 0,
                ..keepalive
            },
        ] {
            let e = stream
                .set_keepalive(Some(bad))
                .expect_err("zero is refused");
            zero_log.borrow_mut().push(e.kind());
        }
        stream.set_keepalive(Some(keepalive))?;
        let mut buf = [0u8; 8];
        let e = stream.read(&mut buf).await.expect_err("nothing is sent");
        *log.borrow_mut() = Some((turmoil::sim_elapsed().unwrap(), e.kind()));
        Ok(())
    });
    let probes = run(&mut sim, None, secs(60));
    assert_eq!(*zero.borrow(), [io::ErrorKind::InvalidInput; 3]);
    assert_eq!(probes[..3], [ms(2_020), ms(4_040), ms(6_060)]);
    assert_eq!(probes.len(), 29, "{probes:?}");
    assert!(probes.windows(2).all(|w| w[1] - w[0] == ms(2_020)));
    assert_eq!(*outcome.borrow(), None, "the connection is still up");
}
