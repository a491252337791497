//! The breaker's settings, their defaults, and their validation.
//!
//! Defaults follow resilience4j, whose semantics the breaker copies, so its
//! documentation and operational experience carry over.

use std::time::Duration;

use super::error::ConfigError;
use super::outcome::FailurePredicate;

/// The shortest time window: it is cut into buckets, which must stay
/// meaningfully wide.
const MIN_TIME_WINDOW: Duration = Duration::from_millis(1);

/// When a [`CircuitBreaker`](super::CircuitBreaker) opens and closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Percentage (1..=100) of failed calls in the window at or above which
    /// the breaker opens. Default 50: an endpoint failing half its calls is
    /// doing more harm than good.
    pub failure_rate_threshold: u8,
    /// Percentage (1..=100) of slow calls in the window at or above which the
    /// breaker opens. Default 100: slowness alone opens the breaker only when
    /// every call is slow, since slow is still better than nothing.
    pub slow_call_rate_threshold: u8,
    /// A call taking at least this long is slow, whatever its outcome.
    /// Default 60 s, i.e. effectively off until tuned to the service.
    pub slow_call_duration: Duration,
    /// Calls that must be in the window before any rate is judged. Default
    /// 100, so that one early failure cannot open the breaker. For a count
    /// window it must not exceed the window size.
    pub minimum_calls: u32,
    /// Which recent calls the rates are computed over. Default `Count(100)`.
    pub sliding_window: SlidingWindow,
    /// How long the breaker stays open before letting probes through.
    /// Default 60 s: long enough for a restarting server to come back.
    pub wait_in_open: Duration,
    /// Probe calls admitted while half-open; their rates decide whether to
    /// close or re-open. Default 10: enough for a rate to mean something.
    pub permitted_in_half_open: u32,
    /// Which call results are failures. Default: see [`FailurePredicate`].
    pub failure_predicate: FailurePredicate,
}

/// The calls the rates are computed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlidingWindow {
    /// The last `n` recorded calls (`n` > 0).
    Count(u32),
    /// The calls recorded in the last `d` (at least 1 ms), at a resolution
    /// of `d / 10`: a call is forgotten between `0.9·d` and `d` after it
    /// finished, which keeps the window bounded at 10 buckets however many
    /// calls there are.
    Time(Duration),
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_rate_threshold: 50,
            slow_call_rate_threshold: 100,
            slow_call_duration: Duration::from_secs(60),
            minimum_calls: 100,
            sliding_window: SlidingWindow::Count(100),
            wait_in_open: Duration::from_secs(60),
            permitted_in_half_open: 10,
            failure_predicate: FailurePredicate::default(),
        }
    }
}

impl BreakerConfig {
    /// Checks every field.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first out-of-range field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_percent("failure_rate_threshold", self.failure_rate_threshold)?;
        check_percent("slow_call_rate_threshold", self.slow_call_rate_threshold)?;
        check_positive("slow_call_duration", self.slow_call_duration.is_zero())?;
        check_positive("minimum_calls", self.minimum_calls == 0)?;
        check_positive("wait_in_open", self.wait_in_open.is_zero())?;
        check_positive("permitted_in_half_open", self.permitted_in_half_open == 0)?;
        self.validate_window()?;
        self.validate_predicate()
    }

    fn validate_window(&self) -> Result<(), ConfigError> {
        match self.sliding_window {
            SlidingWindow::Count(0) => {
                Err(ConfigError::new("sliding_window", "must count > 0 calls"))
            }
            SlidingWindow::Count(n) if self.minimum_calls > n => Err(ConfigError::new(
                "minimum_calls",
                "must be <= the sliding window's call count, or the breaker could never open",
            )),
            SlidingWindow::Time(d) if d < MIN_TIME_WINDOW => Err(ConfigError::new(
                "sliding_window",
                "must span at least 1 ms",
            )),
            SlidingWindow::Count(_) | SlidingWindow::Time(_) => Ok(()),
        }
    }

    fn validate_predicate(&self) -> Result<(), ConfigError> {
        let p = &self.failure_predicate;
        if p.failure_codes.contains(&crate::code::GrpcCode::Ok) {
            return Err(ConfigError::new(
                "failure_predicate.failure_codes",
                "must not contain OK",
            ));
        }
        if !p.failure_codes.is_disjoint(&p.ignored_codes) {
            return Err(ConfigError::new(
                "failure_predicate.ignored_codes",
                "must not share a code with failure_codes",
            ));
        }
        Ok(())
    }
}

fn check_percent(field: &'static str, value: u8) -> Result<(), ConfigError> {
    if (1..=100).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::new(field, "must be a percentage in 1..=100"))
    }
}

fn check_positive(field: &'static str, is_zero: bool) -> Result<(), ConfigError> {
    if is_zero {
        Err(ConfigError::new(field, "must be > 0"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(BreakerConfig::default().validate(), Ok(()));
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                BreakerConfig {
                    failure_rate_threshold: 0,
                    ..BreakerConfig::default()
                },
                "failure_rate_threshold",
            ),
            (
                BreakerConfig {
                    sliding_window: SlidingWindow::Count(10),
                    ..BreakerConfig::default()
                },
                "minimum_calls",
            ),
            (
                BreakerConfig {
                    permitted_in_half_open: 0,
                    ..BreakerConfig::default()
                },
                "permitted_in_half_open",
            ),
        ];
        for (config, field) in cases {
            assert_eq!(config.validate().unwrap_err().field(), field);
        }
    }
}
