//! One attempt on one connection: the request URI completed with the
//! endpoint's scheme and authority, the request handed to hyper, and its
//! outcome sorted into what the steps above may do next ([`Attempt`]).
//!
//! The attempt takes the connection's in-flight guard and the breaker's
//! and outlier detector's records from the pick, and the limiter permit
//! from the caller, into the RPC's `CallGuards`: a response's body holds
//! them; a request that never reached the server gives the permit back
//! (the RPC keeps it for its next attempt) and drops the breaker record
//! unreported, since it says nothing about the endpoint.

use std::{
    error::Error as _,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};
use hyper::{
    body::Incoming,
    client::conn::{TrySendError, http2::SendRequest},
};
use tokio::time::{Sleep, sleep_until};
use tonic::body::Body;

use super::{
    Rpc,
    body::{CallGuards, PoolBody},
    spare_maps,
};
use crate::{
    code::GrpcCode,
    error::PoolError,
    ids::{ConnId, RoutedTo},
    policy::breaker::CallResult,
    policy::limit::LimitPermit,
    shared::Routed,
    wire::FirstBytes,
};

/// How one attempt on one connection ended.
pub(crate) enum Attempt {
    /// A response, or a failure after the request may have reached the server.
    Done(Result<Response<PoolBody>, PoolError>),
    /// hyper never sent the request; the caller may offer it to another
    /// connection, with the limiter permit it already holds. hyper hands
    /// the request back only when it was sent by `try_send_request` (see
    /// [`Handover`]).
    Unsent {
        conn: ConnId,
        request: Option<Request<Body>>,
        limit: Option<LimitPermit>,
        error: PoolError,
    },
    /// The request was sent, but the server refused its stream without
    /// processing it: a kept copy may be sent again.
    Refused {
        conn: ConnId,
        limit: Option<LimitPermit>,
        error: PoolError,
        by: Refusal,
    },
}

/// How a server refused a stream it never processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Above its GOAWAY's last-stream-id: the connection takes no more.
    Goaway,
    /// Reset with REFUSED_STREAM: the connection itself may be fine.
    Stream,
}

/// How a request is handed to hyper.
///
/// `try_send_request` gives back a request it never sent, which a request
/// sent once needs for its next attempt; but its callback keeps room for
/// the request for as long as the RPC waits (96 bytes per in-flight RPC,
/// `cargo bench -p squall-pool --bench footprint`). A request whose copy
/// is kept needs nothing back, so it goes by `send_request`, which says
/// only that the request was never sent (a canceled error: hyper's HTTP/2
/// client cancels a request only before it reaches h2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handover {
    /// `send_request`: the pool keeps a copy of the request.
    Kept,
    /// `try_send_request`: the request is sent once and may come back.
    Once,
}

/// What hyper says of a request it did not answer.
#[expect(
    clippy::large_enum_variant,
    reason = "sorted at once, never held: boxing the request would allocate"
)]
pub(crate) enum Unanswered {
    /// Never sent: with the request, when hyper handed it back.
    Unsent(Option<Request<Body>>, hyper::Error),
    /// Sent, or hyper cannot say (its dispatcher is gone).
    Failed(hyper::Error),
}

/// hyper's outcome for either [`Handover`], sorted alike.
pub(crate) trait HyperOutcome {
    #[expect(
        clippy::result_large_err,
        reason = "as hyper's own `try_send_request`: the error may hand the request back"
    )]
    fn sorted(self) -> Result<Response<Incoming>, Unanswered>;
}

impl HyperOutcome for hyper::Result<Response<Incoming>> {
    fn sorted(self) -> Result<Response<Incoming>, Unanswered> {
        self.map_err(|error| {
            if error.is_canceled() {
                Unanswered::Unsent(None, error)
            } else {
                Unanswered::Failed(error)
            }
        })
    }
}

impl HyperOutcome for Result<Response<Incoming>, TrySendError<Request<Body>>> {
    fn sorted(self) -> Result<Response<Incoming>, Unanswered> {
        self.map_err(|mut failed| match failed.take_message() {
            Some(request) => Unanswered::Unsent(Some(request), failed.into_error()),
            None => Unanswered::Failed(failed.into_error()),
        })
    }
}

