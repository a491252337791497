//! A per-endpoint circuit breaker with resilience4j semantics, as a
//! synchronous core.
//!
//! The breaker watches finished calls in a sliding window and stops sending
//! to an endpoint whose failure or slow-call rate crosses a threshold, then
//! lets a few probe calls through after a pause to find out whether it
//! recovered. Like the limiter, it reads no clock (`now` is always passed
//! in) and hands every state change back as a [`Transition`] value, so the
//! pool decides how to log and publish it. `state.rs` holds the state diagram.

mod call;
mod circuit;
mod config;
mod error;
mod outcome;
mod state;
mod ticket;
mod window;

pub(crate) use call::{BreakerCall, Breakers};
pub use circuit::CircuitBreaker;
// Re-exported from its own module, for the path it has always had.
pub use crate::code::GrpcCode;
pub use config::{BreakerConfig, SlidingWindow};
pub use error::{ConfigError, Rejection};
pub use outcome::{CallResult, FailurePredicate, Outcome};
pub use state::{State, Transition, TransitionReason};
pub use ticket::{Admission, Permit};
