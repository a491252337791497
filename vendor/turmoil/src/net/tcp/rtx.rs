//! Acknowledgement and retransmission for simulated TCP (squall fork).
//!
//! Off unless [`crate::Builder::tcp_retransmission`] is called: without it a
//! lost segment is never sent again, as in turmoil 0.7.2. With it, every
//! non-loopback stream socket keeps the segments its peer has not yet
//! acknowledged and sends them again on a retransmission timer, the way
//! Linux does:
//!
//! - the receiver answers each data or FIN segment with a cumulative ACK of
//!   the highest sequence number it has accepted in order (no SACK, no
//!   delayed ACK);
//! - the RTO follows RFC 6298 with Linux's floor: 1 s before the first RTT
//!   sample, then `SRTT + max(4 * RTTVAR, rto_min)`; RTT is sampled only from
//!   segments that were never retransmitted (Karn), the first sample being
//!   the handshake's (SYN to SYN-ACK, SYN-ACK to ACK), as on Linux;
//! - before the first RTO of a flight, once an RTT was sampled, a tail loss
//!   probe (Linux's TLP, RFC 8985): `2 * SRTT` after the last transmission,
//!   plus `rto_min` when one segment is outstanding (else 2 jiffies), but no
//!   later than the oldest segment's RTO, the last segment is sent once
//!   more; the RTO is then
//!   armed afresh from the probe. The probe is not a retransmission for the
//!   abort budget below (Linux sends it with `__tcp_retransmit_skb`, which
//!   leaves `retrans_stamp` alone), so a black hole with a 200 ms RTO ends
//!   a connection one probe timeout later than the RTO alone would;
//! - each RTO expiry sends every unacknowledged segment again (go-back-N:
//!   Linux marks them all lost after an RTO) and doubles the RTO, up to
//!   `rto_max`;
//! - the socket aborts, and its reads and writes fail with
//!   [`std::io::ErrorKind::TimedOut`], once the user timeout has passed since
//!   the first retransmission of what is still unacknowledged, or, without
//!   one, the time `retries` retransmissions take from `rto_min`
//!   (`tcp_retries2`: Linux's `tcp_model_timeout`, 924.6 s for 15). Linux
//!   counts both from `retrans_stamp`, the first retransmission, not from the
//!   first transmission: data sent into a black hole with a 1 s user timeout
//!   and a 200 ms RTO fails 1.2 s after it was sent. The timer is clamped to
//!   fire at that instant (`tcp_clamp_rto_to_user_timeout`).
//!
//! Every timer is armed on a model of Linux's timer wheel
//! ([`TcpRetransmission::timer_wheel`], `CONFIG_HZ=250` by default), so it
//! fires at the end of its wheel bucket as on a kernel: a 200 ms RTO up to
//! a jiffy (4 ms) late, a 1 s one up to 32 ms, a 4 s one up to 256 ms.
//!
//! Time here is the simulation's elapsed time at the start of the step in
//! which the host runs (`World::tcp_now`), so a run is fully determined by
//! the seed: no wall clock, and sockets are kept in insertion order. The
//! earliest timer is exposed (`Tcp::next_deadline`, with the handshake's and
//! keepalive's) so that a driver that skips idle time can avoid skipping
//! past it.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;

use super::TimerWheel;
use crate::envelope::Segment;

/// Retransmission settings for simulated TCP, defaulting to Linux's.
///
/// Passed to [`crate::Builder::tcp_retransmission`], which turns
/// acknowledgements and retransmission on for every host of the simulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpRetransmission {
    /// RTO before the first RTT sample (Linux `TCP_TIMEOUT_INIT`: 1 s).
    pub rto_initial: Duration,
    /// Floor added to SRTT in place of a smaller `4 * RTTVAR` (Linux
    /// `TCP_RTO_MIN`: 200 ms).
    pub rto_min: Duration,
    /// Cap on the RTO, backoff included (Linux `TCP_RTO_MAX`: 120 s).
    pub rto_max: Duration,
    /// Retransmissions before a socket without a user timeout aborts, as a
    /// time budget computed the way Linux computes it (`tcp_retries2`: 15).
    pub retries: u32,
    /// Retransmissions of a connect's SYN, after the linear ones, before
    /// the connect fails with `TimedOut` (Linux `tcp_syn_retries`: 6).
    pub syn_retries: u32,
    /// SYN retransmissions that come `rto_initial` apart before the backoff
    /// starts doubling, in addition to `syn_retries` (Linux 6.5+
    /// `tcp_syn_linear_timeouts`: 4). With Linux's defaults the SYNs go at
    /// 0, 1, 2, 3, 4, 5, 7, 11, 19, 35 and 67 s and the connect fails at
    /// 131 s; with 0 (older kernels) at 0, 1, 3, 7, 15, 31 and 63 s, failing
    /// at 127 s.
    pub syn_linear_timeouts: u32,
    /// Retransmissions of a listener's SYN-ACK before it forgets the
    /// half-open connection (Linux `tcp_synack_retries`: 5, so SYN-ACKs at
    /// 0, 1, 3, 7, 15 and 31 s, forgotten at 63 s).
    pub synack_retries: u32,
    /// How the timers above fire: as Linux's timer wheel at
    /// `CONFIG_HZ=250` by default (a jiffy is 4 ms, and a timer fires at
    /// the end of its wheel bucket, up to 32 ms late for a 1 s timeout and
    /// 256 ms late for 4 s), or exactly ([`TimerWheel::Exact`]).
    pub timer_wheel: TimerWheel,
}

