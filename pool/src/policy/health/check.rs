//! One `grpc.health.v1.Health/Check` on one connection, with tonic-health's
//! generated client over the connection's hyper sender.
//!
//! The check is the pool's own traffic: it takes one of the connection's
//! streams (its caller counts it against the capacity), but it is not an
//! RPC: it goes through no limiter, breaker or outlier record, and keeps
//! nothing from idling.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use http::{Request, Response};
use hyper::{body::Incoming, client::conn::http2::SendRequest};
use tokio::time::{Duration, timeout};
use tonic::body::Body;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::{code::GrpcCode, endpoint::Endpoint};

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckResult {
    /// The server answered SERVING.
    Serving,
    /// The server answered NOT_SERVING (or UNKNOWN).
    NotServing,
    /// The check failed with this status (e.g. NOT_FOUND: the service is
    /// unknown to the server; UNAVAILABLE: the connection failed).
    Failed(GrpcCode),
    /// No answer within `timeout`.
    TimedOut,
}

impl CheckResult {
    pub fn passed(self) -> bool {
        self == CheckResult::Serving
    }
}

impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckResult::Serving => f.write_str("serving"),
            CheckResult::NotServing => f.write_str("not_serving"),
            CheckResult::Failed(code) => write!(f, "failed code={code}"),
            CheckResult::TimedOut => f.write_str("timed_out"),
        }
    }
}

/// Asks the server behind `sender` about `service`, within `limit`.
pub(crate) async fn check(
    sender: SendRequest<Body>,
    endpoint: Endpoint,
    service: String,
    limit: Duration,
) -> CheckResult {
    let mut client = HealthClient::new(OneConn { sender, endpoint });
    let request = HealthCheckRequest { service };
    match timeout(limit, client.check(request)).await {
        Err(_elapsed) => CheckResult::TimedOut,
        Ok(Err(status)) => {
            let number = u8::try_from(i32::from(status.code())).unwrap_or(u8::MAX);
            CheckResult::Failed(GrpcCode::from_number(number).unwrap_or(GrpcCode::Unknown))
        }
        Ok(Ok(response)) => match response.into_inner().status() {
            ServingStatus::Serving => CheckResult::Serving,
            _ => CheckResult::NotServing,
        },
    }
}

/// One connection as the `tower::Service` a tonic client wants.
struct OneConn {
    sender: SendRequest<Body>,
    endpoint: Endpoint,
}

type Sending = Pin<Box<dyn Future<Output = Result<Response<Incoming>, hyper::Error>> + Send>>;

impl tower::Service<Request<Body>> for OneConn {
    type Response = Response<Incoming>;
    type Error = hyper::Error;
    type Future = Sending;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), hyper::Error>> {
        self.sender.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Sending {
        *request.uri_mut() = self
            .endpoint
            .absolute_uri(std::mem::take(request.uri_mut()));
        Box::pin(self.sender.send_request(request))
    }
}