/// Sends `request` on the connection `routed` names, until its response
/// headers or the RPC's deadline; `send` is hyper's `send_request` or
/// `try_send_request` (see [`Handover`]). The request is handed to hyper
/// when the attempt is first polled, after its deadline is armed (see
/// [`Sending`]).
///
/// A named future, not an `async fn`: one is alive for as long as an RPC
/// waits for its response, and an `async fn` kept its arguments and every
/// local beside hyper's future, ~1.2 KB more per in-flight RPC
/// (`cargo bench -p squall-pool --bench footprint`).
pub(crate) fn attempt<S, F>(
    rpc: &Rpc,
    routed: Routed,
    mut request: Request<Body>,
    limit: Option<LimitPermit>,
    send: S,
) -> Sending<S, F>
where
    S: FnOnce(&mut SendRequest<Body>, Request<Body>) -> F,
    F: Future<Output: HyperOutcome>,
{
    let endpoint = rpc.shared.endpoints.get(routed.endpoint);
    *request.uri_mut() = endpoint.absolute_uri(std::mem::take(request.uri_mut()));
    // hyper sends none of a gRPC request's extensions: their map goes to
    // a response (`spare_maps`), not held while the RPC waits.
    spare_maps::give(std::mem::take(request.extensions_mut()));
    Sending {
        deadline: sleep_until(rpc.deadline),
        hand: Hand::Unsent {
            request: Some(request),
            send: Some(send),
        },
        sender: routed.sender,
        to: RoutedTo {
            conn: routed.conn,
            endpoint: routed.endpoint,
        },
        call: Some(CallGuards {
            _in_flight: routed.guard,
            _limit: limit,
            breaker: routed.breaker,
            outlier: routed.outlier,
        }),
        peer: routed.peer,
    }
}

