//! The retry policy for idempotent calls: which calls, which outcomes, how
//! long to wait, and the budget that bounds retries across the pool.
//!
//! Opt-in twice: the pool needs a [`RetryConfig`] (`PoolConfig::retry`),
//! and each call must carry the [`Idempotent`] extension, since only the
//! caller knows whether sending a call twice is harmless.

mod backoff;
mod budget;
mod config;
pub(crate) mod replay;
mod send;

pub use config::{MAX_ATTEMPTS, MAX_BUFFERED_BODY, RetryBudgetConfig, RetryConfig};
pub(crate) use send::send;

use budget::RetryBudget;

/// Marks a call as safe to send more than once. Set it on a tonic request:
///
/// ```
/// let mut request = tonic::Request::new(());
/// request.extensions_mut().insert(squall_pool::Idempotent);
/// ```
///
/// Without it the retry policy never resends a call (transparent retries,
/// of requests that never left the client, still happen).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Idempotent;

/// The pool's retry policy: its validated config and its budget.
pub(crate) struct RetryPolicy {
    config: RetryConfig,
    budget: RetryBudget,
}

impl RetryPolicy {
    /// `config` must have passed `RetryConfig::validate`.
    pub(crate) fn new(config: RetryConfig) -> Self {
        debug_assert!(config.validate().is_ok());
        Self {
            budget: RetryBudget::new(&config.budget),
            config,
        }
    }

    /// (retries made, retries the budget refused) so far.
    pub(crate) fn counts(&self) -> (u64, u64) {
        self.budget.counts()
    }
}
