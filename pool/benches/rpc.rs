//! Time per unary RPC through squall's pool, against the same RPC through a
//! bare hyper HTTP/2 connection and through a tonic `Channel`, to an
//! in-process server over an in-memory pipe (`support`).
//!
//! The pool's own path is the difference from `bare_hyper`: the deadline,
//! the admission step, picking, the in-flight count, and the body wrapper.
//! `cargo bench -p squall-pool --bench rpc`.

use divan::{Bencher, counter::ItemsCount};
use futures_util::future::join_all;

mod support;

use support::{
    bare_client, channel_client, channel_client_like_pool, pool_client, request, runtime,
};

fn main() {
    divan::main();
}

/// RPCs in flight per iteration: one at a time, and a batch sent together.
const IN_FLIGHT: &[usize] = &[1, 64];

#[divan::bench(args = IN_FLIGHT, sample_count = 200, sample_size = 10)]
fn pool(bencher: Bencher, in_flight: usize) {
    let rt = runtime();
    let (_pool, client) = rt.block_on(pool_client(2));
    bencher
        .counter(ItemsCount::new(in_flight))
        .bench_local(|| rt.block_on(batch(&client, in_flight)));
}

#[divan::bench(args = IN_FLIGHT, sample_count = 200, sample_size = 10)]
fn bare_hyper(bencher: Bencher, in_flight: usize) {
    let rt = runtime();
    let client = rt.block_on(bare_client());
    bencher
        .counter(ItemsCount::new(in_flight))
        .bench_local(|| rt.block_on(batch(&client, in_flight)));
}

#[divan::bench(args = IN_FLIGHT, sample_count = 200, sample_size = 10)]
fn tonic_channel(bencher: Bencher, in_flight: usize) {
    let rt = runtime();
    let client = rt.block_on(channel_client());
    bencher
        .counter(ItemsCount::new(in_flight))
        .bench_local(|| rt.block_on(batch(&client, in_flight)));
}

/// A Channel with the pool's keepalive and default deadline.
#[divan::bench(args = IN_FLIGHT, sample_count = 200, sample_size = 10)]
fn tonic_channel_like_pool(bencher: Bencher, in_flight: usize) {
    let rt = runtime();
    let client = rt.block_on(channel_client_like_pool());
    bencher
        .counter(ItemsCount::new(in_flight))
        .bench_local(|| rt.block_on(batch(&client, in_flight)));
}

/// Sends `n` RPCs at once on clones of `client` and waits for all.
async fn batch<S>(client: &tonic_health::pb::health_client::HealthClient<S>, n: usize)
where
    S: tonic::client::GrpcService<tonic::body::Body> + Clone,
    S::Error: Into<tonic::codegen::StdError>,
    S::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    <S::ResponseBody as http_body::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    let calls = (0..n).map(|_| {
        let mut client = client.clone();
        async move {
            client
                .check(request())
                .await
                .expect("the server is healthy")
        }
    });
    join_all(calls).await;
}
