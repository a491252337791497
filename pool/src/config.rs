//! Pool configuration: every knob, its default, and the validation that runs
//! when the pool is built.
//!
//! Defaults are written out here rather than inherited from hyper, so that a
//! hyper upgrade cannot silently change how fast the pool notices a dead peer.

use std::time::Duration;

// Re-exported from its own module (the concerns' configs import it there),
// for the path it has always had.
pub use crate::config_error::ConfigError;
use crate::{
    health::HealthCheckConfig, limit::LimiterConfig, policy::breaker::BreakerConfig,
    policy::hedging::HedgingConfig, policy::outlier::OutlierConfig, retry::RetryConfig,
};

/// How the pool behaves. Build one with `PoolConfig::default()` and override
/// fields; [`PoolBuilder::build`](crate::PoolBuilder::build) validates it.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolConfig {
    /// HTTP/2 connections kept open to each endpoint. Default 2: one
    /// connection caps throughput at one TCP stream's worth and makes every
    /// RPC fail together when it dies. Range 1..=64.
    pub connections_per_endpoint: usize,
    /// HTTP/2 PING keepalive, the zombie-connection detector.
    pub keepalive: KeepaliveConfig,
    /// Reconnect schedule and connect timeout.
    pub backoff: BackoffConfig,
    /// Deadline for RPCs that carry no `grpc-timeout` header. Default 30 s:
    /// every wait in the pool is bounded. It covers the wait for response
    /// headers; a streaming response body is not cut off by it.
    pub default_rpc_timeout: Duration,
    /// How long `shutdown` lets in-flight RPCs finish before closing
    /// connections under them. Default 5 s.
    pub shutdown_grace: Duration,
    /// Seed of the pool's RNG (connection picking, backoff jitter). The same
    /// seed and the same inputs give the same choices. Default 0.
    pub rng_seed: u64,
    /// A lease held longer than this is reported once, as a
    /// `lease_held` event naming where it was taken. Default 10 min: long
    /// streams are legitimate, but a lease that old is usually forgotten.
    pub lease_leak_threshold: Duration,
    /// Client-side admission control for the whole pool (concurrency, rate,
    /// bounded wait queue). Default `None`: every RPC is admitted; the right
    /// limits depend on the servers, so they must be chosen.
    pub limiter: Option<LimiterConfig>,
    /// A circuit breaker per endpoint. Default `None`: thresholds only mean
    /// something once tuned to a service's normal failure rate.
    pub breaker: Option<BreakerConfig>,
    /// Retries of calls marked [`Idempotent`](crate::Idempotent). Default
    /// `None`: resending is only safe for calls the caller vouches for, and
    /// the budget should fit the service.
    pub retry: Option<RetryConfig>,
    /// Hedging of calls marked [`Idempotent`](crate::Idempotent): a copy
    /// sent to another endpoint when the first is slow to answer. Default
    /// `None`, as `retry`; never together with `retry` (gRFC A6 gives a
    /// method one or the other).
    pub hedging: Option<HedgingConfig>,
    /// Passive outlier ejection. Default `None`: what counts as an outlier
    /// depends on the service's normal failure rate.
    pub outlier: Option<OutlierConfig>,
    /// Active `grpc.health.v1` checks of every endpoint. Default `None`:
    /// they add traffic, and not every server serves the health service.
    pub health_check: Option<HealthCheckConfig>,
    /// Replace each connection after it has been ready this long (jittered
    /// by `max_connection_age_jitter`), so load spreads onto servers added
    /// behind a DNS name or load balancer. The replacement is dialled first
    /// and the old connection drains only once it is ready. Default `None`:
    /// connections live until they fail.
    pub max_connection_age: Option<Duration>,
    /// Each connection's age limit is `max_connection_age` scaled by a
    /// uniform draw in `1 ± this`, from the pool's RNG, so connections
    /// dialled together do not all rotate at once. Default 0.1 (grpc-go's
    /// server-side ±10%); in [0, 1).
    pub max_connection_age_jitter: f64,
    /// How long a connection drained for its age lets in-flight RPCs finish
    /// before it is closed under them. Default 30 s, the default RPC
    /// deadline, so an RPC sent just before the drain can still finish.
    pub max_connection_age_grace: Duration,
    /// After no RPC has been in flight for this long, close every
    /// connection and go IDLE (gRPC's channel idleness); the next RPC
    /// reconnects and waits for a connection within its deadline. Default
    /// `None`: connections stay open (kept alive by keepalive PINGs).
    pub idle_timeout: Option<Duration>,
    /// Most RPCs in flight on one connection. Picking never exceeds it: an
    /// RPC that finds every ready connection full waits (within its
    /// deadline) for room, or for a new connection when the endpoint may
    /// grow. The server's SETTINGS_MAX_CONCURRENT_STREAMS is honoured the
    /// same way whether or not this is set (the lower of the two wins).
    /// Default `None`: only the server's limit.
    pub max_streams_per_connection: Option<usize>,
    /// Replace a connection after it has carried this many RPCs, the way
    /// it is replaced at its age limit (the replacement first). Each RPC
    /// takes an HTTP/2 stream id and a connection has 2^30 of them; the
    /// default, 805,306,368, is 75% of that, as grpc-go recycles. In
    /// 1..=2^30.
    pub recycle_after_streams: u64,
    /// Most connections per endpoint when scaling up; `connections_per_endpoint`
    /// is then the minimum, always kept open. When every ready connection
    /// is at `max_streams_per_connection`, one more is dialled. Default
    /// `None`: a fixed `connections_per_endpoint`.
    pub max_connections_per_endpoint: Option<usize>,
    /// A connection dialled to scale up closes (`cause=scale_down`) after
    /// nothing has been in flight on it for this long. Default 60 s: long
    /// enough that a bursty load does not dial and close in a loop.
    pub scale_down_after: Duration,
    /// Write a request's HEADERS and its body's last chunk together (one
    /// write, so one TCP segment for a unary RPC, as grpc-go sends it).
    /// Default false: the HEADERS and then the DATA, in two writes, as
    /// hyper and a tonic Channel send them. (Either way each connection's
    /// socket and streams are polled in its slot's task; docs/upstream.md.)
    ///
    /// On: at one RPC in flight on loopback ~8 % more QPS than a tonic
    /// Channel, against parity off, and fewer system calls and segments
    /// per RPC (docs/benchmarks.md). The cost is in dead-peer detection
    /// at low load: with one segment outstanding,
    /// Linux's tail loss probe allows for a delayed ACK (`rto_min`, 200 ms)
    /// where with two it waits 2 jiffies, so `TCP_USER_TIMEOUT` closes a
    /// connection whose only RPC went into a black hole ~190 ms later, and
    /// the RPCs sent meanwhile fail (black-hole script: 7 failed instead
    /// of 5; the kernel agrees).
    pub coalesce_request_writes: bool,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            connections_per_endpoint: 2,
            keepalive: KeepaliveConfig::default(),
            backoff: BackoffConfig::default(),
            default_rpc_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(5),
            rng_seed: 0,
            lease_leak_threshold: Duration::from_secs(600),
            limiter: None,
            breaker: None,
            retry: None,
            hedging: None,
            outlier: None,
            health_check: None,
            max_connection_age: None,
            max_connection_age_jitter: 0.1,
            max_connection_age_grace: Duration::from_secs(30),
            idle_timeout: None,
            max_streams_per_connection: None,
            recycle_after_streams: RECYCLE_AFTER_STREAMS,
            max_connections_per_endpoint: None,
            scale_down_after: Duration::from_secs(60),
            coalesce_request_writes: false,
        }
    }
}

