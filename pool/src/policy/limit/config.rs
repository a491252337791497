//! The limiter's settings, their defaults, and their validation.

use std::time::Duration;

use super::error::ConfigError;

/// How a [`Limiter`](super::Limiter) admits calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimiterConfig {
    /// Most RPCs in flight at once. Default 100: enough for a busy client
    /// over a handful of HTTP/2 connections, small enough that an overloaded
    /// server sees back-pressure instead of an unbounded pile-up.
    pub max_concurrency: usize,
    /// Token-bucket rate limit. Default `None` (no rate limit): a sensible
    /// rate depends entirely on the server, so it must be chosen, not guessed.
    pub rate: Option<RateLimit>,
    /// Most callers waiting for a permit; one more is rejected at once with
    /// `RESOURCE_EXHAUSTED`. Default 100 (one full round of `max_concurrency`);
    /// 0 disables queueing, so a call without capacity fails fast.
    pub max_queue_len: usize,
    /// Longest a caller waits in the queue, even when its own deadline is
    /// later. Default 1 s: a permit that takes longer than that to free up
    /// means the client is overloaded, and failing fast beats piling on.
    pub max_queue_wait: Duration,
}

/// A token bucket: `per_second` tokens are added per second, up to `burst`;
/// each admitted call takes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained admissions per second (> 0).
    pub per_second: u32,
    /// Most admissions in an instant after idling (> 0); the bucket starts full.
    pub burst: u32,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        LimiterConfig {
            max_concurrency: 100,
            rate: None,
            max_queue_len: 100,
            max_queue_wait: Duration::from_secs(1),
        }
    }
}

impl LimiterConfig {
    /// Checks every field.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first out-of-range field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_concurrency == 0 {
            return Err(ConfigError::new("max_concurrency", "must be > 0"));
        }
        if self.max_queue_wait.is_zero() {
            return Err(ConfigError::new("max_queue_wait", "must be > 0"));
        }
        if let Some(rate) = self.rate {
            if rate.per_second == 0 {
                return Err(ConfigError::new("rate.per_second", "must be > 0"));
            }
            if rate.burst == 0 {
                return Err(ConfigError::new("rate.burst", "must be > 0"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(LimiterConfig::default().validate(), Ok(()));
    }

    #[test]
    fn errors_name_the_field() {
        let zero = LimiterConfig {
            max_concurrency: 0,
            ..LimiterConfig::default()
        };
        let err = zero.validate().unwrap_err();
        assert_eq!(err.to_string(), "max_concurrency must be > 0");

        let no_burst = LimiterConfig {
            rate: Some(RateLimit {
                per_second: 10,
                burst: 0,
            }),
            ..LimiterConfig::default()
        };
        assert_eq!(no_burst.validate().unwrap_err().field(), "rate.burst");
    }
}
