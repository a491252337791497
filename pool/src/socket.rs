//! [`SocketOptions`]: the TCP socket options every connection of a pool gets,
//! one description for every connector.
//!
//! The pool derives them from its [`KeepaliveConfig`] and hands them to its
//! [`Connector`](crate::Connector) on every dial, so the kernel's own
//! dead-peer detection always matches the pool's HTTP/2 keepalive: the
//! shipped [`TcpConnector`](crate::TcpConnector) applies them to a kernel
//! socket, squall's simulator applies the same values to a simulated one,
//! and a connector of your own reads them here instead of guessing.
//!
//! The semantics are gRFC A18's and grpc-go's, made to fit what Linux
//! accepts: `TCP_USER_TIMEOUT` carries the keepalive timeout in
//! milliseconds (rounded up), so data the peer leaves unacknowledged that
//! long fails the socket even while HTTP/2 PINGs are queued behind it; TCP
//! keepalive probes after the keepalive interval of silence and then every
//! keepalive timeout, each rounded *up* to whole seconds because
//! `TCP_KEEPIDLE` and `TCP_KEEPINTVL` take whole seconds (a 500 ms value
//! handed to them truncates to 0, which Linux refuses with `EINVAL`).
//! Rounding up never makes the kernel give up sooner than the pool would.

use std::time::Duration;

use crate::config::KeepaliveConfig;

/// Largest `TCP_KEEPIDLE` and `TCP_KEEPINTVL` Linux accepts, in seconds
/// (`MAX_TCP_KEEPIDLE`, `MAX_TCP_KEEPINTVL`). The pool's config validation
/// rejects a keepalive interval or timeout above this.
pub const MAX_TCP_KEEPALIVE_SECS: u64 = 32_767;

/// Linux's default `tcp_keepalive_probes`. With a user timeout set (the pool
/// always sets one) Linux ends a silent connection by the user timeout
/// instead of by this count; it matters only to a connector that skips the
/// user timeout.
pub const DEFAULT_TCP_KEEPALIVE_RETRIES: u32 = 9;

/// The socket options a pool asks its connector to set on each new
/// connection. Build them with [`SocketOptions::for_keepalive`]; every value
/// is already within what Linux accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketOptions {
    /// `TCP_NODELAY`: gRPC messages are small and latency-sensitive, and
    /// Nagle's algorithm with the peer's delayed ACK stalls them ~40 ms.
    pub nodelay: bool,
    /// TCP keepalive (`SO_KEEPALIVE` with its idle time, interval and count).
    pub keepalive: TcpKeepalive,
    /// `TCP_USER_TIMEOUT`: how long sent data may stay unacknowledged (or
    /// keepalive probes unanswered) before the kernel fails the socket with
    /// `ETIMEDOUT`. Whole milliseconds, at least 1 ms.
    pub user_timeout: Duration,
}

/// TCP keepalive: probe after `idle` without receiving anything, then every
/// `interval`; whole seconds in `1..=MAX_TCP_KEEPALIVE_SECS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpKeepalive {
    /// `TCP_KEEPIDLE`.
    pub idle: Duration,
    /// `TCP_KEEPINTVL`.
    pub interval: Duration,
    /// `TCP_KEEPCNT`.
    pub retries: u32,
}

impl SocketOptions {
    /// The options matching the pool's HTTP/2 keepalive: TCP keepalive idle
    /// = `interval` and probe interval = `timeout`, each rounded up to whole
    /// seconds (and clamped to Linux's limit, which a validated config never
    /// reaches); `TCP_USER_TIMEOUT` = `timeout`, rounded up to whole
    /// milliseconds.
    pub fn for_keepalive(keepalive: &KeepaliveConfig) -> Self {
        let options = Self {
            nodelay: true,
            keepalive: TcpKeepalive {
                idle: whole_seconds(keepalive.interval),
                interval: whole_seconds(keepalive.timeout),
                retries: DEFAULT_TCP_KEEPALIVE_RETRIES,
            },
            user_timeout: whole_milliseconds(keepalive.timeout),
        };
        debug_assert!(options.is_within_linux_limits(), "{options:?}");
        options
    }

