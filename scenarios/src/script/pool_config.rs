//! The `[pool]` overrides as a `PoolConfig`: the one place that knows how
//! a script's pool fields (`PoolOverrides`, `LimiterOverrides`,
//! `BreakerOverrides`) become the pool's config, starting from the pool's
//! own defaults. The overrides' schema is in `model`.

use std::time::Duration;

use squall_pool::{
    HedgingConfig, PoolConfig,
    breaker::{BreakerConfig, GrpcCode, SlidingWindow},
    limit::{LimiterConfig, RateLimit},
};
use squall_sim::StatusCode;

use crate::script::model::{
    BreakerOverrides, HedgingOverrides, LimiterOverrides, PoolOverrides, WindowOverride,
};

impl LimiterOverrides {
    pub(crate) fn apply(&self) -> LimiterConfig {
        let mut config = LimiterConfig::default();
        if let Some(n) = self.max_concurrency {
            config.max_concurrency = n;
        }
        if let Some(rate) = self.rate {
            config.rate = Some(RateLimit {
                per_second: rate.per_second,
                burst: rate.burst,
            });
        }
        if let Some(n) = self.max_queue_len {
            config.max_queue_len = n;
        }
        if let Some(wait) = self.max_queue_wait {
            config.max_queue_wait = wait;
        }
        config
    }
}

impl BreakerOverrides {
    pub(crate) fn apply(&self) -> BreakerConfig {
        let mut config = BreakerConfig::default();
        let codes = |codes: &[StatusCode]| codes.iter().map(|c| grpc_code(*c)).collect();
        if let Some(p) = self.failure_rate_threshold {
            config.failure_rate_threshold = p;
        }
        if let Some(p) = self.slow_call_rate_threshold {
            config.slow_call_rate_threshold = p;
        }
        if let Some(d) = self.slow_call_duration {
            config.slow_call_duration = d;
        }
        if let Some(n) = self.minimum_calls {
            config.minimum_calls = n;
        }
        if let Some(window) = self.sliding_window {
            config.sliding_window = match window {
                WindowOverride::Count(n) => SlidingWindow::Count(n),
                WindowOverride::Time(d) => SlidingWindow::Time(d),
            };
        }
        if let Some(d) = self.wait_in_open {
            config.wait_in_open = d;
        }
        if let Some(n) = self.permitted_in_half_open {
            config.permitted_in_half_open = n;
        }
        if let Some(failure) = &self.failure_codes {
            config.failure_predicate.failure_codes = codes(failure);
        }
        if let Some(ignored) = &self.ignored_codes {
            config.failure_predicate.ignored_codes = codes(ignored);
        }
        config
    }
}

impl HedgingOverrides {
    pub(crate) fn apply(&self) -> HedgingConfig {
        let mut config = HedgingConfig::default();
        if let Some(n) = self.max_attempts {
            config.max_attempts = n;
        }
        if let Some(delay) = self.hedging_delay {
            config.hedging_delay = delay;
        }
        if let Some(codes) = &self.non_fatal_status_codes {
            config.non_fatal_status_codes = codes.iter().map(|c| grpc_code(*c)).collect();
        }
        config
    }
}

/// The breaker's code for a script's status name (both are gRPC's numbers).
fn grpc_code(code: StatusCode) -> GrpcCode {
    let number = code.code() as i32;
    u8::try_from(number)
        .ok()
        .and_then(GrpcCode::from_number)
        .expect("every StatusCode is one of gRPC's 17 codes")
}

