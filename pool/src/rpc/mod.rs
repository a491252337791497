//! The RPC pipeline, from a caller's request to its response headers; the
//! response body then carries what the RPC holds until the caller is done.
//!
//! [`send`] below is the whole pipeline, in order. Each step is a file:
//!
//! 1. `context.rs`: the RPC's [`Rpc`] context: the pool, the deadline every
//!    later wait is bounded by (`crate::deadline` reads `grpc-timeout`), and
//!    whether the call waits for a ready connection.
//! 2. `admit.rs`: refused once the pool shuts down, else a limiter permit
//!    (if the pool has a limiter), held until the response body is done.
//! 3. `retry.rs`: an idempotent call, when the pool has a retry policy,
//!    loops over steps 4 to 6 under that policy (codes, backoff, budget);
//!    `hedge.rs`: when it has a hedging policy instead, sends copies of
//!    the call to other endpoints while it waits, each through steps 5
//!    and 6, keeps the first answer and cancels the rest.
//! 4. `wait_for_ready.rs`: pick a ready connection whose endpoint's breaker
//!    admits the call, or wait for one (wait-for-ready, an idle or
//!    replacing pool, a full pool), until the deadline.
//! 5. `resend.rs`: the transparent resend: a request that never reached a
//!    server goes to another connection (hyper handed it back unsent, or
//!    the server refused its stream unprocessed).
//! 6. `attempt.rs`: one attempt on one connection: the request URI
//!    completed, the request handed to hyper, its outcome sorted.
//! 7. `body.rs`: [`PoolBody`], which carries the in-flight count, the
//!    permit and the breaker's and outlier detector's records
//!    (`CallGuards`) until the caller is done, and reports the status.
//!
//! Around it: `service.rs` is the `tower::Service` glue (the boxed
//! [`ResponseFuture`], `PoolError` into `tonic::Status`), for the pool
//! (`Pool`'s `Service` impl in `pool.rs` calls [`call`]) and for a lease;
//! `lease.rs` is a pinned connection's own short pipeline (steps 1, 2, a
//! wait for room on its one connection, 6), which never fails over;
//! `spare_maps.rs` hands a request's emptied extension map on to a
//! response (step 6 gives, step 7 takes).

mod admit;
mod attempt;
mod body;
mod context;
mod hedge;
pub mod lease;
mod resend;
mod retry;
mod service;
mod spare_maps;
mod wait_for_ready;

use std::{future::Future, sync::Arc};

use http::{Request, Response};
use tonic::body::Body;

pub use body::PoolBody;
pub(crate) use context::Rpc;
pub use service::ResponseFuture;
pub(crate) use service::call;
pub use wait_for_ready::WaitForReady;

use crate::{error::PoolError, policy::retry::replay::Replayable, shared::Shared};
use resend::{First, Outgoing, TRANSPARENT_RESEND_MAX_BODY};

/// One RPC through the pool, up to its response headers. Every wait is
/// bounded by the RPC's deadline.
///
/// What needs no waiting is done before the returned future exists: the
/// context read from the request, and the request kept for a resend (or
/// for the retry policy). The future then holds only what the RPC needs
/// while it waits, not the request as well (`ResponseFuture` is one box
/// per in-flight RPC: its size is the pool's memory per RPC).
pub(crate) fn send(
    shared: Arc<Shared>,
    request: Request<Body>,
) -> impl Future<Output = Result<Response<PoolBody>, PoolError>> + Send + 'static {
    let rpc = Rpc::new(shared, &request);
    let policies = &rpc.shared.policies;
    let max_body = match (&policies.retry, &policies.hedging) {
        (Some(retry), _) if rpc.idempotent => retry.max_buffered_body(),
        (_, Some(hedging)) if rpc.idempotent => hedging.max_buffered_body(),
        _ => TRANSPARENT_RESEND_MAX_BODY,
    };
    let mut outgoing = Outgoing::from(Replayable::capture(request, max_body));
    async move {
        // The permit is the caller's, so it is kept across every attempt
        // and then held by the response body.
        let limit = admit::admit(&rpc).await?;
        // Boxed, either policy: its state would otherwise sit in every
        // RPC's future.
        match (&rpc.shared.policies.retry, &rpc.shared.policies.hedging) {
            (Some(policy), _) if rpc.idempotent => {
                Box::pin(retry::send(&rpc, policy, &mut outgoing, limit)).await
            }
            (_, Some(policy)) if rpc.idempotent => {
                Box::pin(hedge::send(&rpc, policy, &mut outgoing, limit)).await
            }
            _ => resend::send(&rpc, First::Any, &mut outgoing, limit).await,
        }
    }
}
