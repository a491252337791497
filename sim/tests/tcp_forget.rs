//! The turmoil fork's `TcpStream::forget` (`vendor/turmoil`,
//! `net/tcp/forget.rs`, docs/upstream.md): a connection dropped without a
//! word, as by a NAT whose flow entry expired.
//!
//! Users of the simulation (squall's NAT middlebox) rely on the peer
//! learning nothing until it sends, and then, with `Forgotten::Reset`,
//! getting a RST one round trip after its write (as behind an AWS NAT
//! gateway), or, with `Forgotten::Dropped`, no answer at all, so that its
//! data goes unacknowledged and its user timeout ends the connection (as
//! behind a firewall that drops packets of unknown flows).
//!
//! Every run has a 1 ms tick and a fixed 10 ms one-way latency. The client
//! connects at 0 (connected at 20 ms), sets a 1 s user timeout, and the
//! server forgets the connection when it accepts it (30 ms). The client
//! writes once at 1 s and then reads.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use turmoil::net::{TcpListener, TcpStream};
use turmoil::{Builder, Forgotten, Sim, TcpRetransmission, TimerWheel};

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

fn sim<'a>() -> Sim<'a> {
    Builder::new()
        .tick_duration(ms(1))
        .simulation_duration(Duration::from_secs(30))
        .min_message_latency(ms(10))
        .max_message_latency(ms(10))
        .rng_seed(1)
        .tcp_retransmission(exact_timers())
        .build()
}

type Outcome = Rc<RefCell<Option<(Duration, io::ErrorKind)>>>;

/// Runs the world with the server forgetting the connection as `later`
/// says; returns when and how the client's read failed.
fn forgotten(later: Forgotten) -> Outcome {
    let mut sim = sim();
    sim.host("server", move || async move {
        let listener = TcpListener::bind(("0.0.0.0", PORT)).await?;
        let (stream, _) = listener.accept().await?;
        assert_eq!(turmoil::sim_elapsed().unwrap(), ms(30));
        stream.forget(later);
        std::future::pending::<()>().await;
        Ok(())
    });
    let outcome: Outcome = Rc::default();
    let log = outcome.clone();
    sim.client("client", async move {
        let mut stream = TcpStream::connect(("server", PORT)).await?;
        stream.set_user_timeout(Some(Duration::from_secs(1)))?;
        tokio::time::sleep_until(tokio::time::Instant::now() + ms(980)).await;
        assert_eq!(turmoil::sim_elapsed().unwrap(), ms(1_000));
        stream.write_all(b"hello").await?;
        let mut buf = [0u8; 8];
        let e = stream.read(&mut buf).await.expect_err("forgotten");
        *log.borrow_mut() = Some((turmoil::sim_elapsed().unwrap(), e.kind()));
        Ok(())
    });
    sim.run().expect("the simulation runs");
    outcome
}

/// Nothing reaches the client at the forget (no FIN: its read would have
/// returned 0 at 40 ms); its write of 1 s meets a host without the socket,
/// whose RST is back at 1,020 ms and resets the connection.
#[test]
fn a_reset_flow_answers_the_next_segment_with_a_rst() {
    assert_eq!(
        *forgotten(Forgotten::Reset).borrow(),
        Some((ms(1_020), io::ErrorKind::ConnectionReset))
    );
}

/// A dropped flow answers nothing: the write of 1 s is never acknowledged.
/// The handshake's 20 ms round trip is the first RTT sample, so the RTO is
/// 20 + max(4 * 10, 200) = 220 ms; the tail loss probe goes at 1,220
/// (min(2 * 20 + 200, 220) ms), the first retransmission at the RTO armed
/// from it, 1,440, and the 1 s user timeout counted from that
/// retransmission ends the connection at 2,440 ms.
#[test]
fn a_dropped_flow_answers_nothing_until_the_user_timeout() {
    assert_eq!(
        *forgotten(Forgotten::Dropped).borrow(),
        Some((ms(2_440), io::ErrorKind::TimedOut))
    );
}
