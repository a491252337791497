//! What a fault kind says about itself: its name, its title, its class,
//! the hosts it names, what it does to links, how it ends, and the checks
//! on its own fields. One [`Kind`] impl per kind, in the kind's file;
//! [`Fault::kind`](super::Fault::kind) picks it, and everything that asks
//! about a fault (trace lines, validation, the timeline, the invariant
//! checkers, script checks) asks through it.

use std::{fmt, time::Duration};

use super::FaultClass;

/// One fault kind's knowledge of itself.
pub trait Kind {
    /// The kind as trace lines write it (`black_hole`). Scripts write the
    /// same name in kebab case (`kind = "black-hole"`): serde's tag on
    /// [`Fault`](super::Fault), checked against this by a test.
    fn name(&self) -> &'static str;

    /// What the fault acts on, which decides how each world injects it.
    fn class(&self) -> FaultClass;

    /// A short title for people (the timeline's fault bands):
    /// `black hole client ↔ server-1`.
    fn title(&self) -> String;

    /// The fields that name hosts, in the order of their names. Faults
    /// of [`FaultClass::Network`] may name any host; the others act on
    /// servers and must name servers.
    fn host_fields(&self) -> Vec<HostField<'_>>;

    /// What the fault does to the links between hosts.
    fn cut(&self) -> Cut<'_> {
        Cut::None
    }

    /// How the fault ends.
    fn ending(&self) -> Ending {
        Ending::Healed
    }

    /// Checks the fault's own fields (hosts aside); the error names the
    /// field and what is wrong with it.
    fn check_fields(&self) -> Result<(), String> {
        Ok(())
    }

    /// The fault's fields as trace lines write them, after `kind=NAME`:
    /// ` key=value` each, host sets comma-separated, durations in ms.
    fn write_fields(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

/// A field of a fault that names hosts: one host (`a = "client"`) or a
/// set (`hosts = ["server-1"]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostField<'a> {
    /// The field's name in a script.
    pub field: &'static str,
    /// The hosts it names.
    pub hosts: &'a [String],
    /// Whether the field is a list (`hosts = [...]`) rather than one name.
    pub is_set: bool,
}

impl<'a> HostField<'a> {
    /// A field naming one host.
    pub fn one(field: &'static str, host: &'a String) -> Self {
        Self {
            field,
            hosts: std::slice::from_ref(host),
            is_set: false,
        }
    }

    /// A field naming a set of hosts.
    pub fn set(field: &'static str, hosts: &'a [String]) -> Self {
        Self {
            field,
            hosts,
            is_set: true,
        }
    }
}

/// What a fault does to links between hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut<'a> {
    /// Nothing: it acts on software, or visibly (a process crash).
    None,
    /// Every packet between the two sides is dropped (both ways, or for a
    /// one-way partition from `a` to `b`), without a word to either end.
    Dropped { a: &'a [String], b: &'a [String] },
    /// Some packets between the two sides are lost or delayed.
    Lossy { a: &'a [String], b: &'a [String] },
    /// The hosts vanish without a word (a silent crash).
    Silent(&'a [String]),
}

/// How a fault ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// At its heal (never, without `heal_after`).
    Healed,
    /// At once: it is one action, at its injection (a GOAWAY storm that
    /// does not repeat); a heal still ends it in the trace.
    AtOnce,
    /// By itself: its servers are back this long after the injection (a
    /// graceful restart's drain and downtime); a heal does nothing.
    Restarted(Duration),
}
