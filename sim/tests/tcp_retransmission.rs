//! The turmoil fork's TCP retransmission (`vendor/turmoil`, docs/upstream.md),
//! on turmoil's own API, without squall's worlds.
//!
//! Users of the simulation rely on a short outage healing as it does on
//! Linux (every byte arrives, in order, once the RTO resends it), on a dead
//! peer ending the connection with `TimedOut` at the user timeout, on
//! duplicates not corrupting the stream, and on a lossy stretch not
//! starving the writer of flow-control credits. They also rely on the switch
//! being off by default: with it off, TCP is turmoil 0.7.2's, where a lost
//! segment wedges the stream for good, and every existing trace stays as it
//! was.
//!
//! Every run here has a 1 ms tick and a fixed 10 ms one-way latency, so
//! every time below follows from the tick count. The fork's TCP clock is the
//! simulation's elapsed time at the start of a step, which is also the host
//! time a task woken in that step sees. A segment sent in step `t` is on
//! the link until `t + 11` (link time runs a tick ahead: the network ticks
//! before the hosts) and is read in step `t + 10`. With the switch on the
//! handshake is made of packets (`tcp_handshake.rs`): a connect started at
//! 0 returns at 20 ms, one round trip.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use turmoil::net::{TcpListener, TcpStream};
use turmoil::{Builder, Protocol, Segment, Sim, TcpRetransmission, TimerWheel};

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

/// A simulation with explicit timing: 1 ms tick, 10 ms each way.
fn sim<'a>(retransmission: bool, tcp_capacity: usize) -> Sim<'a> {
    let mut b = Builder::new();
    b.tick_duration(ms(1))
        .simulation_duration(Duration::from_secs(120))
        .min_message_latency(ms(10))
        .max_message_latency(ms(10))
        .tcp_capacity(tcp_capacity)
        .rng_seed(1);
    if retransmission {
        b.tcp_retransmission(exact_timers());
    }
    b.build()
}

/// What the server read: each read's simulated time and bytes, and how
/// the stream ended (`None` while it has not).
#[derive(Default)]
struct Received {
    reads: Vec<(Duration, Vec<u8>)>,
    end: Option<Result<(), io::ErrorKind>>,
}

impl Received {
    fn bytes(&self) -> Vec<u8> {
        self.reads.iter().flat_map(|(_, b)| b.clone()).collect()
    }

    /// When the byte at `offset` of the stream was read.
    fn read_at(&self, offset: usize) -> Duration {
        let mut seen = 0;
        for (at, b) in &self.reads {
            seen += b.len();
            if offset < seen {
                return *at;
            }
        }
        panic!("byte {offset} never read (read {seen})")
    }
}

/// A server that accepts one connection and reads it to its end.
fn reading_server(sim: &mut Sim<'_>) -> Rc<RefCell<Received>> {
    let received = Rc::new(RefCell::new(Received::default()));
    let log = received.clone();
    sim.host("server", move || {
        let log = log.clone();
        async move {
            let listener = TcpListener::bind(("0.0.0.0", PORT)).await?;
            let (mut stream, _) = listener.accept().await?;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) => {
                        log.borrow_mut().end = Some(Ok(()));
                        break;
                    }
                    Ok(n) => {
                        let at = turmoil::sim_elapsed().expect("in a host");
                        log.borrow_mut().reads.push((at, buf[..n].to_vec()));
                    }
                    Err(e) => {
                        log.borrow_mut().end = Some(Err(e.kind()));
                        break;
                    }
                }
            }
            Ok(())
        }
    });
    received
}

/// `n` 8-byte messages, message `i` being `i` as a big-endian u64.
fn messages(n: u64) -> Vec<u8> {
    (0..n).flat_map(|i| i.to_be_bytes()).collect()
}