impl PoolOverrides {
    /// True if no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// [`PoolConfig::default()`] with these overrides; `rng_seed` defaults
    /// to `seed`. Not validated: see [`PoolConfig::validate`].
    pub fn apply(&self, seed: u64) -> PoolConfig {
        let mut config = PoolConfig::default();
        let set = |slot: &mut Duration, value: Option<Duration>| {
            if let Some(value) = value {
                *slot = value;
            }
        };
        if let Some(n) = self.connections_per_endpoint {
            config.connections_per_endpoint = n;
        }
        if let Some(n) = self.max_connections_per_endpoint {
            config.max_connections_per_endpoint = Some(n);
        }
        if let Some(n) = self.max_streams_per_connection {
            config.max_streams_per_connection = Some(n);
        }
        set(&mut config.default_rpc_timeout, self.default_rpc_timeout);
        set(&mut config.shutdown_grace, self.shutdown_grace);
        config.rng_seed = self.rng_seed.unwrap_or(seed);
        if let Some(age) = self.max_connection_age {
            config.max_connection_age = Some(age);
        }
        if let Some(jitter) = self.max_connection_age_jitter {
            config.max_connection_age_jitter = jitter;
        }
        set(
            &mut config.max_connection_age_grace,
            self.max_connection_age_grace,
        );
        if let Some(coalesce) = self.coalesce_request_writes {
            config.coalesce_request_writes = coalesce;
        }
        let keepalive = &mut config.keepalive;
        set(&mut keepalive.interval, self.keepalive.interval);
        set(&mut keepalive.timeout, self.keepalive.timeout);
        if let Some(b) = self.keepalive.while_idle {
            keepalive.while_idle = b;
        }
        let backoff = &mut config.backoff;
        set(&mut backoff.initial, self.backoff.initial);
        set(&mut backoff.max, self.backoff.max);
        set(
            &mut backoff.min_connect_timeout,
            self.backoff.min_connect_timeout,
        );
        if let Some(m) = self.backoff.multiplier {
            backoff.multiplier = m;
        }
        if let Some(j) = self.backoff.jitter {
            backoff.jitter = j;
        }
        config.limiter = self.limiter.map(|l| l.apply());
        config.breaker = self.breaker.as_ref().map(BreakerOverrides::apply);
        config.hedging = self.hedging.as_ref().map(HedgingOverrides::apply);
        config
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn pool(text: &str) -> PoolOverrides {
        toml::from_str(text).expect("valid [pool]")
    }

    /// Coalescing request writes is the pool's default (off) unless a
    /// script turns it on.
    #[test]
    fn coalescing_request_writes_is_off_unless_set() {
        assert!(!pool("").apply(1).coalesce_request_writes);
        assert!(
            pool("coalesce_request_writes = true")
                .apply(1)
                .coalesce_request_writes
        );
    }

    /// No table, no limiter or breaker: the pool's defaults stay off.
    #[test]
    fn limiter_and_breaker_are_off_unless_their_table_is_there() {
        let config = pool("connections_per_endpoint = 3").apply(1);
        assert_eq!((config.limiter, config.breaker), (None, None));
        let config = pool("[limiter]\n[breaker]\n").apply(1);
        assert_eq!(config.limiter, Some(LimiterConfig::default()));
        assert_eq!(config.breaker, Some(BreakerConfig::default()));
    }

    #[test]
    fn limiter_fields_override_the_defaults() {
        let config = pool(
            "[limiter]\nmax_concurrency = 8\nmax_queue_wait = \"250ms\"\nrate = { per_second = 100, burst = 5 }\n",
        )
        .apply(1);
        let limiter = config.limiter.expect("on");
        assert_eq!(limiter.max_concurrency, 8);
        assert_eq!(limiter.max_queue_wait, Duration::from_millis(250));
        assert_eq!(
            limiter.max_queue_len,
            LimiterConfig::default().max_queue_len
        );
        assert_eq!(
            limiter.rate,
            Some(RateLimit {
                per_second: 100,
                burst: 5
            })
        );
    }

    #[test]
    fn hedging_is_off_unless_its_table_is_there_and_fields_override_the_defaults() {
        assert_eq!(pool("connections_per_endpoint = 3").apply(1).hedging, None);
        let hedging = pool(
            "[hedging]\nmax_attempts = 3\nhedging_delay = \"50ms\"\nnon_fatal_status_codes = [\"UNAVAILABLE\"]\n",
        )
        .apply(1)
        .hedging
        .expect("on");
        assert_eq!(hedging.max_attempts, 3);
        assert_eq!(hedging.hedging_delay, Duration::from_millis(50));
        assert_eq!(hedging.non_fatal_status_codes, [GrpcCode::Unavailable]);
        assert_eq!(
            hedging.budget,
            HedgingConfig::default().budget,
            "the budget keeps its default"
        );
    }

    /// Code lists replace the default sets; windows are counts or times.
    #[test]
    fn breaker_fields_override_the_defaults() {
        let breaker = pool(
            "[breaker]\nwait_in_open = \"5s\"\nsliding_window = { time = \"10s\" }\nfailure_codes = [\"UNAVAILABLE\", \"RESOURCE_EXHAUSTED\"]\nignored_codes = []\n",
        )
        .apply(1)
        .breaker
        .expect("on");
        assert_eq!(breaker.wait_in_open, Duration::from_secs(5));
        assert_eq!(
            breaker.sliding_window,
            SlidingWindow::Time(Duration::from_secs(10))
        );
        assert_eq!(
            breaker.failure_predicate.failure_codes,
            BTreeSet::from([GrpcCode::Unavailable, GrpcCode::ResourceExhausted])
        );
        assert!(breaker.failure_predicate.ignored_codes.is_empty());
        assert_eq!(
            breaker.minimum_calls,
            BreakerConfig::default().minimum_calls
        );
        let counted = pool("[breaker]\nsliding_window = { count = 20 }\n").apply(1);
        assert_eq!(
            counted.breaker.expect("on").sliding_window,
            SlidingWindow::Count(20)
        );
    }

    /// Every status name maps to the breaker's code of the same number.
    #[test]
    fn status_names_map_to_the_same_grpc_code() {
        let unavailable: StatusCode = toml::Value::String("UNAVAILABLE".into())
            .try_into()
            .expect("a status");
        assert_eq!(grpc_code(unavailable), GrpcCode::Unavailable);
        assert_eq!(
            grpc_code(StatusCode::Unauthenticated),
            GrpcCode::Unauthenticated
        );
        assert_eq!(grpc_code(StatusCode::Cancelled), GrpcCode::Cancelled);
    }
}
