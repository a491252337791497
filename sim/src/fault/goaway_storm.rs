//! GOAWAY storm (graceful): servers send GOAWAY on every connection at
//! once, and optionally keep doing it, while still accepting new ones.
//!
//! **Real-world event.** A server enforcing `max_connection_age` on all
//! connections at once (they were opened together), a proxy reload (Envoy,
//! nginx) that drains every downstream connection, or a fleet-wide config
//! push. Each connection gets GOAWAY(NO_ERROR); clients must reconnect all
//! at once: the thundering herd this fault checks the pool handles.
//!
//! **Turmoil mechanism.** None: this is ours. The driver bumps the GOAWAY
//! round on each server's control channel; every connection task calls
//! hyper's `Connection::graceful_shutdown` (h2's two-phase GOAWAY: last
//! stream id 2^31-1 plus a PING, then the real last stream id), lets its
//! streams finish and closes. The listener stays open. With `every`, the
//! server repeats the round on whatever connections are then open, until
//! the heal.
//!
//! **What a real network does differently.** Real servers usually jitter
//! connection ages so GOAWAYs are spread out; a storm like this is the
//! worst case. The abrupt variant (last-stream-id below in-flight streams)
//! and ENHANCE_YOUR_CALM "too_many_pings" need a frame-aware relay, since
//! hyper's server offers only the graceful shutdown; they are not built yet.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::FaultContext;

/// GOAWAY on every connection of `hosts`, once or every `every`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoawayStorm {
    pub hosts: Vec<String>,
    /// Repeat the round this often until healed; `None`: once.
    #[serde(default, with = "humantime_serde")]
    pub every: Option<Duration>,
}

impl GoawayStorm {
    pub(crate) fn inject(&self, ctx: &mut FaultContext<'_, '_>) {
        let every = self.every;
        ctx.control(&self.hosts, |c| c.goaway(every));
    }

    pub(crate) fn heal(&self, ctx: &mut FaultContext<'_, '_>) {
        ctx.control(&self.hosts, |c| c.stop_goaway());
    }
}