/// Step `sim` until its clients finish or `until`, cutting both directions
/// between client and server over `cut` (start inclusive, end exclusive);
/// returns whether the clients finished.
fn run(sim: &mut Sim<'_>, cut: (Duration, Duration), until: Duration) -> bool {
    while sim.elapsed() < until {
        if sim.elapsed() == cut.0 {
            sim.partition("client", "server");
        }
        if sim.elapsed() == cut.1 {
            sim.repair("client", "server");
        }
        if sim.step().expect("the simulation runs") {
            return true;
        }
    }
    false
}

/// A client writing one 8-byte message every 100 ms, `n` in all, then
/// closing.
fn paced_client(sim: &mut Sim<'_>, n: u64) {
    sim.client("client", async move {
        let mut stream = TcpStream::connect(("server", PORT)).await?;
        for i in 0..n {
            stream.write_all(&i.to_be_bytes()).await?;
            tokio::time::sleep(ms(100)).await;
        }
        stream.shutdown().await?;
        Ok(())
    });
}

/// A 600 ms black hole mid-stream heals. Message `i` is written at
/// `20 + 100 i` ms (the handshake takes a 20 ms round trip) and read by the
/// server at `30 + 100 i`; its ACK is back in step `40 + 100 i`. Every RTT
/// sample is 20 ms, so SRTT is 20 ms, 4 * RTTVAR (40 ms at most) stays
/// under the 200 ms floor, and the RTO is 220 ms. Message 10, the first
/// into the cut (1000 to 1600 ms), is sent at 1020, with its tail loss
/// probe due at min(2 * 20 + 200, 220) = 220 ms later; message 11, sent at
/// 1120 with two segments out, brings the probe forward to 2 * 20 + 2 =
/// 42 ms later, 1162. The probe (message 11 again) is lost in the cut, and
/// the RTO is armed from it: 1382, inside the cut, resending everything and
/// doubling to 440 ms; the next fires at 1822, after the heal, resending
/// everything unacknowledged, which is read at 1832 ms. (Linux, with SACK,
/// would resend on the first SACK after the heal; this TCP has none, so
/// recovery waits for the RTO.) Every byte arrives once, in order, and the
/// stream ends with its FIN.
#[test]
fn a_600ms_black_hole_heals_and_every_byte_arrives_in_order() {
    let mut sim = sim(true, 64);
    let received = reading_server(&mut sim);
    paced_client(&mut sim, 30);
    assert!(run(&mut sim, (ms(1000), ms(1600)), ms(10_000)));
    // Let the server read the FIN.
    for _ in 0..100 {
        sim.step().unwrap();
    }
    let r = received.borrow();
    assert_eq!(r.bytes(), messages(30));
    assert_eq!(r.end, Some(Ok(())));
    // Message 9 was read before the cut, 10 ms after it was written.
    assert_eq!(r.read_at(9 * 8), ms(930));
    // Messages 10 to 15 were written into the cut, 16 to 18 after the heal
    // (they waited in the reorder buffer for 10): all read with the resend.
    for i in 10..=18 {
        assert_eq!(r.read_at(i * 8), ms(1832), "message {i}");
    }
    // Message 19 flows as usual.
    assert_eq!(r.read_at(19 * 8), ms(1930));
}

/// The same black hole with the switch off (the default) wedges the
/// stream for good, as turmoil 0.7.2 does: the lost message is never sent
/// again, the server never reads past message 9, and its reads wait
/// forever (no error, no EOF).
#[test]
fn without_the_switch_a_lost_segment_still_wedges_the_stream() {
    let mut sim = sim(false, 64);
    let received = reading_server(&mut sim);
    paced_client(&mut sim, 30);
    assert!(run(&mut sim, (ms(1000), ms(1600)), ms(10_000)));
    for _ in 0..5_000 {
        sim.step().unwrap();
    }
    let r = received.borrow();
    assert_eq!(r.bytes(), messages(10));
    assert_eq!(r.end, None);
}

