//! `squall bench-net`: squall's pool against one tonic `Channel` and N tonic
//! `Channel`s round-robin, at several concurrencies, in one run on one
//! machine, printed as markdown tables ready for `docs/benchmarks.md`.
//!
//! The server is `squall serve` in a process of its own, and every cell is
//! `squall load --json` in a fresh process, so each cell's peak RSS is its
//! own and no cell inherits another's heap or threads. Within a
//! concurrency the clients run one after another, so a machine whose load
//! drifts affects them alike.

use std::{
    fmt::Write as _,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde::Serialize;

use super::{
    args::{ClientSpec, Method},
    report::LoadReport,
};

/// The line `squall serve` prints first, followed by its URL.
pub const LISTENING: &str = "listening on";

/// What to compare.
#[derive(Debug, Clone)]
pub struct CompareConfig {
    /// The `squall` binary to run as server and load generator.
    pub exe: PathBuf,
    pub concurrencies: Vec<usize>,
    /// Measured time per cell.
    pub duration: Duration,
    /// Unmeasured time per cell before that.
    pub warmup: Duration,
    /// The pool's connections, and the N of `channels:N`.
    pub connections: usize,
    pub method: Method,
}

/// Why the comparison stopped.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("cannot start `{exe} {args}`: {source}")]
    Spawn {
        exe: String,
        args: String,
        source: std::io::Error,
    },
    #[error("`squall serve` did not say where it listens (got {0:?})")]
    NoAddress(String),
    #[error("`squall load --client {client} --concurrency {concurrency}` failed: {detail}")]
    Load {
        client: String,
        concurrency: usize,
        detail: String,
    },
}

/// Every cell's report, in run order.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub cores: usize,
    /// `/proc/loadavg`'s first three fields before and after the run.
    pub load_average_before: String,
    pub load_average_after: String,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub connections: usize,
    pub reports: Vec<LoadReport>,
}

/// Kills the server process when the comparison ends, however it ends.
struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the comparison; `progress` hears of each cell as it starts.
pub fn run(
    config: &CompareConfig,
    mut progress: impl FnMut(&str),
) -> Result<Comparison, CompareError> {
    let load_average_before = load_average();
    let (server, url) = start_server(&config.exe)?;
    let clients = [
        ClientSpec::Channel,
        ClientSpec::Channels(config.connections),
        ClientSpec::Pool,
    ];
    let mut reports = Vec::new();
    for &concurrency in &config.concurrencies {
        for client in clients {
            progress(&format!("concurrency {concurrency}, {client}"));
            reports.push(load_cell(config, &url, client, concurrency)?);
        }
    }
    drop(server);
    Ok(Comparison {
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average_before,
        load_average_after: load_average(),
        duration_s: config.duration.as_secs_f64(),
        warmup_s: config.warmup.as_secs_f64(),
        connections: config.connections,
        reports,
    })
}

fn spawn_error(exe: &Path, args: &[String], source: std::io::Error) -> CompareError {
    CompareError::Spawn {
        exe: exe.display().to_string(),
        args: args.join(" "),
        source,
    }
}

/// Starts `squall serve` on a free loopback port and reads its URL.
fn start_server(exe: &Path) -> Result<(ServerProcess, String), CompareError> {
    let args = ["serve", "--addr", "127.0.0.1:0"].map(String::from);
    let mut child = Command::new(exe)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_error(exe, &args, e))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let server = ServerProcess(child);
    let mut line = String::new();
    // The server prints this line first and nothing after, so reading it
    // to its end cannot block on a full pipe later.
    let _ = BufReader::new(stdout).read_line(&mut line);
    let url = line
        .trim()
        .strip_prefix(LISTENING)
        .map(|rest| rest.trim().to_owned())
        .filter(|url| url.starts_with("http://"))
        .ok_or_else(|| CompareError::NoAddress(line.clone()))?;
    Ok((server, url))
}

