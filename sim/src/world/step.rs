//! Stepping a built world: the driver loop. It steps the simulation one
//! tick at a time, or over a provably idle stretch at once ([`Stepper`]),
//! applies each fault action at its exact simulated time, samples the
//! pool's connections for the stream-capacity check after every step, and
//! lets the servers settle once the client has finished.

use std::time::Duration;

use crate::{
    check::CapacityWatch,
    fault::{FaultAction, FaultContext, timeline},
    trace::{Recorder, TraceEvent},
};

use super::{NET_HOST, SETTLE, SimError, StepCount, WorldConfig, build::World};

/// Steps `world`, built from `config`, until the client has finished and
/// the servers have settled, or to the time limit.
pub(crate) fn drive(
    world: World,
    config: &WorldConfig,
    recorder: &Recorder,
    capacity: &mut CapacityWatch,
    steps: &mut StepCount,
    on_progress: &mut dyn FnMut(Duration),
) -> Result<(), SimError> {
    let World {
        mut sim,
        controls,
        watched,
    } = world;
    let hosts = config.host_names();
    let mut actions = timeline(&config.faults).into_iter().peekable();
    let mut next_progress = Duration::from_secs(1);
    let stepper = Stepper::new(config);
    loop {
        let now = sim.elapsed();
        if now >= next_progress {
            on_progress(now);
            next_progress += Duration::from_secs(1);
        }
        while let Some((_, action)) = actions.next_if(|(at, _)| *at <= now) {
            let mut ctx = FaultContext {
                sim: &mut sim,
                hosts: &hosts,
                controls: &controls,
                recorder,
                now,
                link_latency: config.link_latency,
            };
            apply(&mut ctx, action);
        }
        if now >= config.time_limit {
            return Err(SimError::TimeLimit(config.time_limit));
        }
        // The driver's own next event: a fault action, a progress report or
        // the time limit, each met at the start of a step as it would be
        // one tick at a time.
        let next_fault = actions.peek().map_or(Duration::MAX, |(at, _)| *at);
        let until = next_fault.min(next_progress).min(config.time_limit);
        let (ticks, stepped) = stepper.step(&mut sim, until, steps);
        if let Some(pool) = watched.lock().expect("watched pool lock").as_ref() {
            capacity.observe_steps(sim.elapsed(), &pool.loads(), ticks);
        }
        match stepped {
            Ok(true) => return settle(&mut sim, &stepper, steps),
            Ok(false) => {}
            Err(e) => return Err(SimError::Host(e.to_string())),
        }
    }
}

/// After the client finishes, servers keep running for [`SETTLE`], so the
/// trace shows which server connections closed and which were left open.
fn settle(
    sim: &mut turmoil::Sim<'_>,
    stepper: &Stepper,
    steps: &mut StepCount,
) -> Result<(), SimError> {
    let until = sim.elapsed() + SETTLE;
    while sim.elapsed() < until {
        stepper
            .step(sim, until, steps)
            .1
            .map_err(|e| SimError::Host(e.to_string()))?;
    }
    Ok(())
}

/// Advances the simulation one tick, or over an idle stretch at once.
///
/// A stretch is skipped only when turmoil's fork proves it empty
/// ([`turmoil::Sim::idle_for`]: no task to run, no timer, delivery or TCP
/// timer due), and never past `until`, the driver's next event, so the run
/// is the same as one tick at a time: same trace, same random draws.
struct Stepper {
    tick: Duration,
    skip_idle: bool,
}

impl Stepper {
    fn new(config: &WorldConfig) -> Self {
        Self {
            tick: config.tick,
            skip_idle: config.skip_idle,
        }
    }

    /// One step, of as many ticks as are provably idle and end no later
    /// than `until`; returns the ticks stepped and what turmoil answered.
    fn step(
        &self,
        sim: &mut turmoil::Sim<'_>,
        until: Duration,
        count: &mut StepCount,
    ) -> (u64, turmoil::Result<bool>) {
        let ticks = self.idle_ticks(sim, until);
        debug_assert!(ticks >= 1);
        count.ticks += ticks;
        count.steps += 1;
        if ticks == 1 {
            return (1, sim.step());
        }
        let ticks_u32 = u32::try_from(ticks).expect("idle_ticks is bounded by u32");
        (ticks, sim.step_by(self.tick * ticks_u32))
    }

    fn idle_ticks(&self, sim: &turmoil::Sim<'_>, until: Duration) -> u64 {
        if !self.skip_idle {
            return 1;
        }
        let Some(idle) = sim.idle_for() else {
            return 1;
        };
        let room = until.saturating_sub(sim.elapsed());
        let tick = self.tick.as_nanos();
        let ticks = idle.min(room).as_nanos() / tick;
        // A u32 of ticks is 49 days at 1 ms: far past any time limit.
        u64::try_from(ticks.clamp(1, u128::from(u32::MAX))).expect("clamped")
    }
}

/// Applies one fault action. The `fault_start`/`fault_heal` line comes
/// first; lines the fault records itself (e.g. `host_crash`) follow it.
fn apply(ctx: &mut FaultContext<'_, '_>, action: FaultAction) {
    match action {
        FaultAction::Inject(fault) => {
            ctx.record(NET_HOST, TraceEvent::FaultStart(fault.clone()));
            fault.inject(ctx);
        }
        FaultAction::Heal(fault) => {
            ctx.record(NET_HOST, TraceEvent::FaultHeal(fault.clone()));
            fault.heal(ctx);
        }
    }
}
