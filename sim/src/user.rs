//! Bring your own: a [`UserWorld`] puts a user's gRPC service on a world's
//! servers, a user's client program on its client host, and a user's
//! invariants beside squall's, so that squall's faults test *their* code.
//!
//! - The service: any tonic service, as [`tonic::service::Routes`], built
//!   once per server incarnation (a crash restarts it). squall wraps it so
//!   that the slow-server and failing-server faults act on it as on the
//!   echo service, and adds a `grpc.health.v1` service that follows the
//!   server's health faults, unless the user brings their own.
//! - The client: an async function handed a [`UserClient`]: the pool the
//!   script configures (ready to give to a generated client, with the
//!   user's interceptors), the world's clock, and [`UserClient::call`],
//!   which sends one call and records its outcome as an RPC line like the
//!   built-in load's (`call=<method>`).
//! - The invariants: functions over the finished trace, each reported
//!   under its name beside squall's.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use squall_pool::{Pool, PoolError, RoutedTo};
use tokio::sync::watch;
use tonic::{Status, body::Body, service::Routes};

use crate::{
    server::Behaviour,
    trace::{RPC_ID_HEADER, Recorder, RpcCall, RpcOutcome, Trace, TraceEvent},
    world::CLIENT_HOST,
};

type Routing = Arc<dyn Fn(&str) -> Routes + Send + Sync>;
type ClientProgram = Arc<dyn Fn(UserClient) -> Pin<Box<dyn Future<Output = ()>>> + Send + Sync>;
type Check = Arc<dyn Fn(&Trace) -> Result<String, String> + Send + Sync>;

/// A user's world: its name (what scripts call it, `world = "..."`), and
/// the service, client and invariants it brings. What it leaves out is
/// squall's: the echo service, the built-in load, squall's checks only.
#[derive(Clone)]
pub struct UserWorld {
    name: String,
    service: Option<UserService>,
    client: Option<ClientProgram>,
    invariants: Vec<UserInvariant>,
}

impl fmt::Debug for UserWorld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserWorld")
            .field("name", &self.name)
            .field("service", &self.service.is_some())
            .field("client", &self.client.is_some())
            .field(
                "invariants",
                &self.invariants.iter().map(|i| i.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl UserWorld {
    /// A world called `name`, bringing nothing yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            service: None,
            client: None,
            invariants: Vec::new(),
        }
    }

    /// Every server runs the routes `routes(server_host)` builds, with a
    /// health service squall adds (it follows the server's health faults).
    pub fn service(self, routes: impl Fn(&str) -> Routes + Send + Sync + 'static) -> Self {
        self.with_service(routes, false)
    }

    /// Every server runs `service(server_host)`, any `tower::Service` over
    /// HTTP/2 requests (a gRPC service not written with tonic's codegen, a
    /// proxy, a hand-made fake), with squall's health service beside it
    /// (health checks go to squall's; every other path to `service`).
    pub fn http_service<S, B>(self, service: impl Fn(&str) -> S + Send + Sync + 'static) -> Self
    where
        S: tower::Service<
                http::Request<Body>,
                Response = http::Response<B>,
                Error = std::convert::Infallible,
            > + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.service(move |host| {
            // tonic's router is axum's: the service takes every path
            // nothing else routes, with axum's request body made tonic's.
            let service = tower::ServiceBuilder::new()
                .map_request(|request: http::Request<axum::body::Body>| request.map(Body::new))
                .service(service(host));
            Routes::from(axum::Router::new().fallback_service(service))
        })
    }

    /// As [`UserWorld::service`], for routes that already hold their own
    /// `grpc.health.v1.Health` service: squall adds none.
    pub fn service_with_own_health(
        self,
        routes: impl Fn(&str) -> Routes + Send + Sync + 'static,
    ) -> Self {
        self.with_service(routes, true)
    }

    fn with_service(
        mut self,
        routes: impl Fn(&str) -> Routes + Send + Sync + 'static,
        own_health: bool,
    ) -> Self {
        self.service = Some(UserService {
            routes: Arc::new(routes),
            own_health,
        });
        self
    }

    /// The client host runs `program` instead of squall's load, from the
    /// start of the run; the run ends when it returns and the pool has
    /// shut down.
    pub fn client<F, Fut>(mut self, program: F) -> Self
    where
        F: Fn(UserClient) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        self.client = Some(Arc::new(move |client| Box::pin(program(client))));
        self
    }

    /// An invariant of the user's, checked on every run of the world:
    /// `Ok(detail)` holds, `Err(detail)` fails, as squall's do.
    pub fn invariant(
        mut self,
        name: &'static str,
        check: impl Fn(&Trace) -> Result<String, String> + Send + Sync + 'static,
    ) -> Self {
        self.invariants.push(UserInvariant {
            name,
            check: Arc::new(check),
        });
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The service the servers run, if the world brings one.
    pub fn user_service(&self) -> Option<&UserService> {
        self.service.as_ref()
    }

    /// Whether the world brings its own client program.
    pub fn has_client(&self) -> bool {
        self.client.is_some()
    }

    pub(crate) fn client_program(&self) -> Option<&ClientProgram> {
        self.client.as_ref()
    }

    /// The user's invariants over `trace`.
    pub fn check(&self, trace: &Trace) -> Vec<crate::check::Invariant> {
        self.invariants
            .iter()
            .map(|i| crate::check::invariant(i.name, (i.check)(trace)))
            .collect()
    }
}

