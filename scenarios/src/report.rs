//! Running a script and judging it: the report, its verdict, its JSON.

use serde::Serialize;
use squall_pool::CloseCause;
use std::time::Duration;

use squall_sim::{
    Trace, TraceEvent,
    check::{Detection, Invariant},
    run_observed,
};

use crate::{
    judge::judge,
    script::{LINK_LATENCY, Script},
    worlds::{WorldError, Worlds},
};

/// Everything a run of a script showed.
#[derive(Debug, Clone)]
pub struct Report {
    /// The script's name.
    pub scenario: String,
    pub seed: u64,
    pub trace: Trace,
    pub detections: Vec<Detection>,
    pub invariants: Vec<Invariant>,
    /// The script's expectations, echoed in `--json`.
    pub expect: crate::script::Expect,
    /// Where it ran.
    pub world: World,
}

impl Report {
    /// True iff every invariant held.
    pub fn passed(&self) -> bool {
        self.invariants.iter().all(|i| i.ok)
    }

    /// (ok, failed) RPC counts.
    pub fn rpc_counts(&self) -> (usize, usize) {
        let ok = self.trace.rpcs().filter(|(_, r)| r.result.is_ok()).count();
        let total = self.trace.rpcs().count();
        (ok, total - ok)
    }

    /// The verdict block printed after a trace.
    pub fn verdict(&self) -> String {
        let (ok, failed) = self.rpc_counts();
        let mut out = format!(
            "scenario {} seed {} trace_hash {}\n{}\nrpcs: {ok} ok, {failed} failed\n",
            self.scenario,
            self.seed,
            self.trace.hash(),
            self.world.describe()
        );
        for d in &self.detections {
            let detected = match (d.latency(), d.survived_heal, &d.cause) {
                (Some(latency), _, _) => format!(
                    "detected at {} ms (+{} ms)",
                    d.fault_at.as_millis() + latency.as_millis(),
                    latency.as_millis()
                ),
                (None, Some(healed_at), _) => format!(
                    "outlived the fault (healed at {} ms, answered after)",
                    healed_at.as_millis()
                ),
                (None, None, Some(CloseCause::Shutdown)) => {
                    "never detected (closed by the pool's shutdown)".to_owned()
                }
                (None, None, _) => "never detected".to_owned(),
            };
            out.push_str(&format!(
                "detection: conn {} to {}: fault at {} ms, {detected}\n",
                d.conn,
                d.endpoint,
                d.fault_at.as_millis()
            ));
        }
        for i in &self.invariants {
            let mark = if i.ok { "ok  " } else { "FAIL" };
            out.push_str(&format!("{mark} {}: {}\n", i.name, i.detail));
        }
        out.push_str(if self.passed() {
            "verdict: PASS\n"
        } else {
            "verdict: FAIL\n"
        });
        out
    }

