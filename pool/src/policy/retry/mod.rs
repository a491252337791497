//! The retry policy for idempotent calls: which calls, which outcomes, how
//! long to wait, and the budget that bounds retries across the pool.
//!
//! Opt-in twice: the pool needs a [`RetryConfig`] (`PoolConfig::retry`),
//! and each call must carry the [`Idempotent`] extension, since only the
//! caller knows whether sending a call twice is harmless.
//!
//! A pure core: `RetryPolicy` answers which code is retried, how long to
//! wait and whether the budget allows another attempt. The loop that asks
//! it, attempt by attempt, is the RPC path's (`rpc/retry.rs`).

mod backoff;
mod budget;
mod config;
pub(crate) mod replay;

pub use config::{MAX_ATTEMPTS, MAX_BUFFERED_BODY, RetryBudgetConfig, RetryConfig};

use std::time::Duration;

use rand::Rng;

use crate::code::GrpcCode;
pub(crate) use budget::RetryBudget;

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

    /// Largest request body kept to be resent.
    pub(crate) fn max_buffered_body(&self) -> usize {
        self.config.max_buffered_body
    }

    /// Most attempts one call makes, the first included.
    pub(crate) fn max_attempts(&self) -> u32 {
        self.config.max_attempts
    }

    /// Whether a call that ended with `code` may be retried.
    pub(crate) fn retries(&self, code: GrpcCode) -> bool {
        self.config.retryable_codes.contains(&code)
    }

    /// The wait before the attempt after `attempts` attempts.
    pub(crate) fn backoff(&self, attempts: u32, rng: &mut impl Rng) -> Duration {
        backoff::delay(&self.config, attempts, rng)
    }

    /// An idempotent call started: it adds to the budget.
    pub(crate) fn deposit(&self) {
        self.budget.deposit();
    }

    /// Takes one retry from the budget; `false` when it is spent.
    pub(crate) fn withdraw(&self) -> bool {
        self.budget.withdraw()
    }
}
