//! A fixed number of sequential unary RPCs through one client, for
//! callgrind: instruction counts do not depend on the machine's load, so
//! the pool's per-RPC cost can be read on a busy machine and compared
//! across commits.
//!
//! ```text
//! cargo bench -p squall-pool --bench per_rpc --no-run
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='per_rpc::measured*' \
//!     target/release/deps/per_rpc-<hash> pool 2000
//! ```
//!
//! Instructions per RPC = the total `Ir` / the count. `pool` minus
//! `hyper` is what the pool's own path costs; `callgrind_annotate
//! --inclusive=yes` says where. Without valgrind it prints wall time per
//! RPC, which a loaded machine inflates.

use std::time::Instant;

use squall_pool::PoolConfig;
use tonic_health::pb::health_client::HealthClient;

mod support;

use support::{
    bare_client, channel_client, channel_client_like_pool, pool_client, pool_client_with, request,
    runtime,
};

/// RPCs sent before measuring: connection windows, allocator pools and
/// hyper's buffers reach their steady size.
const WARMUP: usize = 200;

fn main() {
    let mut args = std::env::args().skip(1);
    let client = args.next().unwrap_or_else(|| usage());
    let count: usize = args
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| usage());
    let rt = runtime();
    let started = Instant::now();
    match client.as_str() {
        "pool" => {
            let (_pool, mut client) = rt.block_on(pool_client(2));
            run(&rt, &mut client, WARMUP);
            measured(&rt, &mut client, count);
        }
        "pool-coalescing" => {
            let (_pool, mut client) = rt.block_on(pool_client_with(PoolConfig {
                connections_per_endpoint: 2,
                coalesce_request_writes: true,
                ..PoolConfig::default()
            }));
            run(&rt, &mut client, WARMUP);
            measured(&rt, &mut client, count);
        }
        "hyper" => {
            let mut client = rt.block_on(bare_client());
            run(&rt, &mut client, WARMUP);
            measured(&rt, &mut client, count);
        }
        "channel" => {
            let mut client = rt.block_on(channel_client());
            run(&rt, &mut client, WARMUP);
            measured(&rt, &mut client, count);
        }
        "channel-like-pool" => {
            let mut client = rt.block_on(channel_client_like_pool());
            run(&rt, &mut client, WARMUP);
            measured(&rt, &mut client, count);
        }
        _ => usage(),
    }
    let elapsed = started.elapsed();
    println!(
        "{client}: {count} RPCs (+{WARMUP} warm-up), {:.2} µs per RPC wall",
        elapsed.as_secs_f64() * 1e6 / (count + WARMUP) as f64
    );
}

fn usage() -> ! {
    eprintln!("usage: per_rpc <pool|pool-coalescing|hyper|channel|channel-like-pool> <count>");
    std::process::exit(2)
}

/// The part callgrind counts (`--toggle-collect='per_rpc::measured*'`).
#[inline(never)]
fn measured<S>(rt: &tokio::runtime::Runtime, client: &mut HealthClient<S>, count: usize)
where
    S: tonic::client::GrpcService<tonic::body::Body>,
    S::Error: Into<tonic::codegen::StdError>,
    S::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    <S::ResponseBody as http_body::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    run(rt, client, count);
}

/// Never inlined, and `measured` only calls it: so the compiler cannot fold
/// the warm-up into `measured` (identical functions get merged), and
/// callgrind counts exactly `count` RPCs.
#[inline(never)]
fn run<S>(rt: &tokio::runtime::Runtime, client: &mut HealthClient<S>, count: usize)
where
    S: tonic::client::GrpcService<tonic::body::Body>,
    S::Error: Into<tonic::codegen::StdError>,
    S::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    <S::ResponseBody as http_body::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    rt.block_on(async {
        for _ in 0..count {
            client
                .check(request())
                .await
                .expect("the server is healthy");
        }
    });
}
