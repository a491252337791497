//! [`ConfigError`]: a pool configuration value out of range.
//!
//! A leaf of its own, beside the configs: [`PoolConfig`](crate::PoolConfig)
//! holds the retry, outlier and health configs, and each of those validates
//! itself into this error, so it cannot live in `config.rs` without every
//! concern's config importing the pool's. Public as
//! `squall_pool::config::ConfigError` and `squall_pool::ConfigError`.

/// A configuration value is out of range. Names the field as written in
/// [`PoolConfig`](crate::PoolConfig), e.g. `keepalive.timeout` or
/// `limiter.max_concurrency`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid pool config: `{field}` {problem}")]
pub struct ConfigError {
    pub field: String,
    pub problem: String,
}

#[cfg(test)]
mod tests {
    use super::ConfigError;

    #[test]
    fn names_the_field_as_written_in_the_config() {
        let error = ConfigError {
            field: "keepalive.timeout".into(),
            problem: "must be > 0".into(),
        };
        assert_eq!(
            error.to_string(),
            "invalid pool config: `keepalive.timeout` must be > 0"
        );
    }
}
