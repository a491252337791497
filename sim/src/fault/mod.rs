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
mod context;
mod failing_server;
mod goaway_storm;
mod graceful_restart;
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

    /// What the fault acts on, which decides how each world injects it.
    pub fn class(&self) -> FaultClass {
        match self {
            Fault::BlackHole(_)
            | Fault::Partition(_)
            | Fault::OneWayPartition(_)
            | Fault::LossyLink(_) => FaultClass::Network,
            Fault::ServerCrash(_) => FaultClass::Crash,
            Fault::SlowServer(_)
            | Fault::FailingServer(_)
            | Fault::GracefulRestart(_)
            | Fault::GoawayStorm(_) => FaultClass::Software,
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
        let known = |names: &[&str], among: &[String], what: &str| match names
            .iter()
            .find(|n| !among.iter().any(|h| h == *n))
        {
            Some(unknown) => Err(format!("fault {self} names unknown {what} `{unknown}`")),
            None => Ok(()),
        };
        let (network, software): (Vec<&str>, Vec<&str>) = match self {
            Fault::BlackHole(f) => (vec![f.a.as_str(), f.b.as_str()], vec![]),
            Fault::Partition(f) => (strs(&f.a).chain(strs(&f.b)).collect(), vec![]),
            Fault::LossyLink(f) => (strs(&f.a).chain(strs(&f.b)).collect(), vec![]),
            Fault::OneWayPartition(f) => (strs(&f.from).chain(strs(&f.to)).collect(), vec![]),
            Fault::ServerCrash(ServerCrash { hosts, .. })
            | Fault::SlowServer(SlowServer { hosts, .. })
            | Fault::FailingServer(FailingServer { hosts, .. })
            | Fault::GracefulRestart(GracefulRestart { hosts, .. })
            | Fault::GoawayStorm(GoawayStorm { hosts, .. }) => (vec![], strs(hosts).collect()),
        };
        if network.is_empty() && software.is_empty() {
            return Err(format!("fault {self} names no host"));
        }
        known(&network, hosts, "host")?;
        known(&software, servers, "server")?;
        match self {
            Fault::LossyLink(f) if f.loss_permille > 1000 => {
                Err(format!("fault {self}: loss_permille must be at most 1000"))
            }
            Fault::FailingServer(f) if f.failure_percent > 100 => {
                Err(format!("fault {self}: failure_percent must be at most 100"))
            }
            Fault::GoawayStorm(GoawayStorm {
                every: Some(every), ..
            }) if every.is_zero() => Err(format!("fault {self}: every must be greater than zero")),
            _ => Ok(()),
        }
    }
}

fn strs(names: &[String]) -> impl Iterator<Item = &str> {
    names.iter().map(String::as_str)
}

/// ` kind=... key=value`, as written in trace lines. Host sets are written
/// comma-separated.
impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |names: &[String]| names.join(",");
        let ms = |d: Duration| d.as_millis();
        match self {
            Fault::BlackHole(b) => write!(f, "kind=black_hole a={} b={}", b.a, b.b),
            Fault::Partition(p) => {
                write!(f, "kind=partition a={} b={}", list(&p.a), list(&p.b))
            }
            Fault::OneWayPartition(p) => write!(
                f,
                "kind=one_way_partition from={} to={}",
                list(&p.from),
                list(&p.to)
            ),
            Fault::ServerCrash(c) => write!(
                f,
                "kind=server_crash hosts={} silent={}",
                list(&c.hosts),
                c.silent
            ),
            Fault::SlowServer(s) => write!(
                f,
                "kind=slow_server hosts={} added_latency_ms={}",
                list(&s.hosts),
                ms(s.added_latency)
            ),
            Fault::FailingServer(s) => write!(
                f,
                "kind=failing_server hosts={} failure_percent={} code={:?}",
                list(&s.hosts),
                s.failure_percent,
                s.code.code()
            ),
            Fault::GracefulRestart(r) => write!(
                f,
                "kind=graceful_restart hosts={} drain_timeout_ms={} downtime_ms={}",
                list(&r.hosts),
                ms(r.drain_timeout),
                ms(r.downtime)
            ),
            Fault::LossyLink(l) => {
                write!(f, "kind=lossy_link a={} b={}", list(&l.a), list(&l.b))?;
                let opt = |d: Option<Duration>| d.map_or("-".to_owned(), |d| ms(d).to_string());
                write!(
                    f,
                    " latency_ms={} jitter_ms={} loss_permille={}",
                    opt(l.latency),
                    opt(l.jitter),
                    l.loss_permille
                )
            }
            Fault::GoawayStorm(g) => {
                write!(
                    f,
                    "kind=goaway_storm hosts={} mode={}",
                    list(&g.hosts),
                    g.mode.name()
                )?;
                match g.every {
                    Some(every) => write!(f, " every_ms={}", ms(every)),
                    None => f.write_str(" every_ms=-"),
                }
            }
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
