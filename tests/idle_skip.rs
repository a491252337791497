//! Skipping idle simulated time changes nothing but the cost of a run.
//!
//! The world driver jumps over stretches in which nothing can happen (no
//! task to run, no timer, message, TCP timer or fault due) in one step
//! instead of one tick at a time (`WorldConfig::skip_idle`, on by default;
//! `squall run --no-skip` turns it off). Users rely on a skipped run being
//! the very run they would get tick by tick: the same trace to the byte,
//! the same verdict, the same replay. Each built-in script is run both ways
//! here and compared; and the skipping must actually happen, or production
//! length scripts would cost what they did before.

use std::time::Duration;

use squall_scenarios::{Script, library};
use squall_sim::{RunOutput, run};

fn run_both_ways(script: &Script) -> (RunOutput, RunOutput) {
    let seed = script.default_seed();
    let mut world = script.world(seed);
    world.skip_idle = true;
    let skipped = run(&world);
    world.skip_idle = false;
    let ticked = run(&world);
    (skipped, ticked)
}

/// Runs `script` both ways and asserts the runs are the same.
fn assert_same_both_ways(name: &str, script: &Script) {
    let (skipped, ticked) = run_both_ways(script);
    if let Some((line, ours, theirs)) = skipped.trace.first_divergence(&ticked.trace) {
        panic!(
            "{name}: traces differ (hashes {} vs {}), first at line {line}:\n  skipped: {ours}\n  ticked:  {theirs}\nreplay both: squall run {name} / squall run {name} --no-skip",
            skipped.trace.hash(),
            ticked.trace.hash(),
        );
    }
    assert_eq!(skipped.trace.text(), ticked.trace.text(), "{name}");
    assert_eq!(skipped.outcome, ticked.outcome, "{name}: outcomes differ");
    assert_eq!(
        skipped.capacity.samples, ticked.capacity.samples,
        "{name}: a skipped stretch must count as the steps it covers"
    );
    assert_eq!(
        skipped.steps.ticks, ticked.steps.ticks,
        "{name}: both runs cover the same simulated ticks"
    );
    assert_eq!(
        ticked.steps.steps, ticked.steps.ticks,
        "{name}: without skipping, one step per tick"
    );
    assert!(
        skipped.steps.steps <= ticked.steps.steps,
        "{name}: skipping never adds steps"
    );
}

/// Scripts longer than this (the production-settings ones, hours long)
/// cost a minute or more tick by tick in a debug build: they run in a test
/// of their own, in parallel.
const LONG: Duration = Duration::from_secs(600);

/// Built-in scripts by name.
type Builtins = Vec<(&'static str, Script)>;

/// The built-in scripts, loaded, split into short and long.
fn builtins() -> (Builtins, Builtins) {
    let names = library::names();
    assert!(!names.is_empty(), "no built-in scripts");
    names
        .into_iter()
        .map(|name| {
            (
                name,
                library::builtin(name).unwrap_or_else(|e| panic!("{e}")),
            )
        })
        .partition(|(_, script)| script.duration <= LONG)
}

#[test]
fn every_short_builtin_script_runs_the_same_with_and_without_skipping() {
    let (short, _) = builtins();
    assert!(
        short.len() >= 10,
        "expected the fault library, got {}",
        short.len()
    );
    for (name, script) in &short {
        assert_same_both_ways(name, script);
    }
}

/// The production-settings scripts: tick by tick they are millions of
/// steps, which is why skipping exists; each runs on a thread of its own.
#[test]
fn every_long_builtin_script_runs_the_same_with_and_without_skipping() {
    let (_, long) = builtins();
    assert!(!long.is_empty(), "expected production-length scripts");
    std::thread::scope(|scope| {
        for (name, script) in &long {
            scope.spawn(move || assert_same_both_ways(name, script));
        }
    });
}

/// nat-keepalive-holds is 600 simulated seconds of an RPC every 10 s and
/// keepalive PINGs every 2 s: idle nearly all the time. Tick by tick that
/// is 600,000 steps; a run that skips must take a small fraction of them,
/// or the skipping has silently stopped working.
#[test]
fn an_idle_world_takes_far_fewer_steps_than_ticks() {
    let script = library::builtin("nat-keepalive-holds").expect("built-in");
    let mut world = script.world(script.default_seed());
    world.skip_idle = true;
    let output = run(&world);
    assert_eq!(output.outcome, Ok(()));
    let squall_sim::StepCount { ticks, steps } = output.steps;
    assert!(ticks >= 600_000, "600 s at 1 ms ticks, got {ticks}");
    assert!(
        steps * 20 < ticks,
        "expected under 5 % of {ticks} ticks as steps, took {steps}"
    );
}
