//! The hedging policy for idempotent calls (gRFC A6's `hedgingPolicy`):
//! how many copies of a call may be in flight, how long to wait for an
//! answer before sending the next, which answers end the call, and the
//! budget every copy after the first draws on.
//!
//! Opt-in twice, as the retry policy: the pool needs a [`HedgingConfig`]
//! (`PoolConfig::hedging`), and each call the
//! [`Idempotent`](crate::Idempotent) extension.
//!
//! A pure core: [`HedgingPolicy`] answers whether an attempt's outcome
//! commits the call ([`Verdict`]), how long to wait and whether the budget
//! allows another copy. The loop that sends and cancels the copies is
//! the RPC path's (`rpc/hedge.rs`).

mod config;

pub use config::{HedgingConfig, MAX_HEDGING_DELAY};

use std::time::Duration;

use crate::{code::GrpcCode, policy::retry::RetryBudget};

/// What one attempt's outcome does to a hedged call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The call is decided by this outcome: the others are cancelled.
    Commit,
    /// Not decided: send the next copy at once, if one is left; the call
    /// fails with this outcome only if every copy does.
    Continue,
}

/// The pool's hedging policy: its validated config and its budget.
pub(crate) struct HedgingPolicy {
    config: HedgingConfig,
    budget: RetryBudget,
}

impl HedgingPolicy {
    /// `config` must have passed `HedgingConfig::validate`.
    pub(crate) fn new(config: HedgingConfig) -> Self {
        debug_assert!(config.validate().is_ok());
        Self {
            budget: RetryBudget::new(&config.budget),
            config,
        }
    }

    /// (hedges sent, hedges the budget refused) so far.
    pub(crate) fn counts(&self) -> (u64, u64) {
        self.budget.counts()
    }

    /// Largest request body kept to be sent more than once.
    pub(crate) fn max_buffered_body(&self) -> usize {
        self.config.max_buffered_body
    }

    /// Most copies of one call, the first included.
    pub(crate) fn max_attempts(&self) -> u32 {
        self.config.max_attempts
    }

    /// How long a copy waits for response headers before the next is sent.
    pub(crate) fn delay(&self) -> Duration {
        self.config.hedging_delay
    }

    /// What an attempt that ended with `code` does to the call. `None`: it
    /// got a response that is no trailers-only error (headers, then a
    /// stream of data): the call is committed to it.
    pub(crate) fn verdict(&self, code: Option<GrpcCode>) -> Verdict {
        match code {
            Some(code) if self.config.non_fatal_status_codes.contains(&code) => Verdict::Continue,
            _ => Verdict::Commit,
        }
    }

    /// A hedged call started: it adds to the budget.
    pub(crate) fn deposit(&self) {
        self.budget.deposit();
    }

    /// Takes one hedge from the budget; `false` when it is spent.
    pub(crate) fn withdraw(&self) -> bool {
        self.budget.withdraw()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(non_fatal: &[GrpcCode]) -> HedgingPolicy {
        HedgingPolicy::new(HedgingConfig {
            non_fatal_status_codes: non_fatal.to_vec(),
            ..HedgingConfig::default()
        })
    }

    #[test]
    fn only_non_fatal_codes_let_the_call_go_on() {
        let p = policy(&[GrpcCode::Unavailable, GrpcCode::ResourceExhausted]);
        assert_eq!(p.verdict(Some(GrpcCode::Unavailable)), Verdict::Continue);
        assert_eq!(
            p.verdict(Some(GrpcCode::ResourceExhausted)),
            Verdict::Continue
        );
        assert_eq!(p.verdict(Some(GrpcCode::Internal)), Verdict::Commit);
        // A response that is no trailers-only error, an OK one included.
        assert_eq!(p.verdict(None), Verdict::Commit);
        assert_eq!(p.verdict(Some(GrpcCode::Ok)), Verdict::Commit);
    }

    #[test]
    fn without_non_fatal_codes_every_answer_commits() {
        let p = policy(&[]);
        assert_eq!(p.verdict(Some(GrpcCode::Unavailable)), Verdict::Commit);
    }

    #[test]
    fn the_budget_bounds_hedges() {
        let p = HedgingPolicy::new(HedgingConfig {
            // No reserve, and calls earn nothing: no hedge is ever allowed.
            budget: crate::policy::retry::RetryBudgetConfig {
                ttl: Duration::from_secs(1),
                min_per_second: 0,
                ratio: 0.0,
            },
            ..HedgingConfig::default()
        });
        p.deposit();
        assert!(!p.withdraw());
        assert_eq!(p.counts(), (0, 1));
    }
}
