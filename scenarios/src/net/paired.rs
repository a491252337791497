//! `squall paired`: the pool and one other client take turns, in one
//! process, against one server, one RPC in flight.
//!
//! At one RPC in flight, two `squall load` runs a few seconds apart differ
//! by more than the clients do: the machine's state (frequency, the other
//! processes, which core the server's thread is on) drifts between them.
//! Here the clients take turns of `run_length` RPCs each on the same task
//! (1 by default: every other RPC), so drift falls on both alike; which
//! client goes first alternates from turn to turn, so neither always
//! finds the server's thread warm. The i-th RPC of each client make a
//! pair. The result is a ratio of trimmed mean latencies, the other
//! client's over the pool's, which at one RPC in flight is the pool's QPS
//! over the other's (above 1, the pool is faster); its spread across
//! blocks of pairs shows how far to trust it. Both clients live in one
//! process, so this measures each beside the other's idle connections,
//! not alone: what `squall load` measures can still differ.

use std::{
    fmt::Write,
    time::{Duration, Instant},
};

use serde::Serialize;
use tonic::{Code, transport::Channel};

use super::{
    args::{ClientSpec, Method, Target},
    client::{Client, ClientError, Stub},
};
use squall_pool::{Pool, PoolConfig};

/// Share of the fastest and of the slowest latencies each client's
/// trimmed mean leaves out: the tails are the scheduler's, not the
/// client's, and one preempted RPC would move a plain mean.
pub const TRIM: f64 = 0.05;

/// Blocks of consecutive pairs whose ratios show the spread.
pub const BLOCKS: usize = 10;

/// Most pairs a run sends, warm-up included: every latency is kept until
/// the end (32 bytes a pair), and a million pairs take minutes.
pub const MAX_PAIRS: usize = 1_000_000;

/// One paired run.
#[derive(Debug, Clone)]
pub struct PairedConfig {
    pub target: Target,
    /// The client the pool is compared with (any but `pool`).
    pub against: ClientSpec,
    pub method: Method,
    /// Pairs measured.
    pub pairs: usize,
    /// Pairs sent before measuring.
    pub warmup_pairs: usize,
    /// RPCs of one client in a row before the other's turn: 1 alternates
    /// every RPC; a longer run has each RPC follow its own client's last,
    /// as in a run of one client alone, while turns still alternate
    /// often enough (a run of 100 is ~15 ms) to cancel the machine's drift.
    pub run_length: usize,
    /// The pool's connections.
    pub connections: usize,
}

impl PairedConfig {
    /// A run of `pairs` pairs against a tonic Channel, echo RPCs, the
    /// pool's default connections, a tenth as many warm-up pairs.
    pub fn new(target: Target, pairs: usize) -> Self {
        Self {
            target,
            against: ClientSpec::Channel,
            method: Method::Echo,
            pairs,
            warmup_pairs: pairs / 10,
            run_length: 1,
            connections: PoolConfig::default().connections_per_endpoint,
        }
    }
}

/// Why a paired run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PairedError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("the pool is paired with a tonic client, not with a pool: pick another client")]
    AgainstAPool,
    #[error("pairs must be at least {BLOCKS}, one per block")]
    TooFewPairs,
    #[error("the run length must be at least 1")]
    NoRunLength,
    #[error("at most {MAX_PAIRS} pairs, warm-up included")]
    TooManyPairs,
    #[error("{client}'s RPC failed with {code:?}: a paired run needs every RPC to succeed")]
    Failed { client: String, code: Code },
    #[error("the pairing task panicked: {0}")]
    Panicked(String),
}

/// One client's latencies, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencySummary {
    /// The plain mean: at one RPC in flight, a run of this client alone
    /// would do about a million over it RPCs per second.
    pub mean_us: f64,
    /// Mean without the [`TRIM`] fastest and slowest.
    pub trimmed_mean_us: f64,
    pub median_us: f64,
}

/// What a paired run measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairedReport {
    pub against: String,
    pub method: String,
    pub target: String,
    pub pairs: usize,
    /// RPCs of one client in a row.
    pub run_length: usize,
    pub pool: LatencySummary,
    pub other: LatencySummary,
    /// The other client's trimmed mean latency over the pool's: the pool's
    /// QPS relative to it at one RPC in flight.
    pub ratio: f64,
    /// The same ratio in each of [`BLOCKS`] consecutive blocks of pairs.
    pub block_ratios: Vec<f64>,
}