impl Default for TcpRetransmission {
    fn default() -> Self {
        Self {
            rto_initial: Duration::from_secs(1),
            rto_min: Duration::from_millis(200),
            rto_max: Duration::from_secs(120),
            retries: 15,
            syn_retries: 6,
            syn_linear_timeouts: 4,
            synack_retries: 5,
            timer_wheel: TimerWheel::LINUX_250,
        }
    }
}

impl TcpRetransmission {
    /// How long the oldest unacknowledged segment may wait before a socket
    /// without a user timeout aborts: Linux's `tcp_model_timeout`, the sum
    /// of `retries + 1` RTOs doubling from `rto_min` up to `rto_max`.
    pub fn abort_after(&self) -> Duration {
        let mut total = Duration::ZERO;
        let mut rto = self.rto_min;
        for _ in 0..=self.retries {
            total += rto;
            rto = (rto * 2).min(self.rto_max);
        }
        total
    }
}

/// What a segment carries, kept to send it again.
#[derive(Clone, Debug)]
pub(crate) enum Payload {
    Data(Bytes),
    Fin,
}

impl Payload {
    fn segment(&self, seq: u64) -> Segment {
        match self {
            Payload::Data(bytes) => Segment::Data(seq, bytes.clone()),
            Payload::Fin => Segment::Fin(seq),
        }
    }
}

#[derive(Debug)]
struct Unacked {
    seq: u64,
    payload: Payload,
    /// First transmission: the start of an RTT sample if the segment is
    /// never sent again.
    sent_at: Duration,
    retransmitted: bool,
}

/// What an expired timer asks the socket to do.
#[derive(Debug)]
pub(crate) enum Expiry {
    /// Send these segments again.
    Retransmit(Vec<Segment>),
    /// Give up: the peer has not acknowledged for too long.
    Abort,
}

/// One socket's send-side retransmission state.
#[derive(Debug)]
pub(crate) struct Rtx {
    config: TcpRetransmission,
    /// Sent and not yet acknowledged, in sequence order. Bounded by what the
    /// writer can send in one round trip: a data segment takes a
    /// flow-control credit, and the credit comes back only when the peer's
    /// application reads the segment, which is after it arrived. (It comes
    /// back before the ACK does, so the bound is not the capacity itself.)
    unacked: VecDeque<Unacked>,
    srtt: Option<Duration>,
    rttvar: Duration,
    /// RTO without backoff.
    rto: Duration,
    /// Expiries since the last acknowledgement that made progress.
    backoff: u32,
    /// The first retransmission of a segment still unacknowledged (Linux
    /// `retrans_stamp`): where the abort budget starts. Set by the first
    /// expiry, cleared once nothing retransmitted is unacknowledged.
    retransmitted_at: Option<Duration>,
    /// When the retransmission timer fires; set iff `unacked` is not empty.
    deadline: Option<Duration>,
    /// What the timer does when it fires.
    timer: Timer,
    /// A tail loss probe was sent and no ACK has made progress since: at
    /// most one probe a flight.
    probed: bool,
}

/// The two uses of the one retransmission timer (Linux's
/// `ICSK_TIME_LOSS_PROBE` and `ICSK_TIME_RETRANS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    LossProbe,
    Rto,
}

/// Added to `2 * SRTT` for a loss probe with several segments outstanding
/// (Linux `TCP_TIMEOUT_MIN`).
const PROBE_SLACK_JIFFIES: u32 = 2;

