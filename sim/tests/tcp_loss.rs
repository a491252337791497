//! The turmoil fork's per-message loss (`Sim::set_link_loss_rate`,
//! `vendor/turmoil/src/top.rs`, docs/upstream.md), repaired by its TCP
//! retransmission.
//!
//! Users of the simulation rely on a lossy link losing single segments,
//! not the whole link (turmoil's `set_link_fail_rate`), with every loss
//! drawn from the seeded RNG, so that the same seed gives the same run;
//! and on retransmission delivering every byte, in order, over it.
//!
//! Every run has a 1 ms tick and a fixed 10 ms one-way latency; the
//! client connects (20 ms without loss), then writes one 8-byte message
//! every 10 ms.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use turmoil::net::{TcpListener, TcpStream};
use turmoil::{Builder, Sim, TcpRetransmission, TimerWheel};

const PORT: u16 = 9000;
const MESSAGES: u64 = 200;

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

fn sim<'a>(seed: u64) -> Sim<'a> {
    Builder::new()
        .tick_duration(ms(1))
        .simulation_duration(Duration::from_secs(120))
        .min_message_latency(ms(10))
        .max_message_latency(ms(10))
        .rng_seed(seed)
        .tcp_retransmission(exact_timers())
        .build()
}

/// Each read: when, and what.
type Reads = Vec<(Duration, Vec<u8>)>;

/// Runs the stream over a link losing `rate` of the messages each way;
/// returns the server's reads and whether the stream ended with its FIN.
fn stream_over(rate: f64, seed: u64) -> (Reads, bool) {
    let mut sim = sim(seed);
    let reads: Rc<RefCell<Reads>> = Rc::default();
    let ended = Rc::new(RefCell::new(false));
    let (log, end) = (reads.clone(), ended.clone());
    sim.host("server", move || {
        let (log, end) = (log.clone(), end.clone());
        async move {
            let listener = TcpListener::bind(("0.0.0.0", PORT)).await?;
            let (mut stream, _) = listener.accept().await?;
            let mut buf = [0u8; 4096];
            loop {
                let n = stream.read(&mut buf).await?;
                if n == 0 {
                    *end.borrow_mut() = true;
                    break;
                }
                let at = turmoil::sim_elapsed().unwrap();
                log.borrow_mut().push((at, buf[..n].to_vec()));
            }
            Ok(())
        }
    });
    sim.client("client", async move {
        let mut stream = TcpStream::connect(("server", PORT)).await?;
        for i in 0..MESSAGES {
            stream.write_all(&i.to_be_bytes()).await?;
            tokio::time::sleep(ms(10)).await;
        }
        stream.shutdown().await?;
        // Stay up until the FIN is acknowledged.
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok(())
    });
    sim.set_link_loss_rate("client", "server", rate)
        .expect("a valid rate");
    sim.run().expect("the simulation runs");
    let reads = reads.borrow().clone();
    let ended = *ended.borrow();
    (reads, ended)
}

fn bytes(reads: &Reads) -> Vec<u8> {
    reads.iter().flat_map(|(_, b)| b.clone()).collect()
}

fn messages(n: u64) -> Vec<u8> {
    (0..n).flat_map(|i| i.to_be_bytes()).collect()
}

/// Without loss message `i` is written at `20 + 10 i` ms and read 10 ms
/// later: the last (199) at 2,020 ms. With 10% lost each way every byte
/// still arrives once, in order, and the stream ends with its FIN; the
/// losses delay the end. Two runs with the same seed read the same bytes
/// at the same times; another seed loses other segments.
#[test]
fn ten_percent_loss_is_repaired_deterministically() {
    let (clean, clean_ended) = stream_over(0.0, 1);
    assert_eq!(bytes(&clean), messages(MESSAGES));
    assert!(clean_ended);
    assert_eq!(clean.len(), MESSAGES as usize, "one read a message");
    assert_eq!(clean[0].0, ms(30));
    assert_eq!(clean.last().unwrap().0, ms(2_020));

    let (lossy, lossy_ended) = stream_over(0.1, 1);
    assert_eq!(bytes(&lossy), messages(MESSAGES));
    assert!(lossy_ended);
    assert!(lossy.last().unwrap().0 > ms(2_020), "losses cost time");
    assert_ne!(lossy, clean);

    let (again, _) = stream_over(0.1, 1);
    assert_eq!(again, lossy, "same seed, same run");

    let (other, other_ended) = stream_over(0.1, 2);
    assert_eq!(bytes(&other), messages(MESSAGES));
    assert!(other_ended);
    assert_ne!(other, lossy, "another seed loses other segments");
}

/// A rate that is not a probability is refused with `InvalidInput`.
#[test]
fn a_rate_outside_0_to_1_is_refused() {
    let sim = sim(1);
    let mut sim = sim;
    sim.host("server", || async { Ok(()) });
    sim.client("client", async { Ok(()) });
    for rate in [-0.1, 1.5, f64::NAN] {
        let e = sim
            .set_link_loss_rate("client", "server", rate)
            .expect_err("not a probability");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{rate}");
    }
    sim.set_link_loss_rate_oneway("client", "server", 1.0)
        .expect("1 is a probability");
}
