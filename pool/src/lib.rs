//! squall-pool: a gRPC client connection pool over HTTP/2 that notices when
//! a connection has silently died.
//!
//! A [`Pool`] keeps several HTTP/2 connections to each endpoint, sends HTTP/2
//! PINGs to detect connections a NAT, load balancer or broken link has turned
//! into black holes, replaces dead connections with jittered backoff, and
//! routes each RPC to the less loaded of two ready connections. It is a
//! `tower::Service`, so tonic-generated clients use it directly:
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use squall_pool::{Pool, PoolConfig, TcpConnector};
//! let config = PoolConfig::default();
//! let pool = Pool::builder()
//!     .endpoint("http://127.0.0.1:50051")
//!     .config(config)
//!     .build(TcpConnector)?;
//! // let client = EchoClient::new(pool.clone());
//! pool.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! The pool reads no wall clock and no OS randomness: time is tokio's clock
//! and every random choice comes from [`PoolConfig::rng_seed`], so under a
//! simulator (turmoil) a run is reproducible to the millisecond.
//!
//! # Layout
//! - [`pool`](Pool): building a pool, handles, its `tower::Service`,
//!   shutdown.
//! - `rpc`: the RPC pipeline, read in order in `rpc/mod.rs`: the RPC's
//!   context (its deadline, [`deadline`]: `grpc-timeout`; whether it waits
//!   for ready, [`WaitForReady`]), admission, the policy retry loop, the
//!   pick (or the wait for a connection, room, or a waking pool), the
//!   transparent resend, one attempt, and the response body ([`PoolBody`],
//!   which holds the in-flight count, the permit and the breaker's record
//!   until the caller is done); [`lease`]: pinning one connection, with a
//!   pipeline of its own; the `tower::Service` glue ([`ResponseFuture`]).
//! - `shared`: what every handle and task shares, in eight parts (config,
//!   endpoints, connector, events, policies, lifecycle, routing: the ready
//!   set and the RNG, tracker: slot statuses and connectivity); adaptors
//!   onto `route`.
//! - `lifecycle`: the shutdown signal and what shutdown waits for and
//!   reports; `lease_book`: the leases held, and reporting those held too
//!   long.
//! - `route`: the ready set and every routing rule (power of two choices,
//!   avoided and refused connections, rotation, saturation, pinned and
//!   leased connections, scaling), a pure core generic over the sender.
//! - `conn`: one connection's state machine ([`ConnState`]), the task
//!   that dials, serves and redials it (its loop a state machine too, with
//!   gRPC's reconnect backoff), and its retirement at max age.
//! - [`status`]: connectivity states (gRPC semantics) and the stats snapshot.
//! - `idle`: the idle timeout (gRPC channel idleness).
//! - `endpoints`: the endpoint set, changed at runtime by
//!   [`Pool::add_endpoint`] and [`Pool::remove_endpoint`].
//! - `wire`: pure readers of the server's bytes: its first bytes, to
//!   report a peer that does not speak HTTP/2 ([`PoolError::NotHttp2`]),
//!   and what its frames say that hyper hides (GOAWAY and its stream limit,
//!   SETTINGS_MAX_CONCURRENT_STREAMS), reported to the connection.
//! - [`config`]: every knob, its default, validation; `config_error`:
//!   [`ConfigError`], which every concern's config validates into.
//! - `code`: [`GrpcCode`], the gRPC status codes (also
//!   [`breaker::GrpcCode`]).
//! - `ids`: [`ConnId`] and [`RoutedTo`], which connection carried an RPC,
//!   and [`LeaseId`].
//! - [`event`]: [`PoolEvent`], the typed record of every transition.
//! - [`connector`]: where byte streams come from ([`TcpConnector`] for real TCP);
//!   [`socket`]: the socket options the pool asks every connector to set.
//! - `executor`: hyper's tasks, tracked so shutdown can wait for them.
//! - `inflight`: the in-flight count per connection, released by `Drop`.
//! - [`error`]: typed errors and their gRPC status codes.
//! - `policy`: every policy as a synchronous core plus an adaptor on a
//!   narrow handle: [`limit`], [`breaker`] (the limiter's and circuit
//!   breaker's cores, driven by the clock you pass in, wired into the RPC
//!   path by `limit::gate` and `breaker::call`), [`retry`] (the retry
//!   policy for [`Idempotent`] calls and its budget), [`outlier`] (passive
//!   outlier ejection of endpoints that keep failing), [`health`] (active
//!   `grpc.health.v1` checks of every endpoint). Public at the crate root.

mod code;
pub mod config;
mod config_error;
mod conn;
pub mod connector;
pub mod deadline;
pub mod endpoint;
mod endpoints;
pub mod error;
pub mod event;
mod executor;
mod idle;
mod ids;
mod inflight;
mod lifecycle;
pub use inflight::PROVISIONAL_PEER_LIMIT;
mod lease_book;
#[cfg(feature = "metrics")]
pub mod metrics;
mod policy;
mod pool;
mod route;
mod rpc;
mod shared;
pub mod socket;
pub mod status;
mod wait;
mod wire;

pub use code::GrpcCode;
pub use config::{BackoffConfig, KeepaliveConfig, PoolConfig};
pub use config_error::ConfigError;
pub use conn::{ConnState, IllegalTransition};
pub use connector::{Connector, TcpConnector};
pub use endpoint::{Endpoint, EndpointError, EndpointId};
pub use endpoints::{AddEndpointError, RemoveEndpointError};
pub use error::{BuildError, PoolError};
pub use event::{CloseCause, ConnEvent, ConnectError, DrainCause, EventKind, EventSink, PoolEvent};
pub use health::{CheckResult, HealthCheckConfig, HealthState};
pub use hedging::HedgingConfig;
pub use ids::{ConnId, RoutedTo};
pub use outlier::{OutlierChange, OutlierConfig};
pub use policy::{breaker, health, hedging, limit, outlier, retry};
pub use pool::{Pool, PoolBuilder, ShutdownReport};
pub use retry::{Idempotent, RetryBudgetConfig, RetryConfig};
// `squall_pool::lease` is a public path; the module lives in the RPC
// pipeline (`rpc/`).
pub use rpc::lease::{Lease, LeaseId};
pub use rpc::{PoolBody, ResponseFuture, WaitForReady, lease};
pub use socket::{SocketOptions, TcpKeepalive};
pub use status::{
    ConnLoad, ConnStats, Connectivity, EndpointStats, HedgingStats, LimiterStats, PoolStats,
    RetryStats, SlotStats,
};
pub use wire::GoawayCode;
