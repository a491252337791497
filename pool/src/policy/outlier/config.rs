//! Outlier ejection's knobs, their defaults, and their validation.

use std::time::Duration;

use crate::{breaker::FailurePredicate, config_error::ConfigError};

/// Passive outlier ejection (`PoolConfig::outlier`): an endpoint whose
/// calls keep failing is taken out of rotation for a while, as Envoy does.
#[derive(Debug, Clone, PartialEq)]
pub struct OutlierConfig {
    /// Eject after this many failures in a row. Default 5 (Envoy's
    /// `consecutive_5xx`); at least 1.
    pub consecutive_failures: u32,
    /// Also eject on a failure rate over a time window. Default `None`
    /// (Envoy's failure-percentage detection is off by default too): a
    /// rate only means something once tuned to the service.
    pub failure_rate: Option<FailureRateConfig>,
    /// The first ejection lasts this long; the n-th one n times as long.
    /// Default 30 s (Envoy's).
    pub base_ejection_time: Duration,
    /// Cap on one ejection's length. Default 300 s (Envoy's); at least
    /// `base_ejection_time`.
    pub max_ejection_time: Duration,
    /// At most this share of endpoints is ejected at once, rounded down,
    /// but at least one (with two or more endpoints) and never every
    /// endpoint: a pool of one endpoint never ejects it. Default 10 %
    /// (Envoy's); 1..=100.
    pub max_ejection_percent: u8,
    /// Which call results are failures. Default: transport errors,
    /// `UNAVAILABLE`, `DEADLINE_EXCEEDED`, `INTERNAL` (the breaker's).
    pub failure_predicate: FailurePredicate,
}

/// Eject an endpoint whose failure rate over `window` reaches
/// `threshold_percent`, once it has had `minimum_calls` calls in it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FailureRateConfig {
    /// 1..=100. Default 50.
    pub threshold_percent: u8,
    /// Calls the window must hold before the rate counts. Default 20; > 0.
    pub minimum_calls: u32,
    /// How far back calls count. Default 10 s (Envoy's interval); at least
    /// 10 ms. Calls are kept in ten buckets of `window / 10`, so one is
    /// forgotten between 0.9 and 1 window after it ended.
    pub window: Duration,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            failure_rate: None,
            base_ejection_time: Duration::from_secs(30),
            max_ejection_time: Duration::from_secs(300),
            max_ejection_percent: 10,
            failure_predicate: FailurePredicate::default(),
        }
    }
}

impl Default for FailureRateConfig {
    fn default() -> Self {
        Self {
            threshold_percent: 50,
            minimum_calls: 20,
            window: Duration::from_secs(10),
        }
    }
}

impl OutlierConfig {
    /// Checks every field; the error names it as `outlier.<field>`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field: &str, problem: &str| {
            Err(ConfigError {
                field: format!("outlier.{field}"),
                problem: problem.to_owned(),
            })
        };
        if self.consecutive_failures == 0 {
            return err("consecutive_failures", "must be at least 1");
        }
        if self.base_ejection_time.is_zero() {
            return err("base_ejection_time", "must be greater than zero");
        }
        if self.max_ejection_time < self.base_ejection_time {
            return err(
                "max_ejection_time",
                "must be at least outlier.base_ejection_time",
            );
        }
        if !(1..=100).contains(&self.max_ejection_percent) {
            return err("max_ejection_percent", "must be between 1 and 100");
        }
        let codes = &self.failure_predicate;
        if codes.failure_codes.contains(&crate::code::GrpcCode::Ok) {
            return err("failure_predicate.failure_codes", "must not contain OK");
        }
        if !codes.failure_codes.is_disjoint(&codes.ignored_codes) {
            return err(
                "failure_predicate.ignored_codes",
                "must not share a code with failure_codes",
            );
        }
        if let Some(rate) = &self.failure_rate {
            if !(1..=100).contains(&rate.threshold_percent) {
                return err(
                    "failure_rate.threshold_percent",
                    "must be between 1 and 100",
                );
            }
            if rate.minimum_calls == 0 {
                return err("failure_rate.minimum_calls", "must be at least 1");
            }
            if rate.window < Duration::from_millis(10) {
                return err("failure_rate.window", "must be at least 10 ms");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_errors_name_the_field() {
        OutlierConfig::default().validate().unwrap();
        let field = |change: fn(&mut OutlierConfig)| {
            let mut config = OutlierConfig::default();
            change(&mut config);
            config.validate().unwrap_err().field
        };
        assert_eq!(
            field(|c| c.consecutive_failures = 0),
            "outlier.consecutive_failures"
        );
        assert_eq!(
            field(|c| c.base_ejection_time = Duration::ZERO),
            "outlier.base_ejection_time"
        );
        assert_eq!(
            field(|c| c.max_ejection_time = Duration::from_secs(1)),
            "outlier.max_ejection_time"
        );
        assert_eq!(
            field(|c| c.max_ejection_percent = 0),
            "outlier.max_ejection_percent"
        );
        assert_eq!(
            field(|c| {
                c.failure_rate = Some(FailureRateConfig {
                    minimum_calls: 0,
                    ..FailureRateConfig::default()
                })
            }),
            "outlier.failure_rate.minimum_calls"
        );
        assert_eq!(
            field(|c| {
                c.failure_rate = Some(FailureRateConfig {
                    threshold_percent: 101,
                    ..FailureRateConfig::default()
                })
            }),
            "outlier.failure_rate.threshold_percent"
        );
    }
}
