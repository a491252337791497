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
//!   loop that applies it is the RPC path's (`service/retry.rs`).
//! - [`outlier`]: passive ejection of endpoints that keep failing.
//! - [`health`]: active `grpc.health.v1` checks of every endpoint, through
//!   the `health::Probes` handle.
//!
//! Public as `squall_pool::limit`, `squall_pool::breaker`, … (re-exported at
//! the crate root, their paths since they were top-level modules).

pub mod breaker;
pub mod health;
pub mod limit;
pub mod outlier;
pub mod retry;