impl Rtx {
    pub(crate) fn new(config: TcpRetransmission) -> Self {
        debug_assert!(
            !config.rto_min.is_zero()
                && config.rto_min <= config.rto_initial
                && config.rto_initial <= config.rto_max
        );
        Self {
            config,
            unacked: VecDeque::new(),
            srtt: None,
            rttvar: Duration::ZERO,
            rto: config.rto_initial,
            backoff: 0,
            retransmitted_at: None,
            deadline: None,
            timer: Timer::Rto,
            probed: false,
        }
    }

    pub(crate) fn deadline(&self) -> Option<Duration> {
        self.deadline
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.unacked.is_empty()
    }

    /// Record a first transmission; arms the timer if it was idle.
    pub(crate) fn on_send(
        &mut self,
        seq: u64,
        payload: Payload,
        now: Duration,
        user_timeout: Option<Duration>,
    ) {
        debug_assert!(self.unacked.back().is_none_or(|u| u.seq < seq));
        self.unacked.push_back(Unacked {
            seq,
            payload,
            sent_at: now,
            retransmitted: false,
        });
        // Linux schedules the loss probe again after every transmission
        // (`tcp_schedule_loss_probe` from `tcp_write_xmit`).
        if self.deadline.is_none() || self.timer == Timer::LossProbe {
            self.arm(now, user_timeout);
        }
    }

    /// A cumulative ACK of every segment up to `ack`. Returns whether it
    /// acknowledged anything new (a duplicate ACK changes nothing).
    pub(crate) fn on_ack(
        &mut self,
        ack: u64,
        now: Duration,
        user_timeout: Option<Duration>,
    ) -> bool {
        let mut sample = None;
        let mut progressed = false;
        while self.unacked.front().is_some_and(|u| u.seq <= ack) {
            let u = self.unacked.pop_front().expect("front checked");
            progressed = true;
            // Karn: the ACK of a retransmitted segment may answer either copy.
            sample = (!u.retransmitted).then(|| now.saturating_sub(u.sent_at));
        }
        if !progressed {
            return false;
        }
        if let Some(rtt) = sample {
            self.sample(rtt);
        }
        self.backoff = 0;
        self.deadline = None;
        self.probed = false;
        // Linux's `tcp_retrans_stamp_cleanup`: the budget starts afresh once
        // no retransmitted segment is outstanding.
        if !self.unacked.iter().any(|u| u.retransmitted) {
            self.retransmitted_at = None;
        }
        if !self.unacked.is_empty() {
            // Linux re-arms the timer from now on every ACK that advances.
            self.arm(now, user_timeout);
        }
        true
    }

    /// RFC 6298 section 2, with Linux's floor in place of the clock
    /// granularity `G`.
    pub(crate) fn sample(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let delta = srtt.abs_diff(rtt);
                self.rttvar = self.rttvar * 3 / 4 + delta / 4;
                self.srtt = Some(srtt * 7 / 8 + rtt / 8);
            }
        }
        let srtt = self.srtt.expect("set above");
        self.rto = (srtt + (self.rttvar * 4).max(self.config.rto_min)).min(self.config.rto_max);
        debug_assert!(self.rto >= self.config.rto_min && self.rto <= self.config.rto_max);
    }

    /// The timer fired at `now` (at or after the deadline).
    pub(crate) fn on_expiry(&mut self, now: Duration, user_timeout: Option<Duration>) -> Expiry {
        debug_assert!(self.deadline.is_some_and(|d| d <= now));
        debug_assert!(!self.unacked.is_empty(), "an armed timer has unacked data");
        if self.timer == Timer::LossProbe {
            debug_assert!(!self.probed && self.backoff == 0);
            self.probed = true;
            let tail = self.unacked.back_mut().expect("checked above");
            tail.retransmitted = true;
            let probe = tail.payload.segment(tail.seq);
            self.arm(now, user_timeout);
            debug_assert_eq!(self.timer, Timer::Rto);
            return Expiry::Retransmit(vec![probe]);
        }
        let budget = user_timeout.unwrap_or_else(|| self.config.abort_after());
        // As Linux's `retransmits_timed_out`: no abort before the first
        // retransmission, then once the budget has passed since it.
        if let Some(first) = self.retransmitted_at {
            if now.saturating_sub(first) >= budget {
                self.deadline = None;
                return Expiry::Abort;
            }
        }
        self.retransmitted_at.get_or_insert(now);
        let segments = self
            .unacked
            .iter_mut()
            .map(|u| {
                u.retransmitted = true;
                u.payload.segment(u.seq)
            })
            .collect();
        // The retry count is bounded by the abort budget above.
        self.backoff = self.backoff.saturating_add(1);
        self.arm(now, user_timeout);
        Expiry::Retransmit(segments)
    }

    /// Arm the timer at `now` plus the backed-off RTO, but, once something
    /// was retransmitted, no later than the user timeout after that (Linux's
    /// `tcp_clamp_rto_to_user_timeout`, so the abort happens at the user
    /// timeout, not at the next RTO after it).
    ///
    /// Before the first RTO of a flight, with an RTT sample, the timer is a
    /// loss probe instead, due at the probe timeout or the RTO, whichever
    /// is first.
    fn arm(&mut self, now: Duration, user_timeout: Option<Duration>) {
        let factor = 1u32.checked_shl(self.backoff.min(31)).unwrap_or(u32::MAX);
        let rto = self.rto.saturating_mul(factor).min(self.config.rto_max);
        let probe = match self.srtt {
            Some(srtt) if self.backoff == 0 && !self.probed && self.retransmitted_at.is_none() => {
                let slack = if self.unacked.len() == 1 {
                    self.config.rto_min
                } else {
                    self.config.timer_wheel.jiffy() * PROBE_SLACK_JIFFIES
                };
                // No later than the RTO of the oldest segment would be
                // (Linux's `tcp_rto_delta_us`).
                let head = self.unacked.front().expect("armed with data");
                let rto_left = (head.sent_at + rto).saturating_sub(now);
                let pto = srtt * 2 + slack;
                Some(if rto_left.is_zero() { pto } else { pto.min(rto_left) })
            }
            _ => None,
        };
        self.timer = if probe.is_some() {
            Timer::LossProbe
        } else {
            Timer::Rto
        };
        let mut at = now + probe.unwrap_or(rto);
        if let (Some(limit), Some(first)) = (user_timeout, self.retransmitted_at) {
            at = at.min((first + limit).max(now));
        }
        // Armed on the kernel's timer wheel, which fires a timer at the end
        // of its bucket; a clamp already passed fires on the next jiffy, as
        // Linux's one-jiffy minimum does.
        self.deadline = Some(self.config.timer_wheel.fires_at(now, at - now));
    }
}

