//! Faults: what can go wrong in a world, when, and for how long.
//!
//! Each fault kind lives in its own file, which opens with the real-world
//! event it models and the turmoil mechanism it uses, and holds all that is
//! known about the kind: its fields, how it is injected and healed, and
//! its [`Kind`] impl (name, title, class, the hosts it names, what it does
//! to links, how it ends, the checks on its fields). This module holds the
//! [`Fault`] enum, which picks a kind's impl ([`Fault::kind`]) and its
//! mechanism, and the schedule ([`ScheduledFault`], [`timeline`]). A fault
//! is injected between simulation steps, so it takes effect at an exact
//! simulated time.
//!
//! Faults are plain data with serde derives, so fault scripts (TOML) name
//! them directly: `kind = "black-hole"` selects [`Fault::BlackHole`], its
//! fields follow, and durations are written like `"5s"` or `"250ms"`.

mod black_hole;
mod context;
mod failing_server;
mod goaway_storm;
mod graceful_restart;
mod kind;
mod lossy_link;
mod one_way_partition;
mod partition;
mod server_crash;
mod slow_server;

use std::{fmt, time::Duration};

use serde::{Deserialize, Serialize};

pub use black_hole::BlackHole;
pub use context::Controls;
pub(crate) use context::{FaultContext, pairs};
pub use failing_server::{FailingServer, StatusCode};
pub use goaway_storm::GoawayStorm;
pub use graceful_restart::GracefulRestart;
pub use kind::{Cut, Ending, HostField, Kind};
pub use lossy_link::LossyLink;
pub use one_way_partition::OneWayPartition;
pub use partition::Partition;
pub use server_crash::ServerCrash;
pub use slow_server::SlowServer;

/// What a fault acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultClass {
    /// Packets between hosts: each world has its own mechanism (turmoil's
    /// links; DROP rules in kernel mode).
    Network,
    /// A server's software dies and is started again.
    Crash,
    /// A server's behaviour, through its control channel: the same in
    /// every world.
    Software,
}

/// Something that goes wrong in the network or a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    BlackHole(BlackHole),
    Partition(Partition),
    OneWayPartition(OneWayPartition),
    ServerCrash(ServerCrash),
    SlowServer(SlowServer),
    FailingServer(FailingServer),
    GracefulRestart(GracefulRestart),
    GoawayStorm(GoawayStorm),
    LossyLink(LossyLink),
}

impl Fault {
    /// The kind's own knowledge of itself: the one place each kind's name,
    /// title, class, hosts, cut, ending and field checks are written.
    pub fn kind(&self) -> &dyn Kind {
        match self {
            Fault::BlackHole(f) => f,
            Fault::Partition(f) => f,
            Fault::OneWayPartition(f) => f,
            Fault::ServerCrash(f) => f,
            Fault::SlowServer(f) => f,
            Fault::FailingServer(f) => f,
            Fault::GracefulRestart(f) => f,
            Fault::GoawayStorm(f) => f,
            Fault::LossyLink(f) => f,
        }
    }

    /// [`Kind::name`]: `black_hole`.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// [`Kind::class`].
    pub fn class(&self) -> FaultClass {
        self.kind().class()
    }

    /// [`Kind::title`].
    pub fn title(&self) -> String {
        self.kind().title()
    }

    /// [`Kind::cut`].
    pub fn cut(&self) -> Cut<'_> {
        self.kind().cut()
    }

    /// [`Kind::ending`].
    pub fn ending(&self) -> Ending {
        self.kind().ending()
    }

    /// Every host the fault names, field by field, in order.
    pub fn hosts(&self) -> Vec<&str> {
        self.kind()
            .host_fields()
            .into_iter()
            .flat_map(|field| field.hosts.iter().map(String::as_str))
            .collect()
    }

    pub(crate) fn inject(&self, ctx: &mut FaultContext<'_, '_>) {
        match self {
            Fault::BlackHole(f) => f.inject(ctx.sim),
            Fault::Partition(f) => f.inject(ctx),
            Fault::OneWayPartition(f) => f.inject(ctx),
            Fault::ServerCrash(f) => f.inject(ctx),
            Fault::SlowServer(_)
            | Fault::FailingServer(_)
            | Fault::GracefulRestart(_)
            | Fault::GoawayStorm(_) => self.inject_software(&ctx.controls()),
            Fault::LossyLink(f) => f.inject(ctx),
        }
    }

    pub(crate) fn heal(&self, ctx: &mut FaultContext<'_, '_>) {
        match self {
            Fault::BlackHole(f) => f.heal(ctx.sim),
            Fault::Partition(f) => f.heal(ctx),
            Fault::OneWayPartition(f) => f.heal(ctx),
            Fault::ServerCrash(f) => f.heal(ctx),
            Fault::SlowServer(_)
            | Fault::FailingServer(_)
            | Fault::GracefulRestart(_)
            | Fault::GoawayStorm(_) => self.heal_software(&ctx.controls()),
            Fault::LossyLink(f) => f.heal(ctx),
        }
    }

    /// Injects a [`FaultClass::Software`] fault through the servers'
    /// control channels, the same way in every world; does nothing for
    /// the other classes, which each world injects its own way.
    pub fn inject_software(&self, controls: &Controls<'_>) {
        debug_assert_eq!(self.class(), FaultClass::Software, "{self}");
        match self {
            Fault::SlowServer(f) => f.inject(controls),
            Fault::FailingServer(f) => f.inject(controls),
            Fault::GracefulRestart(f) => f.inject(controls),
            Fault::GoawayStorm(f) => f.inject(controls),
            _ => {}
        }
    }

    /// Heals a [`FaultClass::Software`] fault; see [`Fault::inject_software`].
    pub fn heal_software(&self, controls: &Controls<'_>) {
        debug_assert_eq!(self.class(), FaultClass::Software, "{self}");
        match self {
            Fault::SlowServer(f) => f.heal(controls),
            Fault::FailingServer(f) => f.heal(controls),
            Fault::GoawayStorm(f) => f.heal(controls),
            // One-shot: the restart runs its course on its own.
            _ => {}
        }
    }

    /// Checks the fault against the world: `hosts` are all host names,
    /// `servers` the server host names (faults that act on a server's
    /// software need one). The error says what is wrong.
    pub fn validate(&self, hosts: &[String], servers: &[String]) -> Result<(), String> {
        let named = self.hosts();
        if named.is_empty() {
            return Err(format!("fault {self} names no host"));
        }
        let (among, what) = match self.class() {
            FaultClass::Network => (hosts, "host"),
            FaultClass::Crash | FaultClass::Software => (servers, "server"),
        };
        if let Some(unknown) = named.iter().find(|n| !among.iter().any(|h| h == *n)) {
            return Err(format!("fault {self} names unknown {what} `{unknown}`"));
        }
        self.kind()
            .check_fields()
            .map_err(|problem| format!("fault {self}: {problem}"))
    }
}

