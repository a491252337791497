//! TCP keepalive on simulated sockets (squall fork).
//!
//! Models Linux's `SO_KEEPALIVE` with `TCP_KEEPIDLE`, `TCP_KEEPINTVL` and
//! `TCP_KEEPCNT` (`tcp_keepalive_timer` in `net/ipv4/tcp_timer.c`), set per
//! stream with [`crate::net::TcpStream::set_keepalive`]. Takes effect only
//! with [`crate::Builder::tcp_retransmission`], and not on loopback, which
//! loses nothing:
//!
//! - turning it on arms a timer at `time` from now. When it fires with
//!   segments unacknowledged, it waits another `time` (retransmission is
//!   watching the peer then). Otherwise, if less than `time` has passed
//!   since the socket last received anything, it waits out the rest;
//! - else it sends a probe and fires again after `interval`. The probe is
//!   `Segment::Data(0, empty)`: sequence number 0 is never data (data
//!   starts at 1), so the peer takes it for a duplicate and answers with
//!   its cumulative ACK, as it answers Linux's probe (sequence number
//!   `snd_una - 1`). Anything received, that ACK included, counts the
//!   probes from zero again;
//! - the socket aborts, reads and writes failing with `TimedOut` and a RST
//!   sent to the peer, when `retries` probes are unanswered; or, with a user
//!   timeout set ([`crate::net::TcpStream::set_user_timeout`]), when at
//!   least one probe is out and nothing has been received for the user
//!   timeout, whatever `retries` says (as Linux does).
//!
//! The timer reads the host's TCP clock and is reported by
//! `Tcp::next_deadline`.

use std::time::Duration;

/// Keepalive settings for a simulated TCP stream, as Linux's
/// `TCP_KEEPIDLE`, `TCP_KEEPINTVL` and `TCP_KEEPCNT`; passed to
/// [`crate::net::TcpStream::set_keepalive`].
///
/// Unlike Linux, which counts in whole seconds, any non-zero duration is
/// taken as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpKeepalive {
    /// How long the connection must be idle (nothing received, nothing
    /// unacknowledged) before the first probe.
    pub time: Duration,
    /// Time between unanswered probes.
    pub interval: Duration,
    /// Unanswered probes before the connection is aborted.
    pub retries: u32,
}

impl TcpKeepalive {
    /// Linux refuses zero for each of the three (`EINVAL`).
    pub(crate) fn validate(&self) -> std::io::Result<()> {
        if self.time.is_zero() || self.interval.is_zero() || self.retries == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "keepalive time, interval and retries must be non-zero",
            ));
        }
        Ok(())
    }
}

/// What an expired keepalive timer asks the socket to do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum KeepaliveExpiry {
    /// Nothing yet; the timer is re-armed.
    Wait,
    /// Send a probe.
    Probe,
    /// Give up on the peer.
    Abort,
}

/// One socket's keepalive timer.
#[derive(Debug)]
pub(crate) struct Keepalive {
    config: TcpKeepalive,
    wheel: super::TimerWheel,
    deadline: Duration,
    /// Probes sent since the socket last received anything.
    probes: u32,
}

impl Keepalive {
    /// `SO_KEEPALIVE` turned on at `now`: the first check is `time` later.
    pub(crate) fn new(config: TcpKeepalive, now: Duration, wheel: super::TimerWheel) -> Self {
        debug_assert!(config.validate().is_ok());
        Self {
            config,
            wheel,
            deadline: wheel.fires_at(now, config.time),
            probes: 0,
        }
    }

    /// New settings on a socket whose keepalive is on: as Linux's
    /// `TCP_KEEPIDLE`, the next check is `time` after the last receipt (or
    /// now, if that has passed). The probe count carries over.
    pub(crate) fn reconfigure(&mut self, config: TcpKeepalive, now: Duration, last_recv: Duration) {
        debug_assert!(config.validate().is_ok());
        self.config = config;
        self.deadline = self
            .wheel
            .fires_at(now, (last_recv + config.time).saturating_sub(now));
    }

    pub(crate) fn deadline(&self) -> Duration {
        self.deadline
    }

    /// Something arrived from the peer: it is alive.
    pub(crate) fn on_receive(&mut self) {
        self.probes = 0;
    }

    /// The timer fired at `now`; `last_recv` is when the socket last
    /// received anything, `in_flight` whether segments are unacknowledged.
    /// Linux's `tcp_keepalive_timer`, step for step.
    pub(crate) fn on_expiry(
        &mut self,
        now: Duration,
        last_recv: Duration,
        in_flight: bool,
        user_timeout: Option<Duration>,
    ) -> KeepaliveExpiry {
        debug_assert!(self.deadline <= now, "a keepalive timer fired early");
        let config = self.config;
        if in_flight {
            self.deadline = self.wheel.fires_at(now, config.time);
            return KeepaliveExpiry::Wait;
        }
        let idle = now.saturating_sub(last_recv);
        if idle < config.time {
            self.deadline = self.wheel.fires_at(now, config.time - idle);
            return KeepaliveExpiry::Wait;
        }
        let expired = match user_timeout {
            Some(limit) => idle >= limit && self.probes > 0,
            None => self.probes >= config.retries,
        };
        if expired {
            return KeepaliveExpiry::Abort;
        }
        // Bounded: the abort above comes after `retries` probes, or once
        // the user timeout has passed.
        self.probes = self.probes.saturating_add(1);
        self.deadline = self.wheel.fires_at(now, config.interval);
        KeepaliveExpiry::Probe
    }
}
