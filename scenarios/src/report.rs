//! Running a scenario and judging it: the report, its verdict, its JSON.

use serde::Serialize;
use squall_sim::{
    Trace,
    check::{self, Detection, Invariant},
    run,
};

use crate::scenario::Scenario;

/// Everything a run of a scenario showed.
#[derive(Debug, Clone)]
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    pub trace: Trace,
    pub detections: Vec<Detection>,
    pub invariants: Vec<Invariant>,
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
            "scenario {} seed {} trace_hash {}\nrpcs: {ok} ok, {failed} failed\n",
            self.scenario,
            self.seed,
            self.trace.hash()
        );
        for d in &self.detections {
            let detected = match (d.detected_at, d.latency()) {
                (Some(at), Some(latency)) => {
                    format!(
                        "detected at {} ms (+{} ms)",
                        at.as_millis(),
                        latency.as_millis()
                    )
                }
                _ => "never detected".to_owned(),
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
        serde_json::to_value(JsonReport {
            scenario: &self.scenario,
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
    seed: u64,
    passed: bool,
    trace_hash: String,
    trace_lines: usize,
    rpcs: JsonRpcs,
    detections: Vec<JsonDetection<'a>>,
    invariants: Vec<JsonInvariant<'a>>,
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
}

#[derive(Serialize)]
struct JsonInvariant<'a> {
    name: &'a str,
    ok: bool,
    detail: &'a str,
}

/// Runs `scenario` and checks every invariant that applies to it.
pub fn run_scenario(scenario: &Scenario) -> Report {
    let output = run(&scenario.world);
    let detections = check::detections(&output.trace);
    let mut invariants = vec![Invariant {
        name: "run_completed",
        ok: output.outcome.is_ok(),
        detail: match &output.outcome {
            Ok(()) => "the client finished within the time limit".to_owned(),
            Err(e) => e.to_string(),
        },
    }];
    if let Some(bound) = scenario.expect.detection_within {
        invariants.push(check::check_detection(&detections, bound));
    }
    invariants.push(check::check_no_rpc_on_dead_conn(&output.trace));
    Report {
        scenario: scenario.name.to_owned(),
        seed: scenario.world.seed,
        trace: output.trace,
        detections,
        invariants,
    }
}
