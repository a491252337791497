//! The side-by-side table of `squall compare`: one row per measured
//! quantity, the simulation's value, the kernel's range over its runs, and
//! whether they agree within the tolerance.
//!
//! Tolerances: counts agree within ±max(1, 10 %), times within
//! ±max(100 ms, 10 %), of the kernel's range. The kernel is not
//! deterministic (scheduling, real timers), so one RPC more or less, or a
//! few milliseconds, is noise; the gaps this instrument exists to show are
//! whole outcomes (a connection that survives in one world and dies in the
//! other) or timings off by seconds. docs/fidelity.md says more.

use std::{collections::BTreeSet, time::Duration};

use serde::Serialize;

use super::measure::{CutEnd, Measurements, Phase};

/// One measured value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Count(u64),
    Time(Duration),
    /// How a cut-off connection ended.
    Cut(CutEnd),
    /// Not measured in this run (no such connection, no answer).
    Absent,
}

impl Value {
    fn text(&self) -> String {
        match self {
            Value::Count(n) => n.to_string(),
            Value::Time(d) => format!("{} ms", d.as_millis()),
            Value::Cut(CutEnd::Closed { after, cause }) => {
                format!("+{} ms {cause}", after.as_millis())
            }
            Value::Cut(CutEnd::Survived) => "survived".into(),
            Value::Cut(CutEnd::Open) => "open".into(),
            Value::Absent => "-".into(),
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub metric: String,
    pub sim: Value,
    /// One value per kernel run.
    pub kernel: Vec<Value>,
    pub agree: bool,
}

fn count_tolerance(n: u64) -> u64 {
    (n / 10).max(1)
}

fn time_tolerance(d: Duration) -> Duration {
    (d / 10).max(Duration::from_millis(100))
}

/// Whether the simulation's value lies within the kernel's range widened
/// by the tolerance at each end.
fn agrees(sim: &Value, kernel: &[Value]) -> bool {
    if kernel.is_empty() {
        return false;
    }
    let counts: Option<Vec<u64>> = kernel
        .iter()
        .map(|v| match v {
            Value::Count(n) => Some(*n),
            _ => None,
        })
        .collect();
    let times: Option<Vec<Duration>> = kernel
        .iter()
        .map(|v| match v {
            Value::Time(d) | Value::Cut(CutEnd::Closed { after: d, .. }) => Some(*d),
            _ => None,
        })
        .collect();
    match sim {
        Value::Count(s) => counts.is_some_and(|k| {
            let (lo, hi) = (k.iter().min().copied(), k.iter().max().copied());
            let (lo, hi) = (lo.unwrap_or(0), hi.unwrap_or(0));
            *s + count_tolerance(lo) >= lo && *s <= hi + count_tolerance(hi)
        }),
        Value::Time(s) => times.is_some_and(|k| within(*s, &k)),
        Value::Cut(CutEnd::Closed { after, cause }) => {
            let same_cause = kernel
                .iter()
                .all(|v| matches!(v, Value::Cut(CutEnd::Closed { cause: c, .. }) if c == cause));
            same_cause && times.is_some_and(|k| within(*after, &k))
        }
        Value::Cut(end) => kernel.iter().all(|v| v == &Value::Cut(end.clone())),
        Value::Absent => kernel.iter().all(|v| *v == Value::Absent),
    }
}

fn within(s: Duration, kernel: &[Duration]) -> bool {
    let (Some(&lo), Some(&hi)) = (kernel.iter().min(), kernel.iter().max()) else {
        return false;
    };
    s + time_tolerance(lo) >= lo && s <= hi + time_tolerance(hi)
}

/// Builds the rows from the simulation's run and the kernel's runs.
pub fn rows(sim: &Measurements, kernel: &[Measurements]) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut push = |metric: String, value: &dyn Fn(&Measurements) -> Value| {
        let sim_value = value(sim);
        let kernel_values: Vec<Value> = kernel.iter().map(value).collect();
        let agree = agrees(&sim_value, &kernel_values);
        rows.push(Row {
            metric,
            sim: sim_value,
            kernel: kernel_values,
            agree,
        });
    };
    let all = || std::iter::once(sim).chain(kernel.iter());

    let cuts: BTreeSet<String> = all().flat_map(|m| m.cuts.keys().cloned()).collect();
    for key in cuts {
        push(format!("cut {key}"), &|m| {
            m.cuts.get(&key).cloned().map_or(Value::Absent, Value::Cut)
        });
    }
    for phase in [Phase::Before, Phase::During, Phase::After] {
        push(format!("rpcs sent {}", phase.name()), &|m| {
            Value::Count(m.sent.get(&phase).copied().unwrap_or(0))
        });
        let codes: BTreeSet<String> = all()
            .flat_map(|m| m.failed.keys())
            .filter(|(p, _)| *p == phase)
            .map(|(_, code)| code.clone())
            .collect();
        push(format!("rpcs failed {}", phase.name()), &|m| {
            Value::Count(
                m.failed
                    .iter()
                    .filter(|((p, _), _)| *p == phase)
                    .map(|(_, n)| n)
                    .sum(),
            )
        });
        for code in codes {
            push(format!("rpcs failed {} {code}", phase.name()), &|m| {
                Value::Count(m.failed.get(&(phase, code.clone())).copied().unwrap_or(0))
            });
        }
    }
    let endpoints: BTreeSet<String> = all()
        .flat_map(|m| m.dials.keys().chain(m.backoffs.keys()).cloned())
        .collect();
    for endpoint in endpoints {
        push(format!("dials {endpoint}"), &|m| {
            Value::Count(m.dials.get(&endpoint).copied().unwrap_or(0))
        });
        push(format!("backoffs {endpoint}"), &|m| {
            Value::Count(m.backoffs.get(&endpoint).copied().unwrap_or(0))
        });
    }
    let heals: BTreeSet<String> = all()
        .flat_map(|m| m.heal_to_first_ok.keys().cloned())
        .collect();
    for heal in heals {
        push(format!("heal to first ok {heal}"), &|m| {
            m.heal_to_first_ok
                .get(&heal)
                .copied()
                .flatten()
                .map_or(Value::Absent, Value::Time)
        });
    }
    for phase in [Phase::Before, Phase::During, Phase::After] {
        for (name, pick) in [("p50", 0), ("p99", 1)] {
            push(format!("latency {name} {}", phase.name()), &|m| {
                m.latency.get(&phase).map_or(Value::Absent, |(p50, p99)| {
                    Value::Time(if pick == 0 { *p50 } else { *p99 })
                })
            });
        }
    }
    rows
}

/// The kernel's values as `min–max` (or the one value, when all agree).
fn kernel_text(values: &[Value]) -> String {
    let texts: Vec<String> = values.iter().map(Value::text).collect();
    let mut distinct = texts.clone();
    distinct.dedup();
    let counts: Option<Vec<u64>> = values
        .iter()
        .map(|v| match v {
            Value::Count(n) => Some(*n),
            _ => None,
        })
        .collect();
    let times: Option<Vec<Duration>> = values
        .iter()
        .map(|v| match v {
            Value::Time(d) => Some(*d),
            _ => None,
        })
        .collect();
    if distinct.len() <= 1 {
        return distinct.pop().unwrap_or_else(|| "-".into());
    }
    if let Some(c) = counts {
        return format!(
            "{}–{}",
            c.iter().min().unwrap_or(&0),
            c.iter().max().unwrap_or(&0)
        );
    }
    if let Some(t) = times {
        let (lo, hi) = (t.iter().min(), t.iter().max());
        if let (Some(lo), Some(hi)) = (lo, hi) {
            return format!("{}–{} ms", lo.as_millis(), hi.as_millis());
        }
    }
    texts.join(" / ")
}

/// The table as text, columns aligned.
pub fn render(rows: &[Row]) -> String {
    let header = ["metric", "sim", "kernel (min–max)", "agree"];
    let cells: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            [
                r.metric.clone(),
                r.sim.text(),
                kernel_text(&r.kernel),
                if r.agree { "yes" } else { "NO" }.to_owned(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 4]| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let pad = w - cell.chars().count();
            out.push_str(cell);
            if i + 1 < cells.len() {
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push('\n');
        out
    };
    let mut out = line(header);
    for row in &cells {
        out.push_str(&line([&row[0], &row[1], &row[2], &row[3]]));
    }
    out
}

/// A row in `--json`.
#[derive(Debug, Serialize)]
pub struct JsonRow {
    pub metric: String,
    pub sim: String,
    pub kernel: Vec<String>,
    pub agree: bool,
}

pub fn json_rows(rows: &[Row]) -> Vec<JsonRow> {
    rows.iter()
        .map(|r| JsonRow {
            metric: r.metric.clone(),
            sim: r.sim.text(),
            kernel: r.kernel.iter().map(Value::text).collect(),
            agree: r.agree,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn counts_agree_within_one_or_ten_percent() {
        assert!(agrees(
            &Value::Count(3),
            &[Value::Count(2), Value::Count(4)]
        ));
        assert!(agrees(&Value::Count(1), &[Value::Count(0)]));
        assert!(!agrees(&Value::Count(3), &[Value::Count(0)]));
        assert!(agrees(&Value::Count(110), &[Value::Count(100)]));
        assert!(!agrees(&Value::Count(112), &[Value::Count(100)]));
        assert!(!agrees(&Value::Count(1), &[]));
    }

    #[test]
    fn times_agree_within_100_ms_or_ten_percent() {
        assert!(agrees(&Value::Time(ms(2960)), &[Value::Time(ms(2700))]));
        assert!(!agrees(
            &Value::Time(ms(2960)),
            &[Value::Time(ms(1300)), Value::Time(ms(2500))]
        ));
        assert!(agrees(&Value::Time(ms(150)), &[Value::Time(ms(60))]));
    }

    #[test]
    fn a_cut_agrees_only_on_the_same_end_and_cause() {
        let closed = |after, cause: &str| {
            Value::Cut(CutEnd::Closed {
                after: ms(after),
                cause: cause.into(),
            })
        };
        assert!(agrees(
            &closed(2960, "keepalive_timeout"),
            &[closed(2950, "keepalive_timeout")]
        ));
        assert!(!agrees(
            &closed(2960, "keepalive_timeout"),
            &[closed(2950, "transport")]
        ));
        assert!(!agrees(
            &closed(2960, "keepalive_timeout"),
            &[Value::Cut(CutEnd::Survived)]
        ));
        assert!(agrees(
            &Value::Cut(CutEnd::Survived),
            &[Value::Cut(CutEnd::Survived)]
        ));
        assert!(!agrees(&Value::Absent, &[Value::Cut(CutEnd::Survived)]));
    }

    #[test]
    fn the_table_aligns_and_marks_disagreement() {
        let rows = vec![Row {
            metric: "rpcs failed during".into(),
            sim: Value::Count(3),
            kernel: vec![Value::Count(0), Value::Count(1)],
            agree: false,
        }];
        let text = render(&rows);
        let mut lines = text.lines();
        assert_eq!(
            lines.next().map(str::trim_end),
            Some("metric              sim  kernel (min–max)  agree")
        );
        assert_eq!(
            lines.next(),
            Some("rpcs failed during  3    0–1               NO")
        );
    }
}