/// Which call failed, when, and how.
type Failure = (&'static str, Duration, io::ErrorKind);

/// A cut that does not heal ends a connection with a 5 s user timeout at
/// exactly 5 s after the first retransmission of the oldest
/// unacknowledged segment, as Linux counts it (from `retrans_stamp`; the
/// tail loss probe does not count): message 10 is sent at 1020 ms as in
/// the test above, the probe goes at 1162, and the first retransmission at
/// the RTO armed from it, 1382 ms. The timer is clamped to the user
/// timeout, so the abort is at 6382 ms (RTOs at 1382, 1822, 2702, 4462 ms,
/// then 7982 clamped to 6382), not at the next RTO after it. The client's
/// blocked read fails with `TimedOut` in that step; the writer, writing
/// every 100 ms, had its write of 6320 accepted (buffered, as a kernel
/// would) and fails on the next, message 64 at 6420. Nothing is sent to the server, whose read
/// keeps waiting (it has nothing unacknowledged, as on Linux).
#[test]
fn a_long_black_hole_ends_the_connection_at_the_user_timeout() {
    let mut sim = sim(true, 64);
    let received = reading_server(&mut sim);
    let outcome: Rc<RefCell<Vec<Failure>>> = Rc::default();
    let log = outcome.clone();
    sim.client("client", async move {
        let stream = TcpStream::connect(("server", PORT)).await?;
        assert_eq!(stream.user_timeout()?, None);
        stream.set_user_timeout(Some(Duration::from_secs(5)))?;
        assert_eq!(stream.user_timeout()?, Some(Duration::from_secs(5)));
        let (mut rd, mut wr) = stream.into_split();
        let writer_log = log.clone();
        let writer = tokio::task::spawn_local(async move {
            for i in 0u64.. {
                if let Err(e) = wr.write_all(&i.to_be_bytes()).await {
                    let at = turmoil::sim_elapsed().unwrap();
                    writer_log.borrow_mut().push(("write", at, e.kind()));
                    return;
                }
                tokio::time::sleep(ms(100)).await;
            }
        });
        let mut buf = [0u8; 8];
        let e = rd
            .read(&mut buf)
            .await
            .expect_err("the server sends nothing");
        let at = turmoil::sim_elapsed().unwrap();
        log.borrow_mut().push(("read", at, e.kind()));
        writer.await?;
        Ok(())
    });
    assert!(run(&mut sim, (ms(1000), Duration::MAX), ms(20_000)));
    assert_eq!(
        *outcome.borrow(),
        [
            ("read", ms(6382), io::ErrorKind::TimedOut),
            ("write", ms(6420), io::ErrorKind::TimedOut),
        ]
    );
    let r = received.borrow();
    assert_eq!(r.bytes(), messages(10));
    assert_eq!(r.end, None);
}

/// After a one-way cut of the ACK direction (server to client, 1000 to
/// 1600 ms) the client resends segments the server already has. Each
/// duplicate is dropped and acknowledged again: the stream holds every
/// message once, in order. The duplicates are seen on the link: message
/// `i` is sequence number `i + 1`; the tail loss probe of 1162 (as above)
/// resends 12, and the RTO armed from it fires at 1382 and resends what
/// was unacknowledged then, sequence numbers 11 to 14 (messages of 1020,
/// 1120, 1220 and 1320). The next RTO would be at 1822, but message 16,
/// sent at 1620 after the heal, is acknowledged at 1640 with everything
/// before it (the ACK is cumulative), so nothing else is sent twice.
#[test]
fn duplicates_after_repair_do_not_corrupt_the_stream() {
    let mut sim = sim(true, 64);
    let received = reading_server(&mut sim);
    paced_client(&mut sim, 30);
    // How many separate times each data sequence number went in flight.
    let mut flights: BTreeMap<u64, u32> = BTreeMap::new();
    let mut in_flight: BTreeSet<u64> = BTreeSet::new();
    let mut finished = false;
    while sim.elapsed() < ms(10_000) && !finished {
        if sim.elapsed() == ms(1000) {
            sim.partition_oneway("server", "client");
        }
        if sim.elapsed() == ms(1600) {
            sim.repair_oneway("server", "client");
        }
        let mut now = BTreeSet::new();
        sim.links(|links| {
            for link in links {
                for sent in link {
                    if let Protocol::Tcp(Segment::Data(seq, _)) = sent.protocol() {
                        now.insert(*seq);
                    }
                }
            }
        });
        for seq in now.difference(&in_flight) {
            *flights.entry(*seq).or_default() += 1;
        }
        in_flight = now;
        finished = sim.step().unwrap();
    }
    assert!(finished);
    for _ in 0..100 {
        sim.step().unwrap();
    }
    let resent: Vec<u64> = flights
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(seq, _)| *seq)
        .collect();
    assert_eq!(resent, [11, 12, 13, 14], "{flights:?}");
    let r = received.borrow();
    assert_eq!(r.bytes(), messages(30));
    assert_eq!(r.end, Some(Ok(())));
}