    /// Whether Linux accepts every value (what [`Self::for_keepalive`]
    /// guarantees).
    fn is_within_linux_limits(&self) -> bool {
        let seconds_ok = |d: Duration| {
            d.subsec_nanos() == 0 && (1..=MAX_TCP_KEEPALIVE_SECS).contains(&d.as_secs())
        };
        seconds_ok(self.keepalive.idle)
            && seconds_ok(self.keepalive.interval)
            && (1..=127).contains(&self.keepalive.retries)
            && self.user_timeout.subsec_nanos().is_multiple_of(1_000_000)
            && (1..=i32::MAX as u128).contains(&self.user_timeout.as_millis())
    }
}

impl Default for SocketOptions {
    /// The options for [`KeepaliveConfig::default`].
    fn default() -> Self {
        Self::for_keepalive(&KeepaliveConfig::default())
    }
}

/// `d` rounded up to whole seconds, within `1..=MAX_TCP_KEEPALIVE_SECS`.
fn whole_seconds(d: Duration) -> Duration {
    let seconds = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    Duration::from_secs(seconds.clamp(1, MAX_TCP_KEEPALIVE_SECS))
}

/// `d` rounded up to whole milliseconds, within `1..=i32::MAX` ms (what
/// `TCP_USER_TIMEOUT`, a C `int`, holds).
fn whole_milliseconds(d: Duration) -> Duration {
    let millis = d.as_millis() + u128::from(!d.subsec_nanos().is_multiple_of(1_000_000));
    let millis = millis.clamp(1, i32::MAX as u128);
    Duration::from_millis(millis as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keepalive(interval: Duration, timeout: Duration) -> KeepaliveConfig {
        KeepaliveConfig {
            interval,
            timeout,
            while_idle: true,
        }
    }

    #[test]
    fn defaults_follow_the_pool_keepalive_as_grpc_go_does() {
        let options = SocketOptions::default();
        assert!(options.nodelay);
        assert_eq!(options.keepalive.idle, Duration::from_secs(30));
        assert_eq!(options.keepalive.interval, Duration::from_secs(10));
        assert_eq!(options.keepalive.retries, DEFAULT_TCP_KEEPALIVE_RETRIES);
        assert_eq!(options.user_timeout, Duration::from_secs(10));
    }

    #[test]
    fn sub_second_keepalive_rounds_tcp_keepalive_up_and_keeps_user_timeout_in_ms() {
        let options = SocketOptions::for_keepalive(&keepalive(
            Duration::from_millis(200),
            Duration::from_millis(500),
        ));
        assert_eq!(options.keepalive.idle, Duration::from_secs(1));
        assert_eq!(options.keepalive.interval, Duration::from_secs(1));
        assert_eq!(options.user_timeout, Duration::from_millis(500));
    }

    #[test]
    fn fractions_round_up_never_down() {
        let options = SocketOptions::for_keepalive(&keepalive(
            Duration::from_millis(2_001),
            Duration::from_micros(1_500_001),
        ));
        assert_eq!(options.keepalive.idle, Duration::from_secs(3));
        assert_eq!(options.keepalive.interval, Duration::from_secs(2));
        assert_eq!(options.user_timeout, Duration::from_millis(1_501));
        let tiny = SocketOptions::for_keepalive(&keepalive(
            Duration::from_nanos(1),
            Duration::from_nanos(1),
        ));
        assert_eq!(tiny.user_timeout, Duration::from_millis(1));
        assert_eq!(tiny.keepalive.idle, Duration::from_secs(1));
    }

    #[test]
    fn the_largest_valid_config_fits_linux() {
        let max = Duration::from_secs(MAX_TCP_KEEPALIVE_SECS);
        let options = SocketOptions::for_keepalive(&keepalive(max, max));
        assert_eq!(options.keepalive.idle, max);
        assert_eq!(options.keepalive.interval, max);
        assert_eq!(options.user_timeout, max);
        assert!(options.is_within_linux_limits());
    }
}