/// Client stream ids are the odd numbers below 2^31.
pub const STREAM_IDS_PER_CONNECTION: u64 = 1 << 30;

/// `recycle_after_streams`' default: 75% of a connection's stream ids.
pub const RECYCLE_AFTER_STREAMS: u64 = STREAM_IDS_PER_CONNECTION / 4 * 3;

/// HTTP/2 keepalive. A dead connection is detected at most
/// `interval + timeout` after the last frame it received.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeepaliveConfig {
    /// Send a PING after this long without receiving a frame. Default 30 s,
    /// well under the 350 s idle timeout of common cloud NATs and load
    /// balancers, so it also keeps idle flows alive through them.
    pub interval: Duration,
    /// Close the connection if the PING is not acknowledged within this.
    /// Default 10 s.
    pub timeout: Duration,
    /// Ping even when no RPC is in flight. Default true: an idle connection
    /// that died silently would otherwise fail the first RPC sent on it.
    pub while_idle: bool,
}

impl Default for KeepaliveConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
            while_idle: true,
        }
    }
}

/// gRPC's connection backoff (`connection-backoff.md`); defaults are gRPC's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffConfig {
    /// Wait after the first failed attempt. Default 1 s.
    pub initial: Duration,
    /// Growth factor between attempts. Default 1.6; at least 1.0.
    pub multiplier: f64,
    /// Each wait is jittered uniformly by ±this fraction. Default 0.2; in [0, 1).
    pub jitter: f64,
    /// Longest wait. Default 120 s.
    pub max: Duration,
    /// Shortest time a connection attempt is given. Default 20 s.
    pub min_connect_timeout: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            multiplier: 1.6,
            jitter: 0.2,
            max: Duration::from_secs(120),
            min_connect_timeout: Duration::from_secs(20),
        }
    }
}