/// A writer with a 64-segment capacity writing a message every millisecond
/// (one segment each: writes of one step would join one segment) into a
/// 1 s black hole: all 64 credits go to segments the cut drops, each RTO
/// inside the cut sends them all again (dropped too), and after the heal
/// they arrive and the server's reads return the credits. No credit is
/// lost: all 512 messages arrive and the writer finishes. With the switch
/// off the same run leaks the 64 credits and the writer blocks forever.
#[test]
fn no_flow_control_credit_is_lost_to_dropped_segments() {
    for retransmission in [true, false] {
        let mut sim = sim(retransmission, 64);
        let received = reading_server(&mut sim);
        let written: Rc<RefCell<Vec<(Duration, u64)>>> = Rc::default();
        let log = written.clone();
        sim.client("client", async move {
            let mut stream = TcpStream::connect(("server", PORT)).await?;
            for i in 0..512u64 {
                tokio::time::sleep(ms(1)).await;
                stream.write_all(&i.to_be_bytes()).await?;
                log.borrow_mut().push((turmoil::sim_elapsed().unwrap(), i));
            }
            stream.shutdown().await?;
            Ok(())
        });
        let finished = run(&mut sim, (ms(100), ms(1100)), ms(30_000));
        let w = written.borrow();
        let before = w.iter().filter(|(at, _)| *at < ms(100)).count();
        let in_cut = w
            .iter()
            .filter(|(at, _)| *at >= ms(100) && *at < ms(1100))
            .count();
        let read_by_heal = received
            .borrow()
            .reads
            .iter()
            .filter(|(at, _)| *at < ms(1100))
            .map(|(_, b)| b.len() / 8)
            .sum::<usize>();
        // All 64 credits went to segments the cut dropped: 10 on the link
        // when it began (10 ms of writes) and 54 written into it.
        assert_eq!(before - read_by_heal, 10, "retransmission {retransmission}");
        assert_eq!(in_cut, 54, "retransmission {retransmission}");
        if retransmission {
            assert!(finished);
            for _ in 0..100 {
                sim.step().unwrap();
            }
            let r = received.borrow();
            assert_eq!(r.bytes(), messages(512));
            assert_eq!(r.end, Some(Ok(())));
        } else {
            assert!(
                !finished,
                "the writer blocks forever without retransmission"
            );
            assert!(w.len() < 512);
        }
    }
}

