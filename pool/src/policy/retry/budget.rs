//! The retry budget: tower's `TpsBudget` (Finagle's design), plus the
//! counters the pool reports in its stats.
//!
//! `TpsBudget` reads `tokio::time::Instant`, so under the simulator it runs
//! on simulated time and stays deterministic. Its contract: every call the
//! policy covers deposits one credit, a retry withdraws `1 / ratio`
//! credits (truncated), and a reserve of `min_per_second · ttl` retries is
//! always there; credits and withdrawals are forgotten after `ttl` (in ten
//! slots of `ttl / 10`).

use std::sync::atomic::{AtomicU64, Ordering};

use tower::retry::budget::{Budget, TpsBudget};

use super::RetryBudgetConfig;

/// The pool's budget and what it allowed.
pub(crate) struct RetryBudget {
    inner: TpsBudget,
    retries: AtomicU64,
    refused: AtomicU64,
}

impl RetryBudget {
    /// `config` must be valid (`RetryConfig::validate`): `TpsBudget::new`
    /// panics on out-of-range values.
    pub(crate) fn new(config: &RetryBudgetConfig) -> Self {
        Self {
            inner: TpsBudget::new(config.ttl, config.min_per_second, config.ratio),
            retries: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// A call the policy covers is being sent for the first time.
    pub(crate) fn deposit(&self) {
        self.inner.deposit();
    }

    /// Asks for one retry; counts the answer.
    pub(crate) fn withdraw(&self) -> bool {
        let allowed = self.inner.withdraw();
        let counter = if allowed {
            &self.retries
        } else {
            &self.refused
        };
        counter.fetch_add(1, Ordering::Relaxed);
        allowed
    }

    /// (retries allowed, retries refused) so far.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.retries.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn budget(min_per_second: u32, ratio: f32) -> RetryBudget {
        RetryBudget::new(&RetryBudgetConfig {
            ttl: Duration::from_secs(1),
            min_per_second,
            ratio,
        })
    }

    fn allowed(budget: &RetryBudget, asks: usize) -> usize {
        (0..asks).filter(|_| budget.withdraw()).count()
    }

    #[tokio::test(start_paused = true)]
    async fn the_reserve_allows_min_per_second_times_ttl() {
        let budget = budget(3, 0.0);
        assert_eq!(allowed(&budget, 10), 3);
        assert_eq!(budget.counts(), (3, 7));
    }

    #[tokio::test(start_paused = true)]
    async fn each_call_adds_ratio_of_a_retry() {
        let budget = budget(0, 0.5);
        assert_eq!(allowed(&budget, 1), 0, "no calls yet, no reserve");
        for _ in 0..10 {
            budget.deposit();
        }
        assert_eq!(allowed(&budget, 10), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn withdrawals_are_forgotten_after_ttl() {
        let budget = budget(2, 0.0);
        assert_eq!(allowed(&budget, 5), 2);
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(allowed(&budget, 5), 0, "within ttl, still spent");
        // Past ttl (plus one slot, the granularity of forgetting).
        tokio::time::advance(Duration::from_millis(700)).await;
        assert_eq!(allowed(&budget, 5), 2);
    }
}