/// One `squall load --json` process.
fn load_cell(
    config: &CompareConfig,
    url: &str,
    client: ClientSpec,
    concurrency: usize,
) -> Result<LoadReport, CompareError> {
    let args: Vec<String> = [
        "load",
        "--target",
        url,
        "--client",
        &client.to_string(),
        "--method",
        &config.method.to_string(),
        "--concurrency",
        &concurrency.to_string(),
        "--duration",
        &format!("{}ms", config.duration.as_millis()),
        "--warmup",
        &format!("{}ms", config.warmup.as_millis()),
        "--connections",
        &config.connections.to_string(),
        "--json",
    ]
    .map(String::from)
    .to_vec();
    let output = Command::new(&config.exe)
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| spawn_error(&config.exe, &args, e))?;
    let failed = |detail: String| CompareError::Load {
        client: client.to_string(),
        concurrency,
        detail,
    };
    if !output.status.success() {
        return Err(failed(String::from_utf8_lossy(&output.stderr).into_owned()));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| failed(format!("unreadable report: {e}")))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

impl Comparison {
    /// The run as markdown: the setup, every cell, and the pool's ratios
    /// with the goals they are read against.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} cores; load average before {}, after {}; {} s measured per cell after {} s warm-up; pool and channels:N with {} connections.\n",
            self.cores,
            self.load_average_before,
            self.load_average_after,
            self.duration_s,
            self.warmup_s,
            self.connections
        );
        out.push_str("| concurrency | client | QPS | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | conns opened | peak RSS MiB |\n");
        out.push_str(
            "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        );
        for r in &self.reports {
            let l = &r.latency_ms;
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {} | {} |",
                r.concurrency,
                r.client,
                r.qps,
                l.p50,
                l.p90,
                l.p99,
                l.p999,
                l.max,
                r.errors.values().sum::<u64>(),
                r.connections_opened,
                r.rss_kib
                    .map_or("?".to_owned(), |kib| format!("{:.1}", kib as f64 / 1024.0)),
            );
        }
        out.push('\n');
        out.push_str("| concurrency | pool/channel QPS | pool/channel p50 | pool/channels:N QPS | goal | met |\n");
        out.push_str("| ---: | ---: | ---: | ---: | --- | --- |\n");
        for ratio in self.ratios() {
            let _ = writeln!(
                out,
                "| {} | {:.2} | {:.2} | {:.2} | {} | {} |",
                ratio.concurrency,
                ratio.qps_vs_channel,
                ratio.p50_vs_channel,
                ratio.qps_vs_channels,
                ratio.goal,
                ratio.verdict()
            );
        }
        out
    }

    /// The pool's ratios per concurrency, for every concurrency that has
    /// all three clients.
    pub fn ratios(&self) -> Vec<Ratio> {
        let mut concurrencies: Vec<usize> = self.reports.iter().map(|r| r.concurrency).collect();
        concurrencies.dedup();
        concurrencies
            .into_iter()
            .filter_map(|c| {
                let find = |pred: &dyn Fn(&str) -> bool| {
                    self.reports
                        .iter()
                        .find(|r| r.concurrency == c && pred(&r.client))
                };
                let pool = find(&|n| n == "pool")?;
                let channel = find(&|n| n == "channel")?;
                let channels = find(&|n| n.starts_with("channels:"))?;
                Some(Ratio::new(c, pool, channel, channels))
            })
            .collect()
    }
}

/// The pool against the others at one concurrency.
#[derive(Debug, Clone, PartialEq)]
pub struct Ratio {
    pub concurrency: usize,
    pub qps_vs_channel: f64,
    /// Below 1 is better: the pool's median is lower.
    pub p50_vs_channel: f64,
    pub qps_vs_channels: f64,
    pub goal: &'static str,
    /// How far the pool is from the goal: >= 0 met, < 0 missed by that
    /// fraction.
    pub margin: f64,
}