/// A user's service, as every server of the world runs it.
#[derive(Clone)]
pub struct UserService {
    routes: Routing,
    own_health: bool,
}

impl UserService {
    /// The routes server `host` serves.
    pub(crate) fn routes(&self, host: &str) -> Routes {
        (self.routes)(host)
    }

    /// Whether squall adds its health service to the routes.
    pub(crate) fn needs_health(&self) -> bool {
        !self.own_health
    }
}

/// A user's invariant.
#[derive(Clone)]
struct UserInvariant {
    name: &'static str,
    check: Check,
}

/// A server's service behind the server's faults, for a user's service
/// (`behaviour` set): slow-server's added latency before each call,
/// failing-server's share of calls failed with its status (trailers-only,
/// as a handler's error is), the same calls the echo service would fail
/// ([`crate::server::Failure::fails`]). The echo service applies them
/// itself (`behaviour` unset: calls pass through).
#[derive(Clone)]
pub(crate) struct Faulted<S> {
    pub(crate) inner: S,
    pub(crate) behaviour: Option<watch::Receiver<Behaviour>>,
    pub(crate) failing_calls: Arc<AtomicU64>,
}

impl<S, B> tower::Service<http::Request<B>> for Faulted<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let Some(behaviour) = self.behaviour.as_ref().map(|b| *b.borrow()) else {
            return Box::pin(self.inner.call(request));
        };
        // The service that was polled ready serves this call (tower's
        // rule); the clone stays for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let failing_calls = Arc::clone(&self.failing_calls);
        Box::pin(async move {
            if !behaviour.added_latency.is_zero() {
                tokio::time::sleep(behaviour.added_latency).await;
            }
            if let Some(failure) = behaviour.failure {
                let n = failing_calls.fetch_add(1, Ordering::Relaxed);
                if failure.fails(n) {
                    let status = Status::new(failure.code, "failure injected by a fault");
                    return Ok(status.into_http());
                }
            }
            inner.call(request).await
        })
    }
}

/// What a user's client program is handed.
pub struct UserClient {
    pool: Pool,
    recorder: Recorder,
    endpoint_names: Arc<[String]>,
    next_id: Arc<AtomicU64>,
    seed: u64,
    until: Duration,
}

impl UserClient {
    pub(crate) fn new(
        pool: Pool,
        recorder: Recorder,
        endpoint_names: Arc<[String]>,
        seed: u64,
        until: Duration,
    ) -> Self {
        Self {
            pool,
            recorder,
            endpoint_names,
            next_id: Arc::new(AtomicU64::new(1)),
            seed,
            until,
        }
    }

    /// How long the script runs (its `duration`): when the program should
    /// stop sending. The run ends once the program returns and the pool
    /// has shut down.
    pub fn until(&self) -> Duration {
        self.until
    }

    /// The pool to the script's targets, configured by its `[pool]`: give
    /// it (a clone: they share the pool) to a generated client.
    pub fn pool(&self) -> Pool {
        self.pool.clone()
    }

    /// The run's seed, for a program that draws random choices: a seeded
    /// RNG keeps the run reproducible.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The world's clock: time since the run started (simulated time in
    /// the simulation). Sleep with `tokio::time`, which is the same clock.
    pub fn elapsed(&self) -> Duration {
        self.recorder.elapsed()
    }

    /// Sends one call and records its outcome as an RPC line
    /// (`rpc_ok ... call=<method>` or `rpc_failed ... code=...`). `send`
    /// gets `message` as a request with `deadline` set as its timeout and
    /// the RPC's id in its metadata (servers' RPC lines name it), and
    /// sends it with the user's client. A call still unanswered at its
    /// deadline is recorded as DEADLINE_EXCEEDED.
    pub async fn call<M, T, F, Fut>(
        &self,
        method: &str,
        message: M,
        deadline: Duration,
        send: F,
    ) -> Result<tonic::Response<T>, Status>
    where
        F: FnOnce(tonic::Request<M>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut request = tonic::Request::new(message);
        request.set_timeout(deadline);
        request
            .metadata_mut()
            .insert(RPC_ID_HEADER, tonic::metadata::MetadataValue::from(id));
        let sent_at = self.recorder.elapsed();
        let sent_seq = self.recorder.len();
        let result = match tokio::time::timeout(deadline, send(request)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(Status::deadline_exceeded("the call's deadline passed")),
        };
        let routed = match &result {
            Ok(response) => response.extensions().get::<RoutedTo>().copied(),
            Err(status) => PoolError::from_status(status).and_then(PoolError::routed),
        };
        let outcome = RpcOutcome {
            id,
            call: RpcCall::User(method.to_owned()),
            deadline,
            conn: routed.map(|r| r.conn),
            endpoint: routed.map(|r| self.endpoint_names[r.endpoint.0 as usize].clone()),
            sent_at,
            sent_seq,
            result: result.as_ref().map(drop).map_err(Status::code),
        };
        self.recorder.record(CLIENT_HOST, TraceEvent::Rpc(outcome));
        result
    }
}

/// What the server runs: squall's echo service, or a user's.
#[derive(Clone, Default)]
pub enum Software {
    #[default]
    Echo,
    User(UserService),
}

impl fmt::Debug for Software {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Software::Echo => f.write_str("Echo"),
            Software::User(_) => f.write_str("User"),
        }
    }
}