    /// The `--json` form.
    pub fn json(&self) -> serde_json::Value {
        let (ok, failed) = self.rpc_counts();
        let ms = |d: std::time::Duration| d.as_millis() as u64;
        let tasks_left = self.trace.lines.iter().find_map(|line| match line.event {
            TraceEvent::PoolShutdown { tasks_left, .. } => Some(tasks_left),
            _ => None,
        });
        serde_json::to_value(JsonReport {
            scenario: &self.scenario,
            world: JsonWorld {
                net: self.world.net(),
                link_latency_ms: ms(self.world.link_latency()),
            },
            expect: JsonExpect {
                detection_within_ms: self.expect.detection_within.map(ms),
                max_failed_rpcs: self.expect.max_failed_rpcs,
                no_leaks: self.expect.no_leaks,
            },
            measured: JsonMeasured {
                failed_rpcs: failed,
                worst_detection_ms: self
                    .detections
                    .iter()
                    .filter_map(|d| d.latency())
                    .max()
                    .map(ms),
                undetected: self
                    .detections
                    .iter()
                    .filter(|d| d.detected_at.is_none())
                    .count(),
                slowest_rpc_ms: self
                    .trace
                    .rpcs()
                    .map(|(line, rpc)| ms(line.at.saturating_sub(rpc.sent_at)))
                    .max(),
                pool_tasks_left: tasks_left,
            },
            seed: self.seed,
            passed: self.passed(),
            trace_hash: self.trace.hash(),
            trace_lines: self.trace.lines.len(),
            rpcs: JsonRpcs { ok, failed },
            detections: self
                .detections
                .iter()
                .map(|d| JsonDetection {
                    conn: d.conn.0,
                    endpoint: &d.endpoint,
                    fault_at_ms: ms(d.fault_at),
                    detected_at_ms: d.detected_at.map(ms),
                    latency_ms: d.latency().map(ms),
                    cause: d.cause.as_ref().map(ToString::to_string),
                    survived_heal_ms: d.survived_heal.map(ms),
                })
                .collect(),
            invariants: self
                .invariants
                .iter()
                .map(|i| JsonInvariant {
                    name: i.name,
                    ok: i.ok,
                    detail: &i.detail,
                })
                .collect(),
        })
        .expect("the report is plain data")
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    scenario: &'a str,
    world: JsonWorld,
    expect: JsonExpect,
    measured: JsonMeasured,
    seed: u64,
    passed: bool,
    trace_hash: String,
    trace_lines: usize,
    rpcs: JsonRpcs,
    detections: Vec<JsonDetection<'a>>,
    invariants: Vec<JsonInvariant<'a>>,
}

/// Where the run happened.
#[derive(Serialize)]
struct JsonWorld {
    net: &'static str,
    link_latency_ms: u64,
}

/// What the script asked for.
#[derive(Serialize)]
struct JsonExpect {
    detection_within_ms: Option<u64>,
    max_failed_rpcs: Option<u64>,
    no_leaks: bool,
}

/// What the run measured, for the expectations and beyond.
#[derive(Serialize)]
struct JsonMeasured {
    failed_rpcs: usize,
    /// Longest time from a fault to the pool closing a cut-off connection.
    worst_detection_ms: Option<u64>,
    /// Cut-off connections the pool never closed.
    undetected: usize,
    /// Longest time from sending an RPC to its end.
    slowest_rpc_ms: Option<u64>,
    /// Tasks the pool's shutdown left running (`None`: no pool shutdown).
    pool_tasks_left: Option<usize>,
}

#[derive(Serialize)]
struct JsonRpcs {
    ok: usize,
    failed: usize,
}

#[derive(Serialize)]
struct JsonDetection<'a> {
    conn: u64,
    endpoint: &'a str,
    fault_at_ms: u64,
    detected_at_ms: Option<u64>,
    latency_ms: Option<u64>,
    /// How the connection was closed (`shutdown`: by the pool's own
    /// shutdown, not a detection), if it was.
    cause: Option<String>,
    /// The fault's heal, if the connection outlived it.
    survived_heal_ms: Option<u64>,
}

#[derive(Serialize)]
struct JsonInvariant<'a> {
    name: &'a str,
    ok: bool,
    detail: &'a str,
}

/// Runs `script` with `seed` and checks every invariant that applies, in
/// squall's own world: a script that names a user's world runs with
/// [`run_script_in`].
pub fn run_script(script: &Script, seed: u64) -> Report {
    run_script_observed(script, seed, &mut |_| {})
}

/// [`run_script`], reporting simulated time reached once per simulated
/// second (see `squall_sim::run_observed`).
pub fn run_script_observed(
    script: &Script,
    seed: u64,
    on_progress: &mut dyn FnMut(std::time::Duration),
) -> Report {
    run_world_observed(script, seed, &script.world(seed), on_progress)
}

/// [`run_script_observed`] on `world`, the script's world (`script.world(seed)`)
/// with its simulator knobs changed, such as `skip_idle`: what the script
/// says of hosts, load and faults must be left as it is, since the verdict
/// is judged against the script.
pub fn run_world_observed(
    script: &Script,
    seed: u64,
    world: &squall_sim::WorldConfig,
    on_progress: &mut dyn FnMut(std::time::Duration),
) -> Report {
    debug_assert_eq!(world.seed, seed, "the world runs the report's seed");
    let output = run_observed(world, on_progress);
    judge(
        script,
        seed,
        output,
        World::Sim {
            link_latency: LINK_LATENCY,
        },
        world.user.as_ref(),
    )
}

