//! Client-side admission control: a cap on concurrent RPCs, a token-bucket
//! rate limit and a bounded FIFO wait queue, as one synchronous core.
//!
//! The core never reads a clock and never sleeps: every call takes the
//! caller's `now`, and [`Limiter::next_wakeup`] tells an async wrapper when
//! to call back. That keeps it deterministic under the simulator and lets the
//! property tests in `pool/tests/limiter_model.rs` drive it step by step.
//! Tickets ([`Permit`], [`WaiterId`]) are plain values so that the wrapper can
//! return them from `Drop`, which is how permits get released on every path.

mod bucket;
mod config;
mod error;
mod gate;
mod limiter;
mod queue;
mod ticket;

pub use config::{LimiterConfig, RateLimit};
pub use error::{ConfigError, Rejection};
pub(crate) use gate::{LimitGate, LimitPermit};
pub use limiter::Limiter;
pub use ticket::{Acquire, Permit, Resolved, WaiterId};
