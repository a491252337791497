//! Real-network benchmarking: `squall serve`, `squall load`,
//! `squall paired` and `squall bench-net`, over TCP on loopback only.
//!
//! # Layout
//! - [`args`]: command-line values (durations, clients, targets) and their errors.
//! - [`cli`]: the four subcommands' arguments and what each runs.
//! - [`serve`]: the echo and health services on tonic's server.
//! - `client`: the clients compared (squall's pool, one or N tonic channels).
//! - [`load`]: the closed-loop load generator.
//! - [`paired`]: the pool and another client taking turns, one RPC each.
//! - `stats`: latency histograms and failure counts shared by the loops.
//! - [`report`]: a run's results, as a table or JSON.
//! - [`compare`]: the pool against tonic at several concurrencies, one process per run.
//! - `metrics`: the pool's metrics served to Prometheus during a run.
//! - `rss`: peak resident memory.

pub mod args;
pub mod cli;
mod client;
pub mod compare;
pub mod load;
mod metrics;
pub mod paired;
pub mod report;
mod rss;
pub mod serve;
mod stats;

pub use args::{ArgError, ClientSpec, Method, Target};
pub use client::ClientError;
pub use load::{LoadConfig, LoadError, run as run_load};
pub use metrics::MetricsError;
pub use paired::{PairedConfig, PairedError, PairedReport, run as run_paired};
pub use report::{Latency, LoadReport};
pub use serve::{EchoServer, ServeError};
