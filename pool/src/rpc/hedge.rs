//! Hedging (gRFC A6's `hedgingPolicy`): one idempotent RPC sent to several
//! endpoints in turn, the first answer kept. A copy goes out at once; each
//! `hedging_delay` without an answer, another goes to an endpoint no copy
//! went to yet, up to `max_attempts` in all. The first answer that commits
//! the call (any response but a trailers-only error with a non-fatal
//! code) is returned and every other copy still waiting is cancelled:
//! its future is dropped, and h2 resets its stream with CANCEL. A copy
//! that ends with a non-fatal code sends the next one at once.
//!
//! Bounded: at most `max_attempts` copies, each after the first only if
//! the budget allows (the retry policy's kind, `policy::hedging`) and an
//! endpoint without a copy has room at once (a hedge never waits for a
//! connection: no room elsewhere means no hedge now), all within the
//! RPC's deadline. Each copy resends transparently as any attempt does.

use std::{future::Future, pin::Pin, time::Duration};

use futures_util::{StreamExt as _, stream::FuturesUnordered};
use http::Response;
use tokio::time::{Instant, sleep_until};

use super::{
    Rpc,
    body::PoolBody,
    resend::{self, First, Outgoing},
    retry::{hold, trailers_only_status},
};
use crate::{
    code::GrpcCode,
    error::PoolError,
    event::{EventKind, PoolEvent},
    ids::RoutedTo,
    policy::{
        hedging::{HedgingPolicy, Verdict},
        limit::LimitPermit,
    },
    shared::Routed,
};

/// One copy's outcome, with its index among the copies.
type Outcome = (usize, Result<Response<PoolBody>, PoolError>);

/// Sends an idempotent RPC under `policy`. `limit` is the RPC's limiter
/// permit, held across every copy and then by the winner's response body.
/// A request that could not be kept (`Outgoing::Once`) is sent once.
pub(crate) async fn send(
    rpc: &Rpc,
    policy: &HedgingPolicy,
    outgoing: &mut Outgoing,
    limit: Option<LimitPermit>,
) -> Result<Response<PoolBody>, PoolError> {
    policy.deposit();
    if !outgoing.is_kept() {
        return resend::send(rpc, First::Any, outgoing, limit).await;
    }
    // Picked here, waiting as any first attempt does, so that the hedges
    // know which endpoint it went to.
    let first = rpc.pick(&[]).await?;
    let started = Instant::now();
    let mut copies = Copies::default();
    copies.launch(rpc, first, outgoing);
    let mut next = later(started, policy.delay(), rpc.deadline);
    // Hedging stops for good when the budget refuses one, or when there is
    // nowhere to send one and no reason to look again.
    let mut refused = false;
    // The last outcome that did not commit the call: its answer if every
    // copy ends so.
    let mut last: Option<Result<Response<PoolBody>, PoolError>> = None;
    loop {
        let more = !refused && copies.sent() < policy.max_attempts() as usize;
        if !more && copies.running.is_empty() {
            let last = last.expect("every copy ended, so one outcome was kept");
            return hold(last, limit);
        }
        tokio::select! {
            biased;
            Some((index, result)) = copies.running.next() => {
                copies.ended(index);
                if verdict(policy, &result) == Verdict::Commit {
                    copies.cancel_rest(rpc);
                    return hold(result, limit);
                }
                // Not decided: the next copy goes at once.
                last = Some(result);
                next = Instant::now();
            }
            () = sleep_until(next), if more => {
                let now = Instant::now();
                next = later(now, policy.delay(), rpc.deadline);
                let Ok(routed) = rpc.shared.pick_other_endpoint(now, &copies.tried) else {
                    // No endpoint without a copy has room now: look again
                    // after another delay. Not with no delay (that would
                    // spin), nor with no copy left waiting (nothing could
                    // answer meanwhile): then this call sends no more.
                    if copies.running.is_empty() || policy.delay().is_zero() {
                        refused = true;
                    }
                    continue;
                };
                if !policy.withdraw() {
                    refused = true;
                    continue;
                }
                rpc.shared.events.emit(PoolEvent {
                    at: now,
                    kind: EventKind::Hedge {
                        endpoint: routed.endpoint,
                        conn: routed.conn,
                        attempt: copies.sent() as u32 + 1,
                        after: now - started,
                    },
                });
                copies.launch(rpc, routed, outgoing);
            }
        }
    }
}

/// When the next copy is due: `at + delay`, or the RPC's deadline if that
/// does not fit in an `Instant` (every copy has ended by then anyway).
fn later(at: Instant, delay: Duration, deadline: Instant) -> Instant {
    at.checked_add(delay).unwrap_or(deadline)
}

/// What a copy's outcome does to the call: a response commits it unless
/// it is a trailers-only error with a non-fatal code; a connection that
/// failed under the copy is UNAVAILABLE; the deadline ends the call; a
/// copy that never reached a server (no connection for its transparent
/// resend, shutdown) decides nothing while others may still answer.
fn verdict(policy: &HedgingPolicy, result: &Result<Response<PoolBody>, PoolError>) -> Verdict {
    match result {
        Ok(response) => policy.verdict(trailers_only_status(response.headers())),
        Err(PoolError::Connection { .. } | PoolError::NotHttp2 { .. }) => {
            policy.verdict(Some(GrpcCode::Unavailable))
        }
        Err(PoolError::DeadlineExceeded { .. }) => Verdict::Commit,
        Err(_) => Verdict::Continue,
    }
}

/// The copies of one call: where each went, and those still waiting.
#[derive(Default)]
struct Copies<'a> {
    /// Where each copy went, in the order they were sent.
    tried: Vec<RoutedTo>,
    /// Whether each copy is still waiting for its answer.
    waiting: Vec<bool>,
    running: FuturesUnordered<Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>>,
}

impl<'a> Copies<'a> {
    fn sent(&self) -> usize {
        self.tried.len()
    }

    /// Sends one more copy of `outgoing` on `routed`.
    fn launch(&mut self, rpc: &'a Rpc, routed: Routed, outgoing: &Outgoing) {
        let index = self.tried.len();
        self.tried.push(RoutedTo {
            conn: routed.conn,
            endpoint: routed.endpoint,
        });
        self.waiting.push(true);
        let mut copy = outgoing.copy().expect("a hedged request is kept");
        self.running.push(Box::pin(async move {
            let result = resend::send(rpc, First::Picked(Box::new(routed)), &mut copy, None).await;
            (index, result)
        }));
        debug_assert_eq!(
            self.running.len(),
            self.waiting.iter().filter(|w| **w).count()
        );
    }

    fn ended(&mut self, index: usize) {
        debug_assert!(self.waiting[index], "a copy ends once");
        self.waiting[index] = false;
    }

    /// Cancels every copy still waiting (dropping their futures resets
    /// their streams), each with its event.
    fn cancel_rest(&mut self, rpc: &Rpc) {
        self.running.clear();
        let now = Instant::now();
        for (index, to) in self.tried.iter().enumerate() {
            if self.waiting[index] {
                self.waiting[index] = false;
                rpc.shared.events.emit(PoolEvent {
                    at: now,
                    kind: EventKind::HedgeCancelled {
                        endpoint: to.endpoint,
                        conn: to.conn,
                        attempt: index as u32 + 1,
                    },
                });
            }
        }
    }
}
