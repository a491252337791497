//! The echo service: generated gRPC code and a server whose behaviour each
//! request controls (delay, failure status, streaming), and which faults can
//! make slow or failing through the server's [`Behaviour`] channel.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures_util::{Stream, StreamExt, stream};
use tokio::sync::watch;
use tonic::{Code, Request, Response, Status, service::Routes};

use crate::server::control::Behaviour;

/// Code generated from `proto/echo.proto`.
pub mod proto {
    tonic::include_proto!("squall.echo.v1");
}

use proto::{
    EchoReply, EchoRequest, EchoStreamRequest,
    echo_server::{Echo, EchoServer},
};

/// Most replies one streaming call may ask for; bounds the server's work.
pub const MAX_STREAM_COUNT: u32 = 10_000;

/// The echo service of one server.
#[derive(Debug, Clone)]
pub struct EchoService {
    server: Arc<str>,
    answered: Arc<AtomicU64>,
    /// What faults currently ask of this server.
    behaviour: watch::Receiver<Behaviour>,
    /// Calls seen while a failure rate was set: the index that decides,
    /// without an RNG, which of them fail.
    failing_calls: Arc<AtomicU64>,
}

impl EchoService {
    /// A healthy echo service, with no fault channel.
    pub fn new(server: impl Into<Arc<str>>) -> Self {
        // The sender is dropped at once: the receiver keeps the healthy value.
        Self::with_behaviour(server, watch::channel(Behaviour::default()).1)
    }

    /// An echo service that answers as `behaviour` says.
    pub fn with_behaviour(
        server: impl Into<Arc<str>>,
        behaviour: watch::Receiver<Behaviour>,
    ) -> Self {
        Self {
            server: server.into(),
            answered: Arc::default(),
            behaviour,
            failing_calls: Arc::default(),
        }
    }

    /// Applies the fault-set behaviour to one unary call: waits the added
    /// latency, then decides whether this call fails.
    async fn apply_behaviour(&self) -> Result<(), Status> {
        // Copy out: a watch borrow must not be held across an await.
        let behaviour = *self.behaviour.borrow();
        if !behaviour.added_latency.is_zero() {
            tokio::time::sleep(behaviour.added_latency).await;
        }
        match behaviour.failure {
            Some(failure) => {
                let n = self.failing_calls.fetch_add(1, Ordering::Relaxed);
                if failure.fails(n) {
                    return Err(Status::new(failure.code, "failure injected by a fault"));
                }
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn reply(&self, message: &str) -> EchoReply {
        EchoReply {
            message: message.to_owned(),
            server: self.server.to_string(),
            sequence: self.answered.fetch_add(1, Ordering::Relaxed),
        }
    }
}

/// A requested failure, or `None` for code 0 (OK).
fn requested_failure(fail_code: i32) -> Option<Status> {
    match Code::from_i32(fail_code) {
        Code::Ok => None,
        code => Some(Status::new(code, "failure requested by the caller")),
    }
}

type ReplyStream = Pin<Box<dyn Stream<Item = Result<EchoReply, Status>> + Send>>;

#[tonic::async_trait]
impl Echo for EchoService {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        let request = request.into_inner();
        self.apply_behaviour().await?;
        if request.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(request.delay_ms.into())).await;
        }
        if let Some(status) = requested_failure(request.fail_code) {
            return Err(status);
        }
        Ok(Response::new(self.reply(&request.message)))
    }

    type EchoStreamStream = ReplyStream;

    async fn echo_stream(
        &self,
        request: Request<EchoStreamRequest>,
    ) -> Result<Response<ReplyStream>, Status> {
        let request = request.into_inner();
        if request.count > MAX_STREAM_COUNT {
            return Err(Status::invalid_argument(format!(
                "count must be at most {MAX_STREAM_COUNT}"
            )));
        }
        let failure = requested_failure(request.fail_code);
        let fail_after = failure.as_ref().map(|_| request.fail_after);
        let interval = Duration::from_millis(request.interval_ms.into());
        let service = self.clone();
        let replies = stream::iter(0..request.count).then(move |i| {
            let service = service.clone();
            let message = request.message.clone();
            let failure = failure.clone();
            async move {
                if i > 0 && !interval.is_zero() {
                    tokio::time::sleep(interval).await;
                }
                match (failure, fail_after) {
                    (Some(status), Some(after)) if i >= after => Err(status),
                    _ => Ok(service.reply(&message)),
                }
            }
        });
        // Stop after the first error: a gRPC stream ends with its status.
        let replies = replies.scan(false, |failed, item| {
            let stop = *failed;
            *failed |= item.is_err();
            futures_util::future::ready((!stop).then_some(item))
        });
        Ok(Response::new(Box::pin(replies)))
    }
}

/// Everything one echo server serves: the echo service and
/// `grpc.health.v1.Health` (reporting the echo service as SERVING).
pub async fn routes(server: &str) -> Routes {
    routes_with(EchoService::new(server)).await
}

/// Everything one echo server serves, around the given echo service.
pub async fn routes_with(echo: EchoService) -> Routes {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_serving::<EchoServer<EchoService>>().await;
    Routes::new(EchoServer::new(echo)).add_service(health)
}
