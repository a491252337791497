//! Middleboxes: hosts that sit between the client and a server and own the
//! flows through them. The only kind so far is a NAT / load balancer that
//! forgets idle flows ([`nat`]).
//!
//! A middlebox is part of the world, not a fault: it is declared in
//! [`WorldConfig::middleboxes`](crate::WorldConfig) and the client dials its
//! host name instead of the server's. In a script:
//!
//! ```toml
//! [[topology.middleboxes]]
//! name = "nat-1"
//! kind = "nat"
//! forward_to = "server-1"
//! idle_timeout = "30s"
//! expiry = "silent"
//! ```

pub mod nat;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use nat::Expiry;

/// One middlebox host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Middlebox {
    /// Its host name, which clients dial (port 50051, like a server).
    pub name: String,
    pub kind: MiddleboxKind,
    /// The server host every flow is forwarded to.
    pub forward_to: String,
    /// A flow with no byte in either direction for this long expires.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// What expiry does to the flow.
    pub expiry: Expiry,
}

/// What a middlebox does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MiddleboxKind {
    /// Forwards TCP per flow and expires idle flows.
    Nat,
}

impl Middlebox {
    /// Checks the middlebox against the world's server names.
    pub(crate) fn validate(&self, servers: &[String]) -> Result<(), String> {
        if !servers.contains(&self.forward_to) {
            return Err(format!(
                "middlebox `{}` forwards to unknown server `{}`",
                self.name, self.forward_to
            ));
        }
        if self.idle_timeout.is_zero() {
            return Err(format!(
                "middlebox `{}`: idle_timeout must be greater than zero",
                self.name
            ));
        }
        Ok(())
    }
}