/// Most connections per endpoint; bounds the pool's tasks and sockets.
pub const MAX_CONNECTIONS_PER_ENDPOINT: usize = 64;

impl PoolConfig {
    /// Checks every field; the first bad one is reported.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field: &str, problem: &str| {
            Err(ConfigError {
                field: field.to_owned(),
                problem: problem.to_owned(),
            })
        };
        if !(1..=MAX_CONNECTIONS_PER_ENDPOINT).contains(&self.connections_per_endpoint) {
            return err("connections_per_endpoint", "must be between 1 and 64");
        }
        if self.keepalive.interval.is_zero() {
            return err("keepalive.interval", "must be greater than zero");
        }
        if self.keepalive.timeout.is_zero() {
            return err("keepalive.timeout", "must be greater than zero");
        }
        // Both become TCP keepalive times on real sockets (see `socket`),
        // which Linux caps.
        let tcp_limit = Duration::from_secs(crate::socket::MAX_TCP_KEEPALIVE_SECS);
        if self.keepalive.interval > tcp_limit {
            return err(
                "keepalive.interval",
                "must be at most 32767 s (Linux's largest TCP_KEEPIDLE)",
            );
        }
        if self.keepalive.timeout > tcp_limit {
            return err(
                "keepalive.timeout",
                "must be at most 32767 s (Linux's largest TCP_KEEPINTVL)",
            );
        }
        self.backoff.validate()?;
        if self.default_rpc_timeout.is_zero() {
            return err("default_rpc_timeout", "must be greater than zero");
        }
        if self.lease_leak_threshold.is_zero() {
            return err("lease_leak_threshold", "must be greater than zero");
        }
        self.validate_lifecycle()?;
        if let Some(limiter) = &self.limiter {
            limiter.validate().map_err(|e| ConfigError {
                field: format!("limiter.{}", e.field()),
                problem: e.problem().to_owned(),
            })?;
        }
        if let Some(breaker) = &self.breaker {
            breaker.validate().map_err(|e| ConfigError {
                field: format!("breaker.{}", e.field()),
                problem: e.problem().to_owned(),
            })?;
        }
        if let Some(retry) = &self.retry {
            retry.validate()?;
        }
        if let Some(hedging) = &self.hedging {
            hedging.validate()?;
            if self.retry.is_some() {
                return err(
                    "hedging",
                    "cannot be set together with retry: a call is retried or hedged, not both",
                );
            }
        }
        if let Some(outlier) = &self.outlier {
            outlier.validate()?;
        }
        if let Some(health) = &self.health_check {
            health.validate()?;
        }
        Ok(())
    }
}

impl PoolConfig {
    /// The connection-lifecycle knobs: age, idleness.
    fn validate_lifecycle(&self) -> Result<(), ConfigError> {
        let err = |field: &str, problem: &str| {
            Err(ConfigError {
                field: field.to_owned(),
                problem: problem.to_owned(),
            })
        };
        if self.max_connection_age.is_some_and(|age| age.is_zero()) {
            return err("max_connection_age", "must be greater than zero");
        }
        if !(0.0..1.0).contains(&self.max_connection_age_jitter) {
            return err("max_connection_age_jitter", "must be in [0, 1)");
        }
        if self.idle_timeout.is_some_and(|idle| idle.is_zero()) {
            return err("idle_timeout", "must be greater than zero");
        }
        self.validate_scaling()
    }

    /// The stream cap and scaling knobs.
    fn validate_scaling(&self) -> Result<(), ConfigError> {
        let err = |field: &str, problem: &str| {
            Err(ConfigError {
                field: field.to_owned(),
                problem: problem.to_owned(),
            })
        };
        if !(1..=STREAM_IDS_PER_CONNECTION).contains(&self.recycle_after_streams) {
            return err("recycle_after_streams", "must be in 1..=2^30 (1073741824)");
        }
        if self.max_streams_per_connection == Some(0) {
            return err("max_streams_per_connection", "must be at least 1");
        }
        if let Some(max) = self.max_connections_per_endpoint {
            if !(self.connections_per_endpoint..=MAX_CONNECTIONS_PER_ENDPOINT).contains(&max) {
                return err(
                    "max_connections_per_endpoint",
                    "must be between connections_per_endpoint and 64",
                );
            }
            if max > self.connections_per_endpoint && self.max_streams_per_connection.is_none() {
                return err(
                    "max_connections_per_endpoint",
                    "needs max_streams_per_connection: without a cap no connection is ever full",
                );
            }
        }
        if self.scale_down_after.is_zero() {
            return err("scale_down_after", "must be greater than zero");
        }
        Ok(())
    }
}

