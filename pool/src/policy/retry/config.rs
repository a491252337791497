//! The retry policy's knobs, their defaults, and their validation.

use std::time::Duration;

use crate::{code::GrpcCode, config_error::ConfigError};

/// An opt-in retry policy for idempotent calls (`PoolConfig::retry`).
///
/// Only calls that carry the [`Idempotent`](super::Idempotent) extension
/// are retried, only for the codes in `retryable_codes`, at most
/// `max_attempts` times in all, within the call's deadline, and only while
/// the retry budget allows.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryConfig {
    /// Attempts in all, the first one included. Default 3; 2..=5 (gRPC caps
    /// `maxAttempts` at 5: more retries add load to a struggling server
    /// faster than they add successes).
    pub max_attempts: u32,
    /// Wait before the first retry. Default 100 ms.
    pub initial_backoff: Duration,
    /// Growth of the wait between retries. Default 2.0; at least 1.0.
    pub backoff_multiplier: f64,
    /// Longest wait. Default 1 s; at least `initial_backoff`.
    pub max_backoff: Duration,
    /// Each wait is jittered uniformly by ±this fraction, from the pool's
    /// seeded RNG. Default 0.2; in [0, 1]. 0 gives exact waits.
    pub jitter: f64,
    /// Status codes that are retried. Default `UNAVAILABLE` only, as gRPC's
    /// retry guide advises: it is the code that says "the server did not
    /// process this"; others (e.g. `DEADLINE_EXCEEDED`, `INTERNAL`) may
    /// mean it did. Not empty; never `OK`.
    pub retryable_codes: Vec<GrpcCode>,
    /// Largest request body that is kept to be resent. Default 64 KiB;
    /// 1 byte..=16 MiB. A bigger body, or one that is not complete when the
    /// call is sent (a client stream), is sent once, without retries.
    pub max_buffered_body: usize,
    /// The budget that bounds retries across all calls.
    pub budget: RetryBudgetConfig,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            backoff_multiplier: 2.0,
            max_backoff: Duration::from_secs(1),
            jitter: 0.2,
            retryable_codes: vec![GrpcCode::Unavailable],
            max_buffered_body: 64 * 1024,
            budget: RetryBudgetConfig::default(),
        }
    }
}

/// A retry budget, as in Finagle and tower's `TpsBudget` (which implements
/// it): retries may be at most `ratio` of the retried calls sent in the
/// last `ttl`, plus `min_per_second` retries a second. It keeps a pool
/// from multiplying its load when a whole service fails.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryBudgetConfig {
    /// How long a call (or a retry) counts. Default 10 s; whole seconds
    /// between 1 and 60 (tower's bounds; a fraction of a second is dropped).
    pub ttl: Duration,
    /// Retries always allowed per second of `ttl`, so a client with little
    /// traffic can still retry. Default 10.
    pub min_per_second: u32,
    /// Retries allowed per call sent. Default 0.2; in [0, 1000]. Below 1,
    /// one retry per `1 / ratio` calls, with `1 / ratio` truncated to a
    /// whole number (0.3 allows one in 3).
    pub ratio: f32,
}

impl Default for RetryBudgetConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(10),
            min_per_second: 10,
            ratio: 0.2,
        }
    }
}

/// Most attempts gRPC allows one call.
pub const MAX_ATTEMPTS: u32 = 5;
/// Largest `max_buffered_body`.
pub const MAX_BUFFERED_BODY: usize = 16 * 1024 * 1024;

impl RetryConfig {
    /// Checks every field; the error names it as `retry.<field>`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field: &str, problem: &str| {
            Err(ConfigError {
                field: format!("retry.{field}"),
                problem: problem.to_owned(),
            })
        };
        if !(2..=MAX_ATTEMPTS).contains(&self.max_attempts) {
            return err("max_attempts", "must be between 2 and 5");
        }
        if self.initial_backoff.is_zero() {
            return err("initial_backoff", "must be greater than zero");
        }
        if !(self.backoff_multiplier >= 1.0 && self.backoff_multiplier.is_finite()) {
            return err("backoff_multiplier", "must be a finite number >= 1.0");
        }
        if self.max_backoff < self.initial_backoff {
            return err("max_backoff", "must be at least retry.initial_backoff");
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return err("jitter", "must be in [0, 1]");
        }
        if self.retryable_codes.is_empty() {
            return err("retryable_codes", "must not be empty");
        }
        if self.retryable_codes.contains(&GrpcCode::Ok) {
            return err("retryable_codes", "must not contain OK");
        }
        if !(1..=MAX_BUFFERED_BODY).contains(&self.max_buffered_body) {
            return err("max_buffered_body", "must be between 1 and 16 MiB");
        }
        self.budget.validate().map_err(|e| ConfigError {
            field: format!("retry.{}", e.field),
            problem: e.problem,
        })
    }
}

impl RetryBudgetConfig {
    /// Checks every field; the error names it as `budget.<field>` (the
    /// policy that holds the budget adds its own prefix).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field: &str, problem: &str| {
            Err(ConfigError {
                field: format!("budget.{field}"),
                problem: problem.to_owned(),
            })
        };
        if !(Duration::from_secs(1)..=Duration::from_secs(60)).contains(&self.ttl) {
            return err("ttl", "must be between 1 s and 60 s");
        }
        if self.min_per_second >= i32::MAX as u32 {
            return err("min_per_second", "must be below 2^31 - 1");
        }
        if !(0.0..=1000.0).contains(&self.ratio) {
            return err("ratio", "must be in [0, 1000]");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        RetryConfig::default().validate().unwrap();
    }

    #[test]
    fn errors_name_the_field() {
        let field = |change: fn(&mut RetryConfig)| {
            let mut config = RetryConfig::default();
            change(&mut config);
            config.validate().unwrap_err().field
        };
        assert_eq!(field(|c| c.max_attempts = 1), "retry.max_attempts");
        assert_eq!(field(|c| c.max_attempts = 6), "retry.max_attempts");
        assert_eq!(
            field(|c| c.initial_backoff = Duration::ZERO),
            "retry.initial_backoff"
        );
        assert_eq!(
            field(|c| c.backoff_multiplier = f64::NAN),
            "retry.backoff_multiplier"
        );
        assert_eq!(
            field(|c| c.max_backoff = Duration::from_millis(1)),
            "retry.max_backoff"
        );
        assert_eq!(field(|c| c.jitter = 1.5), "retry.jitter");
        assert_eq!(
            field(|c| c.retryable_codes.clear()),
            "retry.retryable_codes"
        );
        assert_eq!(
            field(|c| c.retryable_codes.push(GrpcCode::Ok)),
            "retry.retryable_codes"
        );
        assert_eq!(
            field(|c| c.max_buffered_body = 0),
            "retry.max_buffered_body"
        );
        assert_eq!(
            field(|c| c.budget.ttl = Duration::from_millis(500)),
            "retry.budget.ttl"
        );
        assert_eq!(field(|c| c.budget.ratio = -1.0), "retry.budget.ratio");
        assert_eq!(field(|c| c.budget.ratio = f32::NAN), "retry.budget.ratio");
        assert_eq!(
            field(|c| c.budget.min_per_second = u32::MAX),
            "retry.budget.min_per_second"
        );
    }
}
