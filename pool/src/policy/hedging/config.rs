//! The hedging policy's knobs, their defaults, and their validation.

use std::time::Duration;

use crate::{
    code::GrpcCode,
    config_error::ConfigError,
    policy::retry::{MAX_ATTEMPTS, MAX_BUFFERED_BODY, RetryBudgetConfig},
};

/// An opt-in hedging policy for idempotent calls (`PoolConfig::hedging`),
/// gRFC A6's `hedgingPolicy`.
///
/// A call that carries the [`Idempotent`](crate::Idempotent) extension is
/// sent once; if no response headers have come `hedging_delay` later, it
/// is sent again to another endpoint, and so on up to `max_attempts`
/// copies in flight at once. The first response wins and the others are
/// cancelled (RST_STREAM CANCEL). A pool takes a hedging policy or a
/// retry policy, not both: gRPC gives a method one or the other.
#[derive(Debug, Clone, PartialEq)]
pub struct HedgingConfig {
    /// Copies of a call sent in all, the first one included. Default 2;
    /// 2..=5 (gRPC caps `maxAttempts` at 5).
    pub max_attempts: u32,
    /// Wait for response headers before sending the next copy. Default
    /// 100 ms; at most 1 hour. Zero sends every copy at once.
    pub hedging_delay: Duration,
    /// Codes that do not end the call: an attempt that ends with one of
    /// them sends the next copy at once (if one is left) instead of
    /// waiting out the delay, and the call fails with the last such code
    /// only when every copy has. Any other code, and any response that is
    /// not a trailers-only error, commits the call. Default empty (as
    /// gRPC's); never `OK`. `UNAVAILABLE` here also covers a copy whose
    /// connection failed after it was sent.
    pub non_fatal_status_codes: Vec<GrpcCode>,
    /// Largest request body kept to be sent more than once. Default
    /// 64 KiB; 1 byte..=16 MiB. A bigger body, or one not complete when
    /// the call is sent, is sent once, without hedges.
    pub max_buffered_body: usize,
    /// The budget every copy after the first draws on, as a policy retry
    /// does (see `docs/pool.md`, "Hedging").
    pub budget: RetryBudgetConfig,
}

impl Default for HedgingConfig {
    fn default() -> Self {
        Self {
            max_attempts: 2,
            hedging_delay: Duration::from_millis(100),
            non_fatal_status_codes: Vec::new(),
            max_buffered_body: 64 * 1024,
            budget: RetryBudgetConfig::default(),
        }
    }
}

/// Longest `hedging_delay`: beyond it a hedge is no hedge (and the delay
/// added to now could overflow `Instant`).
pub const MAX_HEDGING_DELAY: Duration = Duration::from_secs(3600);

impl HedgingConfig {
    /// Checks every field; the error names it as `hedging.<field>`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field: &str, problem: &str| {
            Err(ConfigError {
                field: format!("hedging.{field}"),
                problem: problem.to_owned(),
            })
        };
        if !(2..=MAX_ATTEMPTS).contains(&self.max_attempts) {
            return err("max_attempts", "must be between 2 and 5");
        }
        if self.hedging_delay > MAX_HEDGING_DELAY {
            return err("hedging_delay", "must be at most 1 hour");
        }
        if self.non_fatal_status_codes.contains(&GrpcCode::Ok) {
            return err("non_fatal_status_codes", "must not contain OK");
        }
        if !(1..=MAX_BUFFERED_BODY).contains(&self.max_buffered_body) {
            return err("max_buffered_body", "must be between 1 and 16 MiB");
        }
        self.budget.validate().map_err(|e| ConfigError {
            field: format!("hedging.{}", e.field),
            problem: e.problem,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        HedgingConfig::default().validate().unwrap();
    }

    #[test]
    fn errors_name_the_field() {
        let field = |change: fn(&mut HedgingConfig)| {
            let mut config = HedgingConfig::default();
            change(&mut config);
            config.validate().unwrap_err().field
        };
        assert_eq!(field(|c| c.max_attempts = 1), "hedging.max_attempts");
        assert_eq!(field(|c| c.max_attempts = 6), "hedging.max_attempts");
        assert_eq!(
            field(|c| c.hedging_delay = Duration::MAX),
            "hedging.hedging_delay"
        );
        assert_eq!(
            field(|c| c.non_fatal_status_codes.push(GrpcCode::Ok)),
            "hedging.non_fatal_status_codes"
        );
        assert_eq!(
            field(|c| c.max_buffered_body = 0),
            "hedging.max_buffered_body"
        );
        assert_eq!(field(|c| c.budget.ratio = f32::NAN), "hedging.budget.ratio");
    }

    #[test]
    fn a_zero_delay_is_valid() {
        let config = HedgingConfig {
            hedging_delay: Duration::ZERO,
            ..HedgingConfig::default()
        };
        config.validate().unwrap();
    }
}