impl Ratio {
    fn new(
        concurrency: usize,
        pool: &LoadReport,
        channel: &LoadReport,
        channels: &LoadReport,
    ) -> Self {
        let div = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        let qps_vs_channel = div(pool.qps, channel.qps);
        let p50_vs_channel = div(pool.latency_ms.p50, channel.latency_ms.p50);
        let qps_vs_channels = div(pool.qps, channels.qps);
        // The goals, read on a 2-core machine: at one RPC in flight
        // the pool costs at most 3 % of median latency; at 256 and more it
        // doubles one channel's throughput; never below N channels.
        let (goal, margin) = if concurrency == 1 {
            (
                "p50 ≤ 1.03× channel, QPS ≥ channels:N",
                (1.03 - p50_vs_channel).min(qps_vs_channels - 1.0),
            )
        } else if concurrency >= 256 {
            (
                "QPS ≥ 2× channel, ≥ channels:N",
                (qps_vs_channel / 2.0 - 1.0).min(qps_vs_channels - 1.0),
            )
        } else {
            ("QPS ≥ channels:N", qps_vs_channels - 1.0)
        };
        Self {
            concurrency,
            qps_vs_channel,
            p50_vs_channel,
            qps_vs_channels,
            goal,
            margin,
        }
    }

    pub fn verdict(&self) -> String {
        if self.margin >= 0.0 {
            "yes".to_owned()
        } else if self.margin.is_nan() {
            "no data".to_owned()
        } else {
            format!("no (by {:.1} %)", -self.margin * 100.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::net::report::Latency;

    fn report(client: &str, concurrency: usize, qps: f64, p50: f64) -> LoadReport {
        LoadReport {
            client: client.to_owned(),
            method: "echo".to_owned(),
            target: "http://127.0.0.1:1".to_owned(),
            concurrency,
            connections: 2,
            duration_s: 1.0,
            ok: qps as u64,
            qps,
            latency_ms: Latency {
                p50,
                ..Latency::default()
            },
            errors: BTreeMap::new(),
            rss_kib: Some(1024),
            connections_opened: 2,
        }
    }

    fn comparison(reports: Vec<LoadReport>) -> Comparison {
        Comparison {
            cores: 2,
            load_average_before: "0.00 0.00 0.00".to_owned(),
            load_average_after: "0.00 0.00 0.00".to_owned(),
            duration_s: 1.0,
            warmup_s: 0.0,
            connections: 2,
            reports,
        }
    }

    #[test]
    fn goals_are_read_per_concurrency() {
        let c = comparison(vec![
            report("channel", 1, 1000.0, 1.00),
            report("channels:2", 1, 1000.0, 1.00),
            report("pool", 1, 1000.0, 1.02),
            report("channel", 256, 1000.0, 10.0),
            report("channels:2", 256, 1500.0, 10.0),
            report("pool", 256, 1800.0, 5.0),
        ]);
        let ratios = c.ratios();
        assert_eq!(ratios.len(), 2);
        // 2 % slower median at concurrency 1: within the 3 %.
        assert_eq!(ratios[0].verdict(), "yes");
        // 1.8× one channel where 2× is the goal: missed by 10 %.
        assert!((ratios[1].qps_vs_channel - 1.8).abs() < 1e-9);
        assert_eq!(ratios[1].verdict(), "no (by 10.0 %)");
        let md = c.markdown();
        assert!(md.contains("| 256 | pool | 1800 |"), "{md}");
        assert!(md.contains("| 256 | 1.80 | 0.50 | 1.20 |"), "{md}");
    }

    #[test]
    fn a_concurrency_missing_a_client_has_no_ratio() {
        let c = comparison(vec![
            report("pool", 16, 1.0, 1.0),
            report("channel", 16, 1.0, 1.0),
        ]);
        assert!(c.ratios().is_empty());
    }
}
