//! `squall compare`: one script in both worlds, the simulation once (it is
//! deterministic) and kernel mode N times (it is not), measured by the same
//! code ([`measure`]) and set side by side ([`table`]). It is the
//! instrument that says how far the simulation's predictions are from a
//! real kernel's; docs/fidelity.md holds its tables for the built-in
//! scripts.

pub mod measure;
pub mod table;

use serde_json::json;
use squall_kernel::KernelError;

use crate::{Report, Script, report::run_script_kernel, run_script};

pub use measure::{Measurements, measure};
pub use table::Row;

/// A finished comparison.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub scenario: String,
    pub seed: u64,
    pub sim: Report,
    pub kernel: Vec<Report>,
    pub rows: Vec<Row>,
}

impl Comparison {
    /// True iff every row agrees.
    pub fn agree(&self) -> bool {
        self.rows.iter().all(|r| r.agree)
    }

    /// The table, with a heading and each world's verdict.
    pub fn text(&self) -> String {
        let verdict = |r: &Report| if r.passed() { "PASS" } else { "FAIL" };
        let mut out = format!(
            "compare {}: sim (seed {}, link latency {} ms) vs kernel ({} run(s), veth, latency ~0 ms)\n",
            self.scenario,
            self.seed,
            self.sim.world.link_latency().as_millis(),
            self.kernel.len()
        );
        out.push_str(&format!(
            "verdicts: sim {}, kernel {}\n",
            verdict(&self.sim),
            self.kernel
                .iter()
                .map(verdict)
                .collect::<Vec<_>>()
                .join(" ")
        ));
        let failing = std::iter::once(("sim".to_owned(), &self.sim)).chain(
            self.kernel
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("kernel run {}", i + 1), r)),
        );
        for (world, report) in failing {
            for invariant in report.invariants.iter().filter(|i| !i.ok) {
                out.push_str(&format!(
                    "{world}: FAIL {}: {}\n",
                    invariant.name, invariant.detail
                ));
            }
        }
        out.push('\n');
        out.push_str(&table::render(&self.rows));
        let disagree = self.rows.iter().filter(|r| !r.agree).count();
        out.push_str(&format!(
            "\n{} of {} rows agree (counts ±max(1, 10 %), times ±max(100 ms, 10 %)): {}\n",
            self.rows.len() - disagree,
            self.rows.len(),
            if disagree == 0 { "AGREE" } else { "DISAGREE" }
        ));
        out
    }

    pub fn json(&self) -> serde_json::Value {
        json!({
            "scenario": self.scenario,
            "seed": self.seed,
            "kernel_runs": self.kernel.len(),
            "tolerance": {"counts": "max(1, 10%)", "times": "max(100ms, 10%)"},
            "sim_passed": self.sim.passed(),
            "kernel_passed": self.kernel.iter().map(Report::passed).collect::<Vec<_>>(),
            "rows": table::json_rows(&self.rows),
            "agree": self.agree(),
        })
    }
}

/// Measures one report.
pub fn measure_report(report: &Report, script: &Script) -> Measurements {
    measure(&report.trace, &script.faults, &report.detections)
}

/// Runs `script` once in the simulation and `runs` times in kernel mode
/// (one after another: two at once would share the machine's two cores and
/// skew each other's timings), calling `on_run` before each kernel run.
pub fn compare(
    script: &Script,
    seed: u64,
    runs: usize,
    on_run: &mut dyn FnMut(usize),
) -> Result<Comparison, KernelError> {
    let sim = run_script(script, seed);
    let mut kernel = Vec::with_capacity(runs);
    for run in 0..runs {
        on_run(run);
        kernel.push(run_script_kernel(script, seed)?);
    }
    let sim_m = measure_report(&sim, script);
    let kernel_m: Vec<Measurements> = kernel.iter().map(|r| measure_report(r, script)).collect();
    Ok(Comparison {
        scenario: script.name.clone(),
        seed,
        rows: table::rows(&sim_m, &kernel_m),
        sim,
        kernel,
    })
}