/// State a stream socket shares with its [`crate::net::TcpStream`] halves:
/// the user timeout and keepalive the application set, and why the socket
/// was aborted.
#[derive(Debug, Default)]
pub(crate) struct SocketStatus {
    user_timeout: std::sync::Mutex<Option<Duration>>,
    /// What `TcpStream::set_keepalive` last set, for its getter; the timer
    /// itself is the host's (`Tcp::set_keepalive`).
    keepalive: std::sync::Mutex<Option<super::TcpKeepalive>>,
    aborted: std::sync::OnceLock<std::io::ErrorKind>,
    /// A writer waiting for credits; woken by an abort, since no credit will
    /// come back from a peer that stopped answering.
    writer: std::sync::Mutex<Option<std::task::Waker>>,
    /// A vectored write makes one segment, as `writev` on a kernel socket
    /// with `TCP_NODELAY` does: set with retransmission on, so that
    /// turmoil 0.7.2's one segment per buffer stays the default.
    pub(crate) coalesces_writes: bool,
}

impl SocketStatus {
    pub(crate) fn new(coalesces_writes: bool) -> Self {
        Self {
            coalesces_writes,
            ..Self::default()
        }
    }

    pub(crate) fn user_timeout(&self) -> Option<Duration> {
        *self.user_timeout.lock().unwrap()
    }

    /// Linux reads a zero `TCP_USER_TIMEOUT` as "not set".
    pub(crate) fn set_user_timeout(&self, value: Option<Duration>) {
        *self.user_timeout.lock().unwrap() = value.filter(|d| !d.is_zero());
    }

    pub(crate) fn keepalive(&self) -> Option<super::TcpKeepalive> {
        *self.keepalive.lock().unwrap()
    }

    pub(crate) fn set_keepalive(&self, value: Option<super::TcpKeepalive>) {
        *self.keepalive.lock().unwrap() = value;
    }

    pub(crate) fn aborted(&self) -> Option<std::io::ErrorKind> {
        self.aborted.get().copied()
    }

    pub(crate) fn abort(&self, kind: std::io::ErrorKind) {
        let _ = self.aborted.set(kind);
        if let Some(waker) = self.writer.lock().unwrap().take() {
            waker.wake();
        }
    }

    pub(crate) fn register_writer(&self, waker: &std::task::Waker) {
        *self.writer.lock().unwrap() = Some(waker.clone());
    }

    pub(crate) fn error(&self) -> Option<std::io::Error> {
        self.aborted()
            .map(|kind| std::io::Error::new(kind, "Connection timed out"))
    }
}
