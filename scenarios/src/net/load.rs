//! `squall load`: closed-loop load against a real server. `concurrency`
//! loops each send one RPC, wait for it, and send the next, until the run's
//! time is up; so `concurrency` RPCs are in flight at any moment.
//!
//! Loops are spawned tasks on the multi-threaded runtime, as a service's
//! request handlers would be, so the client's own locks and atomics are
//! exercised from every core.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body::Body as HttpBody;
use tonic::{body::Body, client::GrpcService};

use super::{
    args::{ClientSpec, Method, Target},
    client::{Client, ClientError, Stub},
    metrics::{MetricsError, PoolMetrics},
    report::LoadReport,
    rss::peak_rss_kib,
    stats::Stats,
};

/// One load run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub target: Target,
    pub client: ClientSpec,
    pub method: Method,
    /// RPC loops, so RPCs in flight.
    pub concurrency: usize,
    /// How long to measure, after the warm-up.
    pub duration: Duration,
    /// How long to send before measuring: lets connections' flow-control
    /// windows and the allocator settle.
    pub warmup: Duration,
    /// Connections per endpoint, for `pool` only.
    pub connections: usize,
    /// Serve the pool's metrics in Prometheus text format here during the run.
    pub prometheus: Option<SocketAddr>,
}

/// Why a run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    #[error("concurrency must be at least 1")]
    NoConcurrency,
    #[error("a load loop panicked: {0}")]
    Panicked(String),
}

/// When the loops record and when they stop.
#[derive(Clone, Copy)]
struct Window {
    measure_from: Instant,
    end: Instant,
}

/// Runs the load and reports it. Must be called inside a tokio runtime.
pub async fn run(config: &LoadConfig) -> Result<LoadReport, LoadError> {
    if config.concurrency == 0 {
        return Err(LoadError::NoConcurrency);
    }
    let metrics = match config.prometheus {
        Some(addr) => Some(PoolMetrics::serve(addr)?),
        None => None,
    };
    let (client, connections) = match config.client {
        ClientSpec::Pool | ClientSpec::PoolCoalescing => (
            Client::pool(
                &config.target,
                config.connections,
                config.client == ClientSpec::PoolCoalescing,
                metrics.as_ref().map(PoolMetrics::sink),
            )
            .await?,
            config.connections,
        ),
        ClientSpec::Channel => (Client::channels(&config.target, 1).await?, 1),
        ClientSpec::ChannelLikePool => (Client::channel_like_pool(&config.target).await?, 1),
        ClientSpec::Channels(n) => (Client::channels(&config.target, n).await?, n),
    };
    let sampler = match (&metrics, &client) {
        (Some(metrics), Client::Pool { pool, .. }) => Some(metrics.sample(pool.clone())),
        _ => None,
    };
    let stats = Arc::new(Stats::new());
    let start = Instant::now();
    let window = Window {
        measure_from: start + config.warmup,
        end: start + config.warmup + config.duration,
    };
    let loops = match &client {
        Client::Pool { pool, .. } => spawn_loops(vec![pool.clone()], config, window, &stats),
        Client::Channels { channels, .. } => spawn_loops(channels.clone(), config, window, &stats),
    };
    let mut panicked = None;
    for task in loops {
        if let Err(e) = task.await {
            panicked.get_or_insert(e.to_string());
        }
    }
    let measured = window.measure_from.elapsed();
    if let Some(sampler) = sampler {
        sampler.abort();
    }
    let connections_opened = client.opened();
    client.close().await;
    if let Some(e) = panicked {
        return Err(LoadError::Panicked(e));
    }
    let stats = Arc::into_inner(stats).expect("every loop has ended");
    let (ok, latency_ms, errors) = stats.finish();
    Ok(LoadReport {
        client: config.client.to_string(),
        method: config.method.to_string(),
        target: config.target.url.clone(),
        concurrency: config.concurrency,
        connections,
        duration_s: measured.as_secs_f64(),
        ok,
        qps: ok as f64 / measured.as_secs_f64().max(f64::EPSILON),
        latency_ms,
        errors,
        rss_kib: peak_rss_kib(),
        connections_opened,
    })
}

/// Starts `config.concurrency` loops over `services` (each loop sends its
/// RPCs round-robin over its own handles on all of them).
fn spawn_loops<S>(
    services: Vec<S>,
    config: &LoadConfig,
    window: Window,
    stats: &Arc<Stats>,
) -> Vec<tokio::task::JoinHandle<()>>
where
    S: GrpcService<Body> + Clone + Send + Sync + 'static,
    S::Error: Into<tonic::codegen::StdError>,
    S::Future: Send,
    S::ResponseBody: HttpBody<Data = Bytes> + Send + 'static,
    <S::ResponseBody as HttpBody>::Error: Into<tonic::codegen::StdError> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    (0..config.concurrency)
        .map(|index| {
            let stubs: Vec<Stub<S>> = services
                .iter()
                .map(|s| Stub::new(s.clone(), config.method))
                .collect();
            tokio::spawn(rpc_loop(
                index,
                stubs,
                Arc::clone(&next),
                Arc::clone(stats),
                window,
            ))
        })
        .collect()
}

/// One closed loop: send, wait, record, repeat until the window ends.
async fn rpc_loop<S>(
    index: usize,
    mut stubs: Vec<Stub<S>>,
    next: Arc<AtomicUsize>,
    stats: Arc<Stats>,
    window: Window,
) where
    S: GrpcService<Body> + Clone + Send + 'static,
    S::Error: Into<tonic::codegen::StdError>,
    S::Future: Send,
    S::ResponseBody: HttpBody<Data = Bytes> + Send + 'static,
    <S::ResponseBody as HttpBody>::Error: Into<tonic::codegen::StdError> + Send,
{
    debug_assert!(!stubs.is_empty());
    loop {
        let sent = Instant::now();
        if sent >= window.end {
            return;
        }
        // The naive pool: every RPC takes the next channel in turn.
        let at = match stubs.len() {
            1 => 0,
            n => next.fetch_add(1, Ordering::Relaxed) % n,
        };
        let outcome = stubs[at].call().await;
        if sent >= window.measure_from {
            stats.record(index, sent.elapsed(), outcome);
        }
    }
}