/// ` kind=... key=value`, as written in trace lines. Host sets are written
/// comma-separated.
impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kind={}", self.name())?;
        self.kind().write_fields(f)
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

impl ScheduledFault {
    /// When the fault is over: at its heal, or when its servers are back
    /// ([`Ending::Restarted`]); `None` if it never heals.
    pub fn end(&self) -> Option<Duration> {
        match self.fault.ending() {
            Ending::Restarted(after) => Some(self.at + after),
            Ending::Healed | Ending::AtOnce => Some(self.at + self.heal_after?),
        }
    }

    /// The servers the fault takes down, from when until when: a crash
    /// until its heal (never healed: [`Duration::MAX`]), a graceful
    /// restart until its servers are back. `None` for faults that leave
    /// servers up.
    pub fn downtime(&self) -> Option<(Vec<&str>, Duration, Duration)> {
        let end = match (self.fault.class(), self.fault.ending()) {
            (_, Ending::Restarted(after)) => self.at + after,
            (FaultClass::Crash, _) => self
                .heal_after
                .map_or(Duration::MAX, |after| self.at + after),
            _ => return None,
        };
        Some((self.fault.hosts(), self.at, end))
    }
}

/// One step of a fault schedule: inject or heal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultAction {
    Inject(Fault),
    Heal(Fault),
}

/// Expands a fault list into actions ordered by time. At equal times heals
/// come before injections, and otherwise the list's order is kept, so the
/// order of actions is fully determined by the script.
pub fn timeline(faults: &[ScheduledFault]) -> Vec<(Duration, FaultAction)> {
    indexed_timeline(faults)
        .into_iter()
        .map(|(at, _, action)| (at, action))
        .collect()
}

/// [`timeline`] with each action's fault's place in `faults`, so a world
/// whose faults hold resources (kernel mode's DROP rules) heals exactly
/// what the injection took.
pub fn indexed_timeline(faults: &[ScheduledFault]) -> Vec<(Duration, usize, FaultAction)> {
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
        .map(|(at, _, index, action)| (at, index, action))
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

    /// One fault of every kind.
    fn one_of_each() -> Vec<Fault> {
        let hosts = || vec!["server-1".to_owned()];
        vec![
            hole("client", "server-1"),
            Fault::Partition(Partition {
                a: vec!["client".into()],
                b: hosts(),
            }),
            Fault::OneWayPartition(OneWayPartition {
                from: vec!["client".into()],
                to: hosts(),
            }),
            Fault::ServerCrash(ServerCrash {
                hosts: hosts(),
                silent: true,
            }),
            Fault::SlowServer(SlowServer {
                hosts: hosts(),
                added_latency: Duration::from_millis(5),
            }),
            Fault::FailingServer(FailingServer {
                hosts: hosts(),
                failure_percent: 50,
                code: StatusCode::Unavailable,
            }),
            Fault::GracefulRestart(GracefulRestart {
                hosts: hosts(),
                drain_timeout: Duration::from_secs(1),
                downtime: Duration::from_secs(2),
            }),
            Fault::GoawayStorm(GoawayStorm {
                hosts: hosts(),
                every: None,
                mode: crate::server::GoawayMode::Abrupt,
            }),
            Fault::LossyLink(LossyLink {
                a: vec!["client".into()],
                b: hosts(),
                latency: None,
                jitter: None,
                loss_permille: 10,
            }),
        ]
    }

    /// A kind's name in trace lines is its script tag in snake case, so
    /// the two can never name different kinds; and every kind names its
    /// hosts.
    #[test]
    fn trace_names_are_the_script_tags() {
        for fault in one_of_each() {
            let table = toml::Table::try_from(&fault).expect("a fault serializes");
            let tag = table["kind"].as_str().expect("a kind tag");
            assert_eq!(tag, fault.name().replace('_', "-"));
            assert!(
                fault
                    .to_string()
                    .starts_with(&format!("kind={} ", fault.name()))
            );
            assert!(!fault.hosts().is_empty(), "{fault}");
        }
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
