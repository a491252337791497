//! The pool's policies: what admits, refuses, retries or takes out of
//! rotation an RPC or an endpoint. Each is a synchronous core driven by the
//! clock it is handed, plus a thin adaptor that takes a narrow handle (the
//! event sink, the shutdown signal, a trait the pool implements), never the
//! pool's whole state.
//!
//! - [`limit`]: the concurrency and rate limiter; `limit::gate` its async
//!   waiting.
//! - [`breaker`]: one circuit breaker per endpoint; `breaker::call` the
//!   record each routed RPC carries.
//! - [`retry`]: the retry policy for idempotent calls and its budget; the
//!   loop that applies it is the RPC path's (`rpc/retry.rs`).
//! - [`hedging`]: the hedging policy for idempotent calls (on the retry
//!   policy's budget); the loop that applies it is `rpc/hedge.rs`.
//! - [`outlier`]: passive ejection of endpoints that keep failing.
//! - [`health`]: active `grpc.health.v1` checks of every endpoint, through
//!   the `health::Probes` handle.
//!
//! Public as `squall_pool::limit`, `squall_pool::breaker`, … (re-exported at
//! the crate root, their paths since they were top-level modules).

pub mod breaker;
pub mod health;
pub mod hedging;
pub mod limit;
pub mod outlier;
pub mod retry;

use std::sync::Arc;

use breaker::Breakers;
use health::Health;
use hedging::HedgingPolicy;
use limit::LimitGate;
use outlier::Outliers;
use retry::RetryPolicy;

/// The policies a pool was configured with, each `None` when it is off, so
/// a plain pool pays nothing for them. Built once, when the pool is.
#[derive(Default)]
pub(crate) struct Policies {
    /// Admission control for the whole pool.
    pub(crate) limiter: Option<Arc<LimitGate>>,
    /// One breaker per endpoint.
    pub(crate) breakers: Option<Arc<Breakers>>,
    /// The retry policy for idempotent calls.
    pub(crate) retry: Option<RetryPolicy>,
    /// The hedging policy for idempotent calls (never with `retry`).
    pub(crate) hedging: Option<HedgingPolicy>,
    /// Passive outlier ejection.
    pub(crate) outliers: Option<Arc<Outliers>>,
    /// Active health checks' verdicts.
    pub(crate) health: Option<Arc<Health>>,
}
