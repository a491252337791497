//! The load generator: a steady stream of unary Echo RPCs from the client
//! host, each with a deadline, each outcome recorded in the trace.
//!
//! RPCs run concurrently as futures in one task (no spawning), polled in a
//! fixed order, so the interleaving is deterministic.

use std::{sync::Arc, time::Duration};

use futures_util::{StreamExt, stream::FuturesUnordered};
use squall_pool::{PoolError, RoutedTo};
use tokio::time::{Instant, MissedTickBehavior};
use tonic::{Code, client::GrpcService, codegen::StdError};

use crate::{
    echo::proto::{EchoRequest, echo_client::EchoClient},
    trace::{Recorder, RpcOutcome, TraceEvent},
};

/// How much load, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadConfig {
    /// First RPC at this simulated time.
    pub start: Duration,
    /// No RPC is sent at or after this simulated time.
    pub stop: Duration,
    /// Time between two RPCs (a rate of `1 / interval`).
    pub interval: Duration,
    /// Each RPC's deadline, sent as `grpc-timeout` and enforced by the caller.
    pub deadline: Duration,
}

/// Who the load generator is, in the trace, and how to name endpoints.
pub(crate) struct LoadContext {
    pub(crate) host: String,
    pub(crate) recorder: Recorder,
    /// Server host name of each pool endpoint, by `EndpointId`.
    pub(crate) endpoint_names: Arc<[String]>,
}

/// Runs the load to completion: every RPC sent has finished when it returns.
pub(crate) async fn run<T>(client: EchoClient<T>, load: LoadConfig, context: LoadContext)
where
    T: GrpcService<tonic::body::Body> + Clone,
    T::Error: Into<StdError>,
    T::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    <T::ResponseBody as http_body::Body>::Error: Into<StdError> + Send,
{
    debug_assert!(!load.interval.is_zero(), "validated by WorldConfig");
    let origin = Instant::now() - turmoil::sim_elapsed().unwrap_or_default();
    let mut ticks = tokio::time::interval_at(origin + load.start, load.interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut in_flight = FuturesUnordered::new();
    let mut next_id: u64 = 1;
    let stop_at = origin + load.stop;
    loop {
        tokio::select! {
            biased;
            Some(outcome) = in_flight.next() => record(&context, outcome),
            tick = ticks.tick(), if Instant::now() < stop_at => {
                if tick >= stop_at {
                    continue;
                }
                in_flight.push(one_rpc(client.clone(), next_id, load.deadline, &context));
                next_id += 1;
            }
            else => break,
        }
    }
}

async fn one_rpc<T>(
    mut client: EchoClient<T>,
    id: u64,
    deadline: Duration,
    context: &LoadContext,
) -> RpcOutcome
where
    T: GrpcService<tonic::body::Body>,
    T::Error: Into<StdError>,
    T::ResponseBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    <T::ResponseBody as http_body::Body>::Error: Into<StdError> + Send,
{
    let sent_at = turmoil::sim_elapsed().expect("load runs inside a simulated host");
    let sent_seq = context.recorder.len();
    let mut request = tonic::Request::new(EchoRequest {
        message: format!("rpc-{id}"),
        ..Default::default()
    });
    request.set_timeout(deadline);
    let (routed, result) = match tokio::time::timeout(deadline, client.echo(request)).await {
        Ok(Ok(response)) => (response.extensions().get::<RoutedTo>().copied(), Ok(())),
        Ok(Err(status)) => (
            PoolError::from_status(&status).and_then(PoolError::routed),
            Err(status.code()),
        ),
        // The caller's own bound, for clients (like a bare tonic Channel)
        // that do not enforce deadlines themselves.
        Err(_elapsed) => (None, Err(Code::DeadlineExceeded)),
    };
    RpcOutcome {
        id,
        conn: routed.map(|r| r.conn),
        endpoint: routed.map(|r| context.endpoint_names[r.endpoint.0 as usize].clone()),
        sent_at,
        sent_seq,
        result,
    }
}

fn record(context: &LoadContext, outcome: RpcOutcome) {
    context
        .recorder
        .record(&context.host, TraceEvent::Rpc(outcome));
}
