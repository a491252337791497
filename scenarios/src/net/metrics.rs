//! `squall load --prometheus ADDR`: the pool's metrics
//! (`squall_pool::metrics`) served in Prometheus text format while the load
//! runs, by `metrics-exporter-prometheus`.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use metrics_exporter_prometheus::PrometheusBuilder;
use squall_pool::{EventSink, Pool, metrics::MetricsSink};
use tokio::task::JoinHandle;

/// How often the pool's gauges are sampled from `Pool::stats`.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Why the exporter could not start.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot serve Prometheus metrics on {addr}: {reason}")]
    Exporter { addr: SocketAddr, reason: String },
}

/// The installed exporter; the scrape endpoint lives as long as this does.
pub(crate) struct PoolMetrics {
    exporter: JoinHandle<()>,
}

impl PoolMetrics {
    /// Installs a Prometheus recorder as this process's `metrics` recorder
    /// and serves `GET /metrics` on `addr`. Once per process: the recorder
    /// is global.
    pub(crate) fn serve(addr: SocketAddr) -> Result<Self, MetricsError> {
        let error = |reason: String| MetricsError::Exporter { addr, reason };
        let (recorder, exporter) = PrometheusBuilder::new()
            .with_http_listener(addr)
            .build()
            .map_err(|e| error(e.to_string()))?;
        metrics::set_global_recorder(recorder).map_err(|e| error(e.to_string()))?;
        squall_pool::metrics::describe();
        let exporter = tokio::spawn(async move {
            // The exporter only returns on a listener error; the run goes on
            // without it.
            if let Err(e) = exporter.await {
                eprintln!("squall: the Prometheus exporter stopped: {e:?}");
            }
        });
        Ok(Self { exporter })
    }

    /// The sink that turns pool events into counters.
    pub(crate) fn sink(&self) -> Arc<dyn EventSink> {
        Arc::new(MetricsSink)
    }

    /// Samples `pool`'s gauges every second until the task is aborted.
    pub(crate) fn sample(&self, pool: Pool) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(SAMPLE_EVERY);
            loop {
                every.tick().await;
                squall_pool::metrics::record_stats(&pool.stats());
            }
        })
    }
}

impl Drop for PoolMetrics {
    fn drop(&mut self) {
        self.exporter.abort();
    }
}
