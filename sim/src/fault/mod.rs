//! Faults: what can go wrong in a world, when, and for how long.
//!
//! Each fault kind lives in its own file, which opens with the real-world
//! event it models and the turmoil mechanism it uses. A fault is injected
//! between simulation steps, so it takes effect at an exact simulated time.
//!
//! Faults are plain data with serde derives, so fault scripts (TOML) name
//! them directly: `kind = "black-hole"` selects [`Fault::BlackHole`], its
//! fields follow, and durations are written like `"5s"` or `"250ms"`.

mod black_hole;

use std::{fmt, time::Duration};

use serde::{Deserialize, Serialize};

pub use black_hole::BlackHole;

/// Something that goes wrong in the network or a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    BlackHole(BlackHole),
}

impl Fault {
    pub(crate) fn inject(&self, sim: &mut turmoil::Sim<'_>) {
        match self {
            Fault::BlackHole(f) => f.inject(sim),
        }
    }

    pub(crate) fn heal(&self, sim: &mut turmoil::Sim<'_>) {
        match self {
            Fault::BlackHole(f) => f.heal(sim),
        }
    }

    /// The host names the fault touches, to check they exist.
    pub(crate) fn hosts(&self) -> Vec<&str> {
        match self {
            Fault::BlackHole(f) => vec![f.a.as_str(), f.b.as_str()],
        }
    }
}

/// ` kind=... key=value`, as written in trace lines.
impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::BlackHole(b) => write!(f, "kind=black_hole a={} b={}", b.a, b.b),
        }
    }
}

/// A fault with its timing. In a script:
///
/// ```toml
/// [[faults]]
/// at = "5s"
/// heal_after = "20s"
/// kind = "black-hole"
/// a = "client"
/// b = "server-2"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledFault {
    /// Simulated time at which it is injected.
    #[serde(with = "humantime_serde")]
    pub at: Duration,
    /// How long until it heals; `None` for never.
    #[serde(default, with = "humantime_serde")]
    pub heal_after: Option<Duration>,
    #[serde(flatten)]
    pub fault: Fault,
}

/// One step of a fault schedule: inject or heal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FaultAction {
    Inject(Fault),
    Heal(Fault),
}

/// Expands a fault list into actions ordered by time. At equal times heals
/// come before injections, and otherwise the list's order is kept, so the
/// order of actions is fully determined by the script.
pub(crate) fn timeline(faults: &[ScheduledFault]) -> Vec<(Duration, FaultAction)> {
    let mut actions: Vec<(Duration, u8, usize, FaultAction)> = Vec::new();
    for (index, scheduled) in faults.iter().enumerate() {
        actions.push((
            scheduled.at,
            1,
            index,
            FaultAction::Inject(scheduled.fault.clone()),
        ));
        if let Some(after) = scheduled.heal_after {
            actions.push((
                scheduled.at + after,
                0,
                index,
                FaultAction::Heal(scheduled.fault.clone()),
            ));
        }
    }
    actions.sort_by_key(|(at, order, index, _)| (*at, *order, *index));
    actions
        .into_iter()
        .map(|(at, _, _, action)| (at, action))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hole(a: &str, b: &str) -> Fault {
        Fault::BlackHole(BlackHole {
            a: a.into(),
            b: b.into(),
        })
    }

    #[test]
    fn scheduled_faults_read_from_toml() {
        #[derive(Deserialize)]
        struct Script {
            faults: Vec<ScheduledFault>,
        }
        let script: Script = toml::from_str(
            r#"
            [[faults]]
            at = "5s"
            heal_after = "20s"
            kind = "black-hole"
            a = "client"
            b = "server-2"
            "#,
        )
        .unwrap();
        assert_eq!(
            script.faults,
            vec![ScheduledFault {
                at: Duration::from_secs(5),
                heal_after: Some(Duration::from_secs(20)),
                fault: hole("client", "server-2"),
            }]
        );
    }

    #[test]
    fn timeline_orders_by_time_then_heals_first() {
        let faults = vec![
            ScheduledFault {
                at: Duration::from_secs(5),
                heal_after: Some(Duration::from_secs(5)),
                fault: hole("client", "server-1"),
            },
            ScheduledFault {
                at: Duration::from_secs(10),
                heal_after: None,
                fault: hole("client", "server-2"),
            },
        ];
        let t = timeline(&faults);
        assert_eq!(t.len(), 3);
        assert_eq!(
            t[0],
            (
                Duration::from_secs(5),
                FaultAction::Inject(hole("client", "server-1"))
            )
        );
        assert_eq!(
            t[1],
            (
                Duration::from_secs(10),
                FaultAction::Heal(hole("client", "server-1"))
            )
        );
        assert_eq!(
            t[2],
            (
                Duration::from_secs(10),
                FaultAction::Inject(hole("client", "server-2"))
            )
        );
    }
}