impl PairedReport {
    /// Summarizes per-pair latencies (pool's, other's), pair order kept.
    /// Needs at least [`BLOCKS`] pairs.
    fn from_pairs(config: &PairedConfig, pairs: &[(Duration, Duration)]) -> Self {
        assert!(pairs.len() >= BLOCKS, "too few pairs to summarize");
        let micros = |d: Duration| d.as_secs_f64() * 1e6;
        let pool: Vec<f64> = pairs.iter().map(|&(p, _)| micros(p)).collect();
        let other: Vec<f64> = pairs.iter().map(|&(_, o)| micros(o)).collect();
        let block = pairs.len() / BLOCKS;
        let block_ratios = (0..BLOCKS)
            .map(|b| {
                let range = b * block..(b + 1) * block;
                trimmed_mean(&other[range.clone()]) / trimmed_mean(&pool[range])
            })
            .collect();
        let (pool, other) = (summarize(&pool), summarize(&other));
        Self {
            against: config.against.to_string(),
            method: config.method.to_string(),
            target: config.target.url.clone(),
            pairs: pairs.len(),
            run_length: config.run_length,
            pool,
            other,
            ratio: other.trimmed_mean_us / pool.trimmed_mean_us,
            block_ratios,
        }
    }

    /// The smallest, median and largest block ratio.
    pub fn block_spread(&self) -> (f64, f64, f64) {
        let sorted = sorted(&self.block_ratios);
        (
            sorted[0],
            median_of_sorted(&sorted),
            sorted[sorted.len() - 1],
        )
    }

    /// The report as one JSON object on one line.
    pub fn json(&self) -> String {
        serde_json::to_string(self).expect("a paired report always serializes")
    }

    /// The report as a small table for a terminal.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let mut row = |k: &str, v: String| {
            let _ = writeln!(out, "{k:<24} {v}");
        };
        row("target", format!("{} ({})", self.target, self.method));
        row(
            "pairs",
            format!("{} (turns of {})", self.pairs, self.run_length),
        );
        for (name, s) in [("pool", &self.pool), (self.against.as_str(), &self.other)] {
            row(
                &format!("{name} latency µs"),
                format!(
                    "mean {:.1}  trimmed mean {:.1}  median {:.1}",
                    s.mean_us, s.trimmed_mean_us, s.median_us
                ),
            );
        }
        row(
            &format!("pool QPS / {}", self.against),
            format!("{:.3}", self.ratio),
        );
        let (low, mid, high) = self.block_spread();
        row(
            &format!("  in {BLOCKS} blocks"),
            format!("min {low:.3}  median {mid:.3}  max {high:.3}"),
        );
        out
    }
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
}

fn median_of_sorted(sorted: &[f64]) -> f64 {
    debug_assert!(!sorted.is_empty());
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// Mean of `values` without the [`TRIM`] smallest and largest (at least
/// one value always stays).
fn trimmed_mean(values: &[f64]) -> f64 {
    trimmed_mean_of_sorted(&sorted(values))
}

fn trimmed_mean_of_sorted(sorted: &[f64]) -> f64 {
    assert!(!sorted.is_empty(), "a mean of nothing");
    debug_assert!(sorted.is_sorted_by(|a, b| a <= b));
    let cut = ((sorted.len() as f64 * TRIM) as usize).min((sorted.len() - 1) / 2);
    let kept = &sorted[cut..sorted.len() - cut];
    kept.iter().sum::<f64>() / kept.len() as f64
}

fn summarize(values: &[f64]) -> LatencySummary {
    let sorted = sorted(values);
    LatencySummary {
        mean_us: values.iter().sum::<f64>() / values.len() as f64,
        trimmed_mean_us: trimmed_mean_of_sorted(&sorted),
        median_us: median_of_sorted(&sorted),
    }
}

/// Runs the pairs and reports them. Must be called inside a tokio runtime.
pub async fn run(config: &PairedConfig) -> Result<PairedReport, PairedError> {
    if config.pairs < BLOCKS {
        return Err(PairedError::TooFewPairs);
    }
    if config.run_length == 0 {
        return Err(PairedError::NoRunLength);
    }
    if config
        .pairs
        .checked_add(config.warmup_pairs)
        .is_none_or(|total| total > MAX_PAIRS)
    {
        return Err(PairedError::TooManyPairs);
    }
    let other = match config.against {
        ClientSpec::Pool | ClientSpec::PoolCoalescing => return Err(PairedError::AgainstAPool),
        ClientSpec::Channel => Client::channels(&config.target, 1).await?,
        ClientSpec::ChannelLikePool => Client::channel_like_pool(&config.target).await?,
        ClientSpec::Channels(n) => Client::channels(&config.target, n).await?,
    };
    let pool = Client::pool(&config.target, config.connections, false, None).await?;
    let (Client::Pool { pool: service, .. }, Client::Channels { channels, .. }) = (&pool, &other)
    else {
        unreachable!("Client::pool builds a pool and Client::channels channels");
    };
    // On a spawned task, as `squall load`'s loops are: a service's RPCs run
    // on the runtime's workers, not on the thread that blocks on it.
    let task = tokio::spawn(send_pairs(
        Stub::new(service.clone(), config.method),
        channels
            .iter()
            .map(|c| Stub::new(c.clone(), config.method))
            .collect(),
        Schedule {
            warmup: config.warmup_pairs,
            pairs: config.pairs,
            run: config.run_length,
        },
        config.against.to_string(),
    ));
    let measured = task.await;
    pool.close().await;
    other.close().await;
    let pairs = measured.map_err(|e| PairedError::Panicked(e.to_string()))??;
    Ok(PairedReport::from_pairs(config, &pairs))
}

/// Sends `warmup + pairs` pairs in turns of `run` RPCs per client: a
/// turn of the pool then one of the other, or the other first, the
/// order alternating from turn to turn (the other's channels taken in
/// turn). Returns the measured pairs' latencies, pool's first: a pair is
/// the i-th RPC of each client.
async fn send_pairs(
    mut pool: Stub<Pool>,
    mut others: Vec<Stub<Channel>>,
    schedule: Schedule,
    other_name: String,
) -> Result<Vec<(Duration, Duration)>, PairedError> {
    debug_assert!(!others.is_empty() && schedule.run > 0);
    let total = schedule.warmup + schedule.pairs;
    let mut pool_took = Vec::with_capacity(total);
    let mut other_took = Vec::with_capacity(total);
    let mut pool_first = true;
    while pool_took.len() < total {
        let n = schedule.run.min(total - pool_took.len());
        for pool_turn in [pool_first, !pool_first] {
            for _ in 0..n {
                if pool_turn {
                    pool_took.push(timed(&mut pool, "pool").await?);
                } else {
                    let at = other_took.len() % others.len();
                    other_took.push(timed(&mut others[at], &other_name).await?);
                }
            }
        }
        pool_first = !pool_first;
    }
    debug_assert_eq!(pool_took.len(), other_took.len());
    let measured: Vec<_> = pool_took
        .into_iter()
        .zip(other_took)
        .skip(schedule.warmup)
        .collect();
    debug_assert_eq!(measured.len(), schedule.pairs);
    Ok(measured)
}

/// How many pairs, and how many RPCs of one client in a row.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    warmup: usize,
    pairs: usize,
    run: usize,
}

