//! The policy retry: the loop of one idempotent RPC under the pool's retry
//! policy. Send, judge the outcome, wait the backoff, send again
//! elsewhere, all within the RPC's deadline and the pool's retry budget.
//!
//! An outcome is retried when the server answered with a retryable code
//! before sending any response data (a trailers-only response: once data
//! has reached the caller the call is committed, as in gRPC), or when the
//! connection failed after the request was sent (UNAVAILABLE). Requests
//! that never left the client are the transparent resends of `resend.rs`,
//! inside each attempt; they spend no budget.
//!
//! The policy itself (codes, backoff, budget) is `policy::retry`'s pure
//! core; this is the loop on the RPC path that asks it.

use http::{HeaderMap, HeaderName, Response};
use tokio::time::{Instant, sleep};

use super::{
    Rpc,
    body::PoolBody,
    resend::{self, First, Outgoing},
};
use crate::{
    code::GrpcCode,
    error::PoolError,
    event::{EventKind, PoolEvent},
    ids::RoutedTo,
    policy::{limit::LimitPermit, retry::RetryPolicy},
};

/// Sends an idempotent RPC under `policy`. `limit` is the RPC's limiter
/// permit, held across every attempt and then by the response body. A
/// request that could not be kept (`Outgoing::Once`) is sent once.
pub(crate) async fn send(
    rpc: &Rpc,
    policy: &RetryPolicy,
    outgoing: &mut Outgoing,
    limit: Option<LimitPermit>,
) -> Result<Response<PoolBody>, PoolError> {
    policy.deposit();
    if let Outgoing::Once(_) = outgoing {
        return resend::send(rpc, First::Any, outgoing, limit).await;
    }
    // Where earlier attempts went, so a retry can go elsewhere.
    let mut tried: Vec<RoutedTo> = Vec::new();
    loop {
        // Picked as a first attempt is, so a retry honours the stream cap
        // (and waits for room) like a first attempt.
        let first = if tried.is_empty() {
            First::Any
        } else {
            First::Elsewhere(&tried)
        };
        let result = resend::send(rpc, first, outgoing, None).await;
        let attempts = tried.len() as u32 + 1;
        debug_assert!(attempts <= policy.max_attempts());
        let Some((to, code)) = retryable(policy, &result) else {
            return hold(result, limit);
        };
        if attempts >= policy.max_attempts() {
            return hold(result, limit);
        }
        let shared = &*rpc.shared;
        let wait = shared.with_rng(|rng| policy.backoff(attempts, rng));
        // A retry that could not even start before the deadline is no retry.
        // (`checked_add`: a backoff too long to add to now starts too late.)
        let late = Instant::now()
            .checked_add(wait)
            .is_none_or(|start| start >= rpc.deadline);
        if late || !policy.withdraw() {
            return hold(result, limit);
        }
        shared.events.emit(PoolEvent {
            at: Instant::now(),
            kind: EventKind::Retry {
                endpoint: to.endpoint,
                conn: to.conn,
                attempt: attempts + 1,
                code,
                backoff: wait,
            },
        });
        // Frees the failed attempt's connection slot and breaker record
        // before the wait, not after it.
        drop(result);
        sleep(wait).await;
        tried.push(to);
    }
}

/// Where an attempt went and which retryable code it ended with, if the
/// policy retries this outcome.
fn retryable(
    policy: &RetryPolicy,
    result: &Result<Response<PoolBody>, PoolError>,
) -> Option<(RoutedTo, GrpcCode)> {
    let (to, code) = match result {
        Ok(response) => (
            *response.extensions().get::<RoutedTo>()?,
            trailers_only_status(response.headers())?,
        ),
        // Sent, then the connection failed: the server may or may not have
        // seen it, which an idempotent call may ignore. A peer that turned
        // out not to speak HTTP/2 is as unavailable; another may.
        Err(error @ (PoolError::Connection { .. } | PoolError::NotHttp2 { .. })) => {
            (error.routed()?, GrpcCode::Unavailable)
        }
        // The deadline has passed, or the call never reached a connection.
        Err(_) => return None,
    };
    policy.retries(code).then_some((to, code))
}

const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");

/// The status of a trailers-only response (the usual gRPC error), which
/// carries `grpc-status` in its headers.
pub(super) fn trailers_only_status(headers: &HeaderMap) -> Option<GrpcCode> {
    let number = headers.get(&GRPC_STATUS)?.to_str().ok()?.parse().ok()?;
    GrpcCode::from_number(number)
}

/// The RPC's final outcome; a response body takes the limiter permit.
pub(super) fn hold(
    result: Result<Response<PoolBody>, PoolError>,
    limit: Option<LimitPermit>,
) -> Result<Response<PoolBody>, PoolError> {
    result.map(|mut response| {
        response.body_mut().hold_limit(limit);
        response
    })
}
