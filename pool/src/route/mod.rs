//! Routing: the ready set and the rules that choose a connection from it.
//!
//! A pure core, generic over the request sender `S` (hyper's `SendRequest`
//! in the pool, a fake in the tests): it reads no clock, owns no lock and
//! no RNG, and knows nothing of breakers, outliers or health checks. The
//! caller (`shared/routing.rs`) holds the lock, passes the RNG, the
//! endpoints out of rotation and the breaker's admission in, so each rule
//! is unit-tested here without a simulator or a socket.
//!
//! - `ready`: [`ReadySet`], the connections RPCs may be routed to, sorted
//!   by id; health-check probes.
//! - `pick`: one RPC's connection (power of two choices among those with
//!   room, not avoided, in rotation and admitted), a retry's (elsewhere),
//!   a lease's (pinned), a new lease's.
//! - `p2c`: the power-of-two-choices draw itself.
//! - `saturation`: whether every open connection is full, and for how long.
//! - `scale`: extra connections woken when every ready one is full.
//! - `wait`: whether an RPC that found nothing may wait and look again.
//! - `error`: [`RouteError`], why nothing was chosen.

mod error;
#[cfg(test)]
mod fake;
mod p2c;
mod pick;
mod ready;
mod saturation;
mod scale;
mod wait;

pub(crate) use error::RouteError;
pub(crate) use pick::Picked;
pub(crate) use ready::{ReadyConn, ReadySet};
pub(crate) use saturation::Saturated;
pub(crate) use scale::Scaling;
pub(crate) use wait::worth_another_look;