async fn timed<S>(stub: &mut Stub<S>, client: &str) -> Result<Duration, PairedError>
where
    S: tonic::client::GrpcService<tonic::body::Body> + Clone + Send + 'static,
    S::Error: Into<tonic::codegen::StdError>,
    S::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    <S::ResponseBody as http_body::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    let sent = Instant::now();
    stub.call().await.map_err(|code| PairedError::Failed {
        client: client.to_owned(),
        code,
    })?;
    Ok(sent.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> PairedConfig {
        PairedConfig::new("http://127.0.0.1:1".parse().unwrap(), 100)
    }

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn trimmed_mean_leaves_out_both_tails() {
        // 20 values: 5 % is one from each end.
        let mut values: Vec<f64> = vec![10.0; 18];
        values.push(1.0);
        values.push(1_000_000.0);
        assert_eq!(trimmed_mean(&values), 10.0);
        // Too few to trim: all are kept.
        assert_eq!(trimmed_mean(&[1.0, 3.0]), 2.0);
        assert_eq!(trimmed_mean(&[7.0]), 7.0);
    }

    /// The ratio is the other's latency over the pool's: a pool twice as
    /// fast reads 2, and a preempted RPC on either side does not move it.
    #[test]
    fn the_ratio_is_the_pools_relative_speed_and_ignores_outliers() {
        let mut pairs = vec![(us(50), us(100)); 100];
        pairs[3].0 = us(90_000);
        pairs[71].1 = us(1);
        let report = PairedReport::from_pairs(&config(), &pairs);
        assert_eq!(report.ratio, 2.0);
        assert_eq!(report.pool.trimmed_mean_us, 50.0);
        // The plain mean keeps the preempted RPC: (99 * 50 + 90,000) / 100.
        assert_eq!(report.pool.mean_us, 949.5);
        assert_eq!(report.other.median_us, 100.0);
        assert_eq!(report.block_ratios.len(), BLOCKS);
    }

    /// Each block is its own pairs, in order: a slowdown in the second
    /// half shows in the second half's blocks only.
    #[test]
    fn blocks_follow_the_pairs_in_order() {
        let mut pairs = vec![(us(100), us(100)); 50];
        pairs.extend(vec![(us(100), us(110)); 50]);
        let report = PairedReport::from_pairs(&config(), &pairs);
        assert_eq!(&report.block_ratios[..5], &[1.0; 5]);
        for ratio in &report.block_ratios[5..] {
            assert!((ratio - 1.1).abs() < 1e-9, "{ratio}");
        }
        assert_eq!(report.block_spread().0, 1.0);
        assert!((report.block_spread().2 - 1.1).abs() < 1e-9);
        assert!(report.table().contains("pool QPS / channel"));
    }

    #[test]
    fn json_names_its_fields() {
        let report = PairedReport::from_pairs(&config(), &[(us(10), us(11)); 10]);
        let value: serde_json::Value = serde_json::from_str(&report.json()).unwrap();
        for field in ["against", "pairs", "ratio", "block_ratios", "pool", "other"] {
            assert!(value.get(field).is_some(), "missing {field}");
        }
        assert!(value["pool"]["trimmed_mean_us"].is_f64());
    }
}
