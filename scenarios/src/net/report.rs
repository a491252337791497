//! What one load run measured: [`LoadReport`], as a table for people and as
//! one JSON object for scripts (`squall load --json`, read back by
//! `squall bench-net`).

use std::{collections::BTreeMap, fmt::Write};

use serde::{Deserialize, Serialize};

/// One load run's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// `pool`, `channel` or `channels:N`.
    pub client: String,
    /// `echo` or `health`.
    pub method: String,
    pub target: String,
    /// RPC loops running at once, so RPCs in flight.
    pub concurrency: usize,
    /// Connections the client was asked to keep (`--connections` for the
    /// pool, N for `channels:N`, 1 for `channel`).
    pub connections: usize,
    /// Seconds measured: from the end of the warm-up until the last RPC
    /// ended.
    pub duration_s: f64,
    /// RPCs that succeeded in the measured time.
    pub ok: u64,
    /// Successful RPCs per second.
    pub qps: f64,
    /// Latency of every RPC started in the measured time, failed ones included.
    pub latency_ms: Latency,
    /// Failed RPCs by gRPC status code (`UNAVAILABLE`, ...). Empty when all
    /// succeeded.
    pub errors: BTreeMap<String, u64>,
    /// Peak resident memory of the load process, in KiB (`None` without procfs).
    pub rss_kib: Option<u64>,
    /// Connections the client opened from start to end, warm-up included:
    /// the pool's `Ready` events, or the channels' dials.
    pub connections_opened: u64,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl LoadReport {
    /// All RPCs measured, successful or not.
    pub fn requests(&self) -> u64 {
        self.ok + self.errors.values().sum::<u64>()
    }

    /// The report as one JSON object on one line.
    pub fn json(&self) -> String {
        serde_json::to_string(self).expect("a load report always serializes")
    }

    /// The report as a small table for a terminal.
    pub fn table(&self) -> String {
        let l = &self.latency_ms;
        let mut out = String::new();
        let mut row = |k: &str, v: String| {
            let _ = writeln!(out, "{k:<20} {v}");
        };
        row(
            "client",
            format!("{} ({} connection(s))", self.client, self.connections),
        );
        row("target", format!("{} ({})", self.target, self.method));
        row("concurrency", self.concurrency.to_string());
        row("measured", format!("{:.2} s", self.duration_s));
        row("requests", self.requests().to_string());
        row("qps", format!("{:.0}", self.qps));
        row(
            "latency ms",
            format!(
                "p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
                l.p50, l.p90, l.p99, l.p999, l.max
            ),
        );
        let errors = if self.errors.is_empty() {
            "none".to_owned()
        } else {
            self.errors
                .iter()
                .map(|(code, n)| format!("{code} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        row("errors", errors);
        row(
            "peak rss",
            self.rss_kib.map_or("unknown".to_owned(), |kib| {
                format!("{:.1} MiB", kib as f64 / 1024.0)
            }),
        );
        row("connections opened", self.connections_opened.to_string());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LoadReport {
        LoadReport {
            client: "pool".to_owned(),
            method: "echo".to_owned(),
            target: "http://127.0.0.1:1".to_owned(),
            concurrency: 16,
            connections: 2,
            duration_s: 5.0,
            ok: 1000,
            qps: 200.0,
            latency_ms: Latency {
                p50: 1.0,
                p90: 2.0,
                p99: 3.0,
                p999: 4.0,
                max: 5.0,
            },
            errors: BTreeMap::from([("UNAVAILABLE".to_owned(), 3)]),
            rss_kib: Some(4096),
            connections_opened: 2,
        }
    }

    /// Scripts (and `squall bench-net`) read these field names: changing
    /// one breaks them.
    #[test]
    fn json_has_the_documented_fields() {
        let value: serde_json::Value = serde_json::from_str(&sample().json()).unwrap();
        for field in [
            "client",
            "method",
            "target",
            "concurrency",
            "connections",
            "duration_s",
            "ok",
            "qps",
            "latency_ms",
            "errors",
            "rss_kib",
            "connections_opened",
        ] {
            assert!(value.get(field).is_some(), "missing {field}");
        }
        for p in ["p50", "p90", "p99", "p999", "max"] {
            assert!(value["latency_ms"][p].is_f64(), "latency_ms.{p}");
        }
        assert_eq!(value["errors"]["UNAVAILABLE"], 3);
        assert_eq!(value["rss_kib"], 4096);
    }

    #[test]
    fn json_round_trips() {
        let report = sample();
        let back: LoadReport = serde_json::from_str(&report.json()).unwrap();
        assert_eq!(back, report);
        assert_eq!(back.requests(), 1003);
    }

    #[test]
    fn table_names_errors_or_none() {
        let mut report = sample();
        assert!(report.table().contains("UNAVAILABLE 3"));
        report.errors.clear();
        assert!(report.table().contains("errors               none"));
    }
}
