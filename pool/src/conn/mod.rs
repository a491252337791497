//! One HTTP/2 connection's life: its state machine, the record that emits an
//! event for every transition, and the task that dials, serves and redials.
//!
//! Its files, in dependency order: each imports only files listed before
//! it, so `conn/` has no cycle.
//! - `frames`: what the server's frames said (`wire`'s reader reports to
//!   it): its stream limit, its first GOAWAY.
//! - `state`: a connection's states and legal transitions ([`ConnState`]).
//! - `lifecycle`: [`Conn`](lifecycle::Conn), that state machine bound to its
//!   side effects (events, slot status, the ready set).
//! - `dial`: the byte stream and the HTTP/2 handshake.
//! - `close`: draining a connection and naming why it closed.
//! - `goaway`: a connection the server sent away.
//! - `retire`: max connection age, and the task that retires a connection.
//! - `backoff`: gRPC's reconnect schedule.
//! - `slot_state`: the slot's loop as a pure state machine.
//! - `slot`: the task that performs what that machine decides.

mod backoff;
mod close;
mod dial;
mod frames;
mod goaway;
mod lifecycle;
mod retire;
mod slot;
mod slot_state;
mod state;

pub(crate) use slot::Slot;
pub use state::{ConnState, IllegalTransition};