/// [`run_script`] for a script that may name a user's world: run in it,
/// its invariants checked beside squall's. `Err` if the script names a
/// world `worlds` does not hold, or does not fit the one it names.
pub fn run_script_in(script: &Script, seed: u64, worlds: &Worlds) -> Result<Report, WorldError> {
    let world = worlds.world_of(script, seed)?;
    Ok(run_world_observed(script, seed, &world, &mut |_| {}))
}

/// Runs `script` in kernel mode (real Linux networking, see
/// `squall_kernel`) and checks the same invariants, in squall's own world.
/// `Err` when kernel mode cannot run here or cannot express the script.
pub fn run_script_kernel(script: &Script, seed: u64) -> Result<Report, squall_kernel::KernelError> {
    run_kernel_world(script, seed, &script.world(seed))
}

/// [`run_script_kernel`] for a script that may name a user's world.
pub fn run_script_kernel_in(
    script: &Script,
    seed: u64,
    worlds: &Worlds,
) -> Result<Report, KernelRunError> {
    let config = worlds.world_of(script, seed)?;
    Ok(run_kernel_world(script, seed, &config)?)
}

/// `config`, the world of `script`, run in kernel mode and judged.
fn run_kernel_world(
    script: &Script,
    seed: u64,
    config: &squall_sim::WorldConfig,
) -> Result<Report, squall_kernel::KernelError> {
    let (output, world) = squall_kernel::run(config)?;
    Ok(judge(
        script,
        seed,
        output,
        World::Kernel {
            lab: world.lab,
            link_latency: world.link_latency,
        },
        config.user.as_ref(),
    ))
}

/// Why a kernel-mode run of a script did not happen.
#[derive(Debug, thiserror::Error)]
pub enum KernelRunError {
    #[error(transparent)]
    World(#[from] WorldError),
    #[error(transparent)]
    Kernel(#[from] squall_kernel::KernelError),
}

/// How much later than an invariant's bound kernel mode may see a thing
/// happen. tokio's timers round up to the next millisecond and fire when
/// their thread is next scheduled; on two busy cores that was seen to cost
/// a few milliseconds (an RPC ending 1 ms past its deadline). 50 ms keeps
/// such noise out of the verdicts while any real violation (a deadline
/// missed by seconds, a zombie found a keepalive period late) still fails.
pub const KERNEL_TIMING_SLACK: Duration = Duration::from_millis(50);

/// Which world a report's run happened in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum World {
    /// turmoil's simulated network, with this one-way link latency.
    Sim { link_latency: Duration },
    /// Real Linux networking in the namespaces of lab `lab`.
    Kernel { lab: String, link_latency: Duration },
}

impl World {
    /// `sim` or `kernel`, as `--net` names them.
    pub fn net(&self) -> &'static str {
        match self {
            World::Sim { .. } => "sim",
            World::Kernel { .. } => "kernel",
        }
    }

    pub fn link_latency(&self) -> Duration {
        match self {
            World::Sim { link_latency } | World::Kernel { link_latency, .. } => *link_latency,
        }
    }

    /// How much later than a bound a real clock may see a thing happen:
    /// zero in the simulation, where time is exact; in kernel mode, the
    /// timer granularity plus thread scheduling on a loaded machine
    /// ([`KERNEL_TIMING_SLACK`]).
    pub fn timing_slack(&self) -> Duration {
        match self {
            World::Sim { .. } => Duration::ZERO,
            World::Kernel { .. } => KERNEL_TIMING_SLACK,
        }
    }

    fn describe(&self) -> String {
        match self {
            World::Sim { link_latency } => format!(
                "world: sim (turmoil, simulated time), link latency {} ms",
                link_latency.as_millis()
            ),
            World::Kernel { lab, .. } => format!(
                "world: kernel (Linux namespaces {lab}-*, veth links: latency ~0 ms, monotonic time)"
            ),
        }
    }
}