/// Without a user timeout the socket aborts on Linux's `tcp_retries2`
/// budget: 15 retransmissions from a 200 ms RTO take 924.6 s (0.2 s doubling
/// ten times to 102.4 s, 204.6 s in all, then six at the 120 s cap). This
/// connection's RTO is 220 ms, so its expiries after message 10 (sent at
/// 1020 ms) are 220 ms * (2^k - 1) later up to k = 10 (225.06 s), then
/// every 120 s, counted from the tail loss probe, which goes 220 ms after
/// the send (one segment out: min(2 * 20 + 200, 220) ms) and re-arms the
/// RTO. The budget counts from the first retransmission, 440 ms after the
/// send (Linux's `retrans_stamp`; the probe does not count); the first
/// expiry at which 924.6 s have passed since then is 0.22 + 225.06 +
/// 6 * 120 = 945.28 s after the send (944.84 s after the first
/// retransmission; five cap steps would give 824.84 s): the abort is at
/// 946,300 ms.
#[test]
fn without_a_user_timeout_the_retry_budget_ends_the_connection() {
    assert_eq!(exact_timers().abort_after(), Duration::from_millis(924_600));
    let mut b = Builder::new();
    b.tick_duration(ms(1))
        .simulation_duration(Duration::from_secs(1_000))
        .min_message_latency(ms(10))
        .max_message_latency(ms(10))
        .rng_seed(1)
        .tcp_retransmission(exact_timers());
    let mut sim = b.build();
    let _received = reading_server(&mut sim);
    let outcome: Rc<RefCell<Option<(Duration, io::ErrorKind)>>> = Rc::default();
    let log = outcome.clone();
    sim.client("client", async move {
        let mut stream = TcpStream::connect(("server", PORT)).await?;
        for i in 0..11u64 {
            stream.write_all(&i.to_be_bytes()).await?;
            tokio::time::sleep(ms(100)).await;
        }
        let mut buf = [0u8; 8];
        let e = stream
            .read(&mut buf)
            .await
            .expect_err("the server sends nothing");
        *log.borrow_mut() = Some((turmoil::sim_elapsed().unwrap(), e.kind()));
        Ok(())
    });
    assert!(run(
        &mut sim,
        (ms(1000), Duration::MAX),
        Duration::from_secs(1_000)
    ));
    assert_eq!(
        *outcome.borrow(),
        Some((ms(946_300), io::ErrorKind::TimedOut))
    );
}

/// Every write is a segment of its own, as on a kernel socket with
/// `TCP_NODELAY` (h2 writes a request's HEADERS and DATA separately, and
/// Linux sends them as two segments, which decides its tail loss probe
/// timeout: measured in docs/upstream.md); a vectored write is one segment,
/// as one `writev` is. Three writes at 20 ms (when the connect returns)
/// arrive as three segments at 30 ms, each its own read; a vectored write of
/// two buffers one step later arrives as one, at 31 ms.
#[test]
fn every_write_is_a_segment_and_a_vectored_write_is_one() {
    let mut sim = sim(true, 64);
    let received = reading_server(&mut sim);
    sim.client("client", async move {
        let mut stream = TcpStream::connect(("server", PORT)).await?;
        assert_eq!(turmoil::sim_elapsed().unwrap(), ms(20));
        for part in [b"a", b"b", b"c"] {
            stream.write_all(part).await?;
        }
        tokio::time::sleep(ms(1)).await;
        assert!(tokio::io::AsyncWrite::is_write_vectored(&stream));
        let bufs = [std::io::IoSlice::new(b"d"), std::io::IoSlice::new(b"e")];
        let written = stream.write_vectored(&bufs).await?;
        assert_eq!(written, 2);
        stream.shutdown().await?;
        tokio::time::sleep(ms(100)).await;
        Ok(())
    });
    sim.run().expect("the simulation runs");
    let r = received.borrow();
    assert_eq!(r.bytes(), b"abcde");
    let expected: Vec<(Duration, Vec<u8>)> = vec![
        (ms(30), b"a".to_vec()),
        (ms(30), b"b".to_vec()),
        (ms(30), b"c".to_vec()),
        (ms(31), b"de".to_vec()),
    ];
    assert_eq!(r.reads, expected);
}
