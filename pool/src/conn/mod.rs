//! One HTTP/2 connection's life: its state machine, the record that emits an
//! event for every transition, and the task that dials, serves and redials.

mod goaway;
mod lifecycle;
mod retire;
mod slot;
mod state;

pub(crate) use goaway::{Replacements, Replacing};
pub(crate) use slot::Slot;
pub use state::{ConnState, IllegalTransition};
