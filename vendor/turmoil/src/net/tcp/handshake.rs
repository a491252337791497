//! The connect handshake as packets (squall fork).
//!
//! Off unless [`crate::Builder::tcp_retransmission`] is called: without it,
//! as in turmoil 0.7.2, the SYN carries a channel the listener answers on,
//! so a SYN lost to a partition refuses the connect at once and a one-way
//! partition cannot stop the answer. With it, on every non-loopback connect,
//! the handshake is three segments on the simulated links, as on Linux:
//!
//! ```text
//! client                                      listener
//! SYN-SENT  --- SYN ------------------------> (half-open, SYN-ACK timer)
//!           <-------------------- SYN-ACK ---
//! connected --- ACK 0 (or the first data) --> established, accept() returns
//! ```
//!
//! - the client's SYN is sent again `rto_initial` (1 s) apart
//!   `syn_linear_timeouts` times (Linux 6.5+ `tcp_syn_linear_timeouts`: 4),
//!   once more 1 s later, then doubling (capped at `rto_max`), for
//!   `syn_retries + syn_linear_timeouts` retransmissions in all (Linux's
//!   `tcp_write_timeout`: 6 + 4): SYNs at 0, 1, 2, 3, 4, 5, 7, 11, 19, 35
//!   and 67 s. The connect fails with `TimedOut` when the timer after the
//!   last one fires (131 s). A connect into a black hole stays pending until
//!   then, or until the caller's own timeout drops it;
//! - a listener answers a SYN with a SYN-ACK and keeps the connection
//!   half-open, sending the SYN-ACK again on the same schedule
//!   `synack_retries` times (Linux `tcp_synack_retries`: 5) until the
//!   client's ACK or first data segment arrives, then forgets it. Only then
//!   is the connection queued for `accept()`;
//! - a SYN to a port nothing listens on is answered with a RST, which fails
//!   the connect with `ConnectionRefused` after one round trip;
//! - duplicates are answered idempotently: a SYN for a half-open connection
//!   gets its SYN-ACK again, a SYN for an established one and a SYN-ACK for
//!   a connected socket get an ACK, a SYN-ACK nobody waits for gets a RST.
//!
//! The timers read the host's TCP clock (`Tcp::set_clock`) and are reported
//! by `Tcp::next_deadline`. Nothing here takes a flow-control credit, so a
//! lost handshake segment loses none.

use std::time::Duration;

use tokio::sync::oneshot;

use super::stream::BidiFlowControl;
use super::TcpRetransmission;

/// The SYN or SYN-ACK retransmission timer: `rto_initial`, kept for the
/// first `linear` retransmissions and then doubling up to `rto_max`, for at
/// most `retries_max` retransmissions.
#[derive(Debug)]
pub(crate) struct SynTimer {
    rto_initial: Duration,
    rto_max: Duration,
    /// Retransmissions after which the timeout is still `rto_initial`.
    linear: u32,
    retries_max: u32,
    /// Retransmissions so far; never above `retries_max`.
    retries: u32,
    wheel: super::TimerWheel,
    deadline: Duration,
    /// First transmission, for the trace.
    sent_at: Duration,
}

/// What an expired [`SynTimer`] asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SynExpiry {
    /// Send the SYN (or SYN-ACK) again.
    Resend,
    /// The retries are spent: give the handshake up.
    GiveUp,
}

impl SynTimer {
    fn new(now: Duration, config: &TcpRetransmission, linear: u32, retries_max: u32) -> Self {
        debug_assert!(linear <= retries_max);
        Self {
            rto_initial: config.rto_initial,
            rto_max: config.rto_max,
            linear,
            retries_max,
            retries: 0,
            wheel: config.timer_wheel,
            deadline: config
                .timer_wheel
                .fires_at(now, config.rto_initial.min(config.rto_max)),
            sent_at: now,
        }
    }

    /// A client's SYN timer (`syn_linear_timeouts` linear retransmissions,
    /// then `syn_retries` backed off).
    pub(crate) fn syn(now: Duration, config: &TcpRetransmission) -> Self {
        let linear = config.syn_linear_timeouts;
        Self::new(now, config, linear, config.syn_retries.saturating_add(linear))
    }

    /// A listener's SYN-ACK timer (`synack_retries`; Linux's linear SYN
    /// timeouts are for the active side only).
    pub(crate) fn synack(now: Duration, config: &TcpRetransmission) -> Self {
        Self::new(now, config, 0, config.synack_retries)
    }

    pub(crate) fn deadline(&self) -> Duration {
        self.deadline
    }

    pub(crate) fn is_due(&self, now: Duration) -> bool {
        self.deadline <= now
    }

    /// The timer fired at `now` (at or after the deadline): after the
    /// linear retransmissions, the next waits twice as long as the last
    /// (Linux's `tcp_retransmit_timer`: the RTO doubles only once
    /// `total_rto` exceeds `tcp_syn_linear_timeouts`).
    pub(crate) fn on_expiry(&mut self, now: Duration) -> SynExpiry {
        debug_assert!(self.is_due(now), "a SYN timer fired early");
        debug_assert!(self.retries <= self.retries_max);
        if self.retries >= self.retries_max {
            return SynExpiry::GiveUp;
        }
        self.retries += 1;
        let doublings = self.retries.saturating_sub(self.linear).min(31);
        let factor = 1u32.checked_shl(doublings).unwrap_or(u32::MAX);
        let rto = self.rto_initial.saturating_mul(factor).min(self.rto_max);
        self.deadline = self.wheel.fires_at(now, rto);
        SynExpiry::Resend
    }

    pub(crate) fn sent_at(&self) -> Duration {
        self.sent_at
    }

    /// The handshake's round trip, if it completes at `now` on an answer to
    /// the first transmission (Karn: an answer after a retransmission may
    /// be to either copy). Linux takes its first RTT sample here, on both
    /// sides (`tcp_ack_update_rtt` in SYN-SENT, `tcp_synack_rtt_meas`).
    pub(crate) fn rtt_sample(&self, now: Duration) -> Option<Duration> {
        (self.retries == 0).then(|| now.saturating_sub(self.sent_at))
    }
}

/// A client socket in SYN-SENT: the connect waiting for its SYN-ACK.
#[derive(Debug)]
pub(crate) struct Connecting {
    /// Tells the connect future how the handshake ended: `Ok` on the
    /// SYN-ACK, `ConnectionRefused` on a RST, `TimedOut` when the SYN
    /// retries are spent.
    pub(crate) done: oneshot::Sender<Result<(), std::io::ErrorKind>>,
    pub(crate) timer: SynTimer,
}

impl Connecting {
    pub(crate) fn new(
        done: oneshot::Sender<Result<(), std::io::ErrorKind>>,
        now: Duration,
        config: &TcpRetransmission,
    ) -> Self {
        Self {
            done,
            timer: SynTimer::syn(now, config),
        }
    }

    /// The handshake ended; the connect future may be gone already (its
    /// caller's timeout dropped it), in which case nobody needs telling.
    pub(crate) fn finish(self, result: Result<(), std::io::ErrorKind>) {
        let _ = self.done.send(result);
    }
}

/// A connection a listener has answered with a SYN-ACK and that waits for
/// the client's ACK (Linux's request socket in SYN-RECV).
#[derive(Debug)]
pub(crate) struct HalfOpen {
    /// The listener's address the SYN was sent to (the bind address may be
    /// unspecified): the SYN-ACK's source.
    pub(crate) local: std::net::SocketAddr,
    /// The client's flow control, carried by its SYN.
    pub(crate) flow_control: BidiFlowControl,
    pub(crate) timer: SynTimer,
}
