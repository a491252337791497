//! Active health checking's knobs, their defaults, and their validation.

use std::time::Duration;

use crate::config_error::ConfigError;

/// Active health checks with `grpc.health.v1.Health/Check`
/// (`PoolConfig::health_check`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheckConfig {
    /// The service name asked about. Default `""`: the whole server, as
    /// the gRPC health protocol defines it.
    pub service: String,
    /// Time between checks of one endpoint. Default 5 s; > 0.
    pub interval: Duration,
    /// A check not answered within this fails. Default 1 s; > 0 and at
    /// most `interval`, so checks of one endpoint never overlap.
    pub timeout: Duration,
    /// Failed checks in a row that make a healthy endpoint unhealthy.
    /// Default 3; ≥ 1. One lost check must not take an endpoint out.
    pub unhealthy_threshold: u32,
    /// Passed checks in a row that make an unhealthy endpoint healthy
    /// again. Default 2; ≥ 1. A flapping server is not trusted at once.
    pub healthy_threshold: u32,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        Self {
            service: String::new(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
            unhealthy_threshold: 3,
            healthy_threshold: 2,
        }
    }
}

impl HealthCheckConfig {
    /// Checks every field; the error names it as `health_check.<field>`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |field: &str, problem: &str| {
            Err(ConfigError {
                field: format!("health_check.{field}"),
                problem: problem.to_owned(),
            })
        };
        if self.interval.is_zero() {
            return err("interval", "must be greater than zero");
        }
        if self.timeout.is_zero() {
            return err("timeout", "must be greater than zero");
        }
        if self.timeout > self.interval {
            return err("timeout", "must be at most health_check.interval");
        }
        if self.unhealthy_threshold == 0 {
            return err("unhealthy_threshold", "must be at least 1");
        }
        if self.healthy_threshold == 0 {
            return err("healthy_threshold", "must be at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_errors_name_the_field() {
        HealthCheckConfig::default().validate().unwrap();
        let field = |change: fn(&mut HealthCheckConfig)| {
            let mut config = HealthCheckConfig::default();
            change(&mut config);
            config.validate().unwrap_err().field
        };
        assert_eq!(
            field(|c| c.interval = Duration::ZERO),
            "health_check.interval"
        );
        assert_eq!(
            field(|c| c.timeout = Duration::ZERO),
            "health_check.timeout"
        );
        assert_eq!(
            field(|c| c.timeout = Duration::from_secs(6)),
            "health_check.timeout"
        );
        assert_eq!(
            field(|c| c.unhealthy_threshold = 0),
            "health_check.unhealthy_threshold"
        );
        assert_eq!(
            field(|c| c.healthy_threshold = 0),
            "health_check.healthy_threshold"
        );
    }
}