impl BackoffConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let err = |field: &str, problem: &str| {
            Err(ConfigError {
                field: field.to_owned(),
                problem: problem.to_owned(),
            })
        };
        if self.initial.is_zero() {
            return err("backoff.initial", "must be greater than zero");
        }
        if !(self.multiplier >= 1.0 && self.multiplier.is_finite()) {
            return err("backoff.multiplier", "must be a finite number >= 1.0");
        }
        if !(0.0..1.0).contains(&self.jitter) {
            return err("backoff.jitter", "must be in [0, 1)");
        }
        if self.max < self.initial {
            return err("backoff.max", "must be at least backoff.initial");
        }
        if self.min_connect_timeout.is_zero() {
            return err("backoff.min_connect_timeout", "must be greater than zero");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        PoolConfig::default().validate().unwrap();
    }

    #[test]
    fn keepalive_beyond_linux_tcp_limits_is_rejected_and_sub_second_accepted() {
        let mut c = PoolConfig::default();
        c.keepalive.interval = Duration::from_secs(32_768);
        let e = c.validate().unwrap_err();
        assert_eq!(e.field, "keepalive.interval");
        assert!(e.problem.contains("32767 s"), "{e}");

        let mut c = PoolConfig::default();
        c.keepalive.timeout = Duration::MAX;
        assert_eq!(c.validate().unwrap_err().field, "keepalive.timeout");

        let mut c = PoolConfig::default();
        c.keepalive.interval = Duration::from_secs(32_767);
        c.keepalive.timeout = Duration::from_millis(500);
        c.validate().unwrap();
    }

    #[test]
    fn errors_name_the_field() {
        let mut c = PoolConfig::default();
        c.keepalive.timeout = Duration::ZERO;
        assert_eq!(c.validate().unwrap_err().field, "keepalive.timeout");

        let mut c = PoolConfig::default();
        c.backoff.jitter = 1.5;
        let e = c.validate().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid pool config: `backoff.jitter` must be in [0, 1)"
        );

        let c = PoolConfig {
            connections_per_endpoint: 0,
            ..PoolConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "connections_per_endpoint");

        let mut c = PoolConfig::default();
        c.backoff.multiplier = f64::NAN;
        assert_eq!(c.validate().unwrap_err().field, "backoff.multiplier");

        let c = PoolConfig {
            max_connection_age: Some(Duration::ZERO),
            ..PoolConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "max_connection_age");

        let c = PoolConfig {
            max_connection_age_jitter: -0.1,
            ..PoolConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "max_connection_age_jitter");

        let c = PoolConfig {
            idle_timeout: Some(Duration::ZERO),
            ..PoolConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "idle_timeout");

        let c = PoolConfig {
            max_connections_per_endpoint: Some(4),
            ..PoolConfig::default()
        };
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "invalid pool config: `max_connections_per_endpoint` needs \
             max_streams_per_connection: without a cap no connection is ever full"
        );

        let c = PoolConfig {
            max_connections_per_endpoint: Some(1),
            ..PoolConfig::default()
        };
        assert_eq!(
            c.validate().unwrap_err().field,
            "max_connections_per_endpoint"
        );

        let c = PoolConfig {
            max_streams_per_connection: Some(0),
            ..PoolConfig::default()
        };
        assert_eq!(
            c.validate().unwrap_err().field,
            "max_streams_per_connection"
        );

        let c = PoolConfig {
            limiter: Some(LimiterConfig {
                max_concurrency: 0,
                ..LimiterConfig::default()
            }),
            ..PoolConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "limiter.max_concurrency");

        let c = PoolConfig {
            breaker: Some(BreakerConfig {
                permitted_in_half_open: 0,
                ..BreakerConfig::default()
            }),
            ..PoolConfig::default()
        };
        assert_eq!(
            c.validate().unwrap_err().field,
            "breaker.permitted_in_half_open"
        );

        let c = PoolConfig {
            retry: Some(RetryConfig {
                max_attempts: 9,
                ..RetryConfig::default()
            }),
            ..PoolConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "retry.max_attempts");

        let c = PoolConfig {
            hedging: Some(HedgingConfig {
                max_attempts: 9,
                ..HedgingConfig::default()
            }),
            ..PoolConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "hedging.max_attempts");
    }

    /// gRFC A6 gives a method a retry policy or a hedging policy: a pool
    /// with both is refused at build time, naming `hedging`.
    #[test]
    fn retry_and_hedging_are_exclusive() {
        let both = PoolConfig {
            retry: Some(RetryConfig::default()),
            hedging: Some(HedgingConfig::default()),
            ..PoolConfig::default()
        };
        let error = both.validate().unwrap_err();
        assert_eq!(error.field, "hedging");
        assert!(error.problem.contains("retry"), "{error}");
        let hedged = PoolConfig {
            hedging: Some(HedgingConfig::default()),
            ..PoolConfig::default()
        };
        hedged.validate().unwrap();
    }
}