pin_project_lite::pin_project! {
    /// hyper's side of an attempt: the request, until the attempt's first
    /// poll hands it over; then hyper's response future.
    #[project = HandProj]
    enum Hand<S, F> {
        Unsent { request: Option<Request<Body>>, send: Option<S> },
        Sent { #[pin] response: F },
    }
}

pin_project_lite::pin_project! {
    /// One attempt in flight: hyper's response future under the RPC's
    /// deadline, and what the outcome is sorted with.
    ///
    /// The deadline's timer is armed before the request is handed to
    /// hyper, not after (as `tokio::time::timeout` would): handing it over
    /// wakes hyper's dispatcher, and with it, on a multi-threaded runtime,
    /// another worker that processes the timer wheel as it wakes; arming
    /// the timer then met that worker on the wheel's lock (`perf`, a
    /// quarter of an extra `futex` call per RPC, docs/benchmarks.md).
    pub(crate) struct Sending<S, F> {
        #[pin]
        deadline: Sleep,
        #[pin]
        hand: Hand<S, F>,
        // Held for as long as the RPC waits: hyper's dispatcher (the slot's
        // `connection`) ends once every sender is gone, so a connection
        // taken out of the ready set (its endpoint removed, a GOAWAY) keeps
        // serving the RPCs it carries until they are answered.
        sender: SendRequest<Body>,
        to: RoutedTo,
        // Taken when the attempt ends: `None` only after it has.
        call: Option<CallGuards>,
        peer: Arc<FirstBytes>,
    }
}

impl<S, F> Future for Sending<S, F>
where
    S: FnOnce(&mut SendRequest<Body>, Request<Body>) -> F,
    F: Future<Output: HyperOutcome>,
{
    type Output = Attempt;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Attempt> {
        let mut this = self.project();
        // The first poll arms the deadline, then hands the request over.
        let mut expired = None;
        if let HandProj::Unsent { request, send } = this.hand.as_mut().project() {
            let request = request.take().expect("an unsent attempt has its request");
            let send = send.take().expect("an unsent attempt has its sender");
            expired = Some(this.deadline.as_mut().poll(cx).is_ready());
            let response = send(this.sender, request);
            this.hand.set(Hand::Sent { response });
        }
        let HandProj::Sent { response } = this.hand.project() else {
            unreachable!("the request was handed over above");
        };
        // As `tokio::time::timeout`: hyper's answer first, then the deadline.
        let outcome = match response.poll(cx) {
            Poll::Ready(outcome) => Some(outcome),
            Poll::Pending => {
                let elapsed = match expired {
                    Some(elapsed) => elapsed,
                    None => this.deadline.poll(cx).is_ready(),
                };
                if !elapsed {
                    return Poll::Pending;
                }
                None
            }
        };
        let mut call = this
            .call
            .take()
            .expect("an attempt is polled after it ended");
        let to = *this.to;
        let unanswered = match outcome.map(HyperOutcome::sorted) {
            Some(Ok(response)) => {
                return Poll::Ready(Attempt::Done(Ok(PoolBody::wrap(response, to, call))));
            }
            Some(Err(unanswered)) => unanswered,
            None => {
                call.finish(CallResult::Status(GrpcCode::DeadlineExceeded));
                return Poll::Ready(Attempt::Done(Err(PoolError::DeadlineExceeded {
                    conn: to.conn,
                    endpoint: to.endpoint,
                })));
            }
        };
        Poll::Ready(sort_failure(unanswered, to, call, this.peer))
    }
}

/// Sorts a request hyper did not get a response for: handed back unsent,
/// refused unprocessed by the server, or failed after it may have been
/// processed.
fn sort_failure(
    unanswered: Unanswered,
    to: RoutedTo,
    mut call: CallGuards,
    peer: &FirstBytes,
) -> Attempt {
    // The connection failed under the RPC; the peer's first bytes say
    // whether it was ever an HTTP/2 server.
    let connection_error = |source: hyper::Error| match peer.not_http2() {
        Some(first_bytes) => PoolError::NotHttp2 {
            conn: to.conn,
            endpoint: to.endpoint,
            first_bytes,
        },
        None => PoolError::Connection {
            conn: to.conn,
            endpoint: to.endpoint,
            source,
        },
    };
    match unanswered {
        // Never sent, so it says nothing about the endpoint: dropping the
        // breaker record counts it as ignored.
        Unanswered::Unsent(request, error) => Attempt::Unsent {
            conn: to.conn,
            request,
            limit: call.take_limit(),
            error: connection_error(error),
        },
        Unanswered::Failed(error) => {
            if let Some(by) = never_processed(&error) {
                // Refused unprocessed: like an unsent request, it says
                // nothing about the endpoint.
                return Attempt::Refused {
                    conn: to.conn,
                    limit: call.take_limit(),
                    error: connection_error(error),
                    by,
                };
            }
            call.finish(CallResult::TransportError);
            Attempt::Done(Err(connection_error(error)))
        }
    }
}

/// Whether the server guaranteed it never processed the stream: h2 fails
/// a stream above a GOAWAY's last-stream-id with that (remote) GOAWAY,
/// and a server that refuses one resets it with REFUSED_STREAM (RFC 9113
/// §8.7). A stream cut by anything else may have been processed.
fn never_processed(error: &hyper::Error) -> Option<Refusal> {
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(h2) = cause.downcast_ref::<h2::Error>() {
            if !h2.is_remote() {
                return None;
            }
            if h2.is_go_away() {
                return Some(Refusal::Goaway);
            }
            let refused = h2.is_reset() && h2.reason() == Some(h2::Reason::REFUSED_STREAM);
            return refused.then_some(Refusal::Stream);
        }
        source = cause.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use hyper::client::conn::http2;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    use super::*;

    fn request() -> Request<Body> {
        Request::builder()
            .uri("http://server/svc/Method")
            .body(Body::empty())
            .expect("a valid request")
    }

    /// A request queued on a connection whose dispatcher ends before
    /// taking it was never sent, and both ways of handing it to hyper say
    /// so: `try_send_request` by handing it back, `send_request` by a
    /// canceled error. The pool resends a kept request on that word alone.
    #[tokio::test]
    async fn a_request_hyper_never_sent_is_unsent_either_way() {
        let (io, _server) = tokio::io::duplex(64 * 1024);
        let (mut sender, dispatcher) = http2::Builder::new(TokioExecutor::new())
            .handshake::<_, Body>(TokioIo::new(io))
            .await
            .expect("the client's preface fits the pipe");
        let kept = sender.send_request(request());
        let once = sender.try_send_request(request());
        drop(dispatcher);
        assert!(matches!(
            kept.await.sorted(),
            Err(Unanswered::Unsent(None, _))
        ));
        assert!(matches!(
            once.await.sorted(),
            Err(Unanswered::Unsent(Some(_), _))
        ));
    }

    /// A request the server has seen the HEADERS of, on a connection that
    /// then breaks, may have been processed: it is not "unsent", whichever
    /// way it was handed over.
    #[tokio::test]
    async fn a_request_on_the_wire_when_its_connection_breaks_has_failed() {
        use tokio::io::AsyncReadExt as _;

        let (io, mut server) = tokio::io::duplex(64 * 1024);
        let (mut sender, dispatcher) = http2::Builder::new(TokioExecutor::new())
            .handshake::<_, Body>(TokioIo::new(io))
            .await
            .expect("the client's preface fits the pipe");
        tokio::spawn(dispatcher);
        let kept = sender.send_request(request());
        // Read the client's bytes until the request's HEADERS frame (type
        // 1): the preface, then 9-byte frame headers and their payloads.
        let mut bytes = Vec::new();
        let mut at = 24;
        'read: loop {
            let mut chunk = [0; 1024];
            let n = server.read(&mut chunk).await.expect("the pipe reads");
            assert!(n > 0, "the client wrote its request before closing");
            bytes.extend_from_slice(&chunk[..n]);
            while bytes.len() >= at + 9 {
                let length = u32::from_be_bytes([0, bytes[at], bytes[at + 1], bytes[at + 2]]);
                if bytes[at + 3] == 1 {
                    break 'read;
                }
                at += 9 + length as usize;
            }
        }
        drop(server);
        assert!(matches!(kept.await.sorted(), Err(Unanswered::Failed(_))));
    }
}
