//! The clients a load run compares, each made ready before timing starts:
//! squall's [`Pool`] over [`TcpConnector`], one tonic `Channel`, or N
//! tonic `Channel`s taken in turn. Each counts the connections it opens.

use std::{
    io,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http_body::Body as HttpBody;
use hyper_util::rt::TokioIo;
use squall_pool::{ConnEvent, EventKind, EventSink, Pool, PoolConfig, PoolEvent, TcpConnector};
use squall_sim::echo::proto::{EchoRequest, echo_client::EchoClient};
use tokio::{net::TcpStream, sync::Notify};
use tonic::{Code, Request, body::Body, client::GrpcService, transport::Channel};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use super::args::{Method, Target};

/// Every RPC's deadline: a server that stops answering ends the run's
/// loops instead of hanging them.
pub(crate) const RPC_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a client may take to open its connections before the run fails.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The message every echo RPC sends.
const MESSAGE: &str = "squall load";

/// Why a client could not be made ready.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid pool: {0}")]
    Pool(#[from] squall_pool::BuildError),
    #[error("cannot connect to {target}: {source}")]
    Channel {
        target: String,
        source: tonic::transport::Error,
    },
    #[error("the pool had {ready} of {wanted} connections ready after {}s", CONNECT_TIMEOUT.as_secs())]
    NotReady { ready: usize, wanted: usize },
}

/// Counts the pool's new connections and wakes whoever waits for them.
#[derive(Default)]
pub(crate) struct Opened {
    count: AtomicU64,
    changed: Notify,
}

impl Opened {
    pub(crate) fn get(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn add(&self) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.changed.notify_waiters();
    }
}

/// A sink that counts connections becoming ready.
struct CountOpened(Arc<Opened>);

impl EventSink for CountOpened {
    fn on_event(&self, event: &PoolEvent) {
        if let EventKind::Conn {
            event: ConnEvent::Ready,
            ..
        } = event.kind
        {
            self.0.add();
        }
    }
}

/// A built client, ready to send.
pub(crate) enum Client {
    Pool {
        pool: Pool,
        opened: Arc<Opened>,
    },
    Channels {
        channels: Vec<Channel>,
        opened: Arc<Opened>,
    },
}

impl Client {
    /// A pool with `connections` connections to `target`, once all are ready,
    /// coalescing request writes or not. Extra sinks (metrics) see every
    /// event too.
    pub(crate) async fn pool(
        target: &Target,
        connections: usize,
        coalesce_request_writes: bool,
        also: Option<Arc<dyn EventSink>>,
    ) -> Result<Self, ClientError> {
        let config = PoolConfig {
            connections_per_endpoint: connections,
            coalesce_request_writes,
            ..PoolConfig::default()
        };
        let opened = Arc::new(Opened::default());
        let counter = CountOpened(Arc::clone(&opened));
        let pool = Pool::builder()
            .endpoint(target.url.clone())
            .config(config.clone())
            .on_event(move |event: &PoolEvent| {
                counter.on_event(event);
                if let Some(sink) = &also {
                    sink.on_event(event);
                }
            })
            .build(TcpConnector)?;
        let all_ready = async {
            loop {
                let mut changed = std::pin::pin!(opened.changed.notified());
                // Register before checking, so a connection that becomes
                // ready in between is not missed.
                changed.as_mut().enable();
                if pool.ready_connections() >= connections {
                    return;
                }
                changed.await;
            }
        };
        if tokio::time::timeout(CONNECT_TIMEOUT, all_ready)
            .await
            .is_err()
        {
            return Err(ClientError::NotReady {
                ready: pool.ready_connections(),
                wanted: connections,
            });
        }
        Ok(Client::Pool { pool, opened })
    }

    /// One tonic channel to `target` with the pool's default keepalive and
    /// RPC deadline, connected.
    pub(crate) async fn channel_like_pool(target: &Target) -> Result<Self, ClientError> {
        let defaults = PoolConfig::default();
        Self::channels_with(target, 1, |endpoint| {
            endpoint
                .http2_keep_alive_interval(defaults.keepalive.interval)
                .keep_alive_timeout(defaults.keepalive.timeout)
                .keep_alive_while_idle(defaults.keepalive.while_idle)
                .timeout(defaults.default_rpc_timeout)
        })
        .await
    }

    /// `n` tonic channels to `target`, each connected.
    pub(crate) async fn channels(target: &Target, n: usize) -> Result<Self, ClientError> {
        Self::channels_with(target, n, |endpoint| endpoint).await
    }

    /// `n` tonic channels to `target`, each configured by `setup`, each
    /// connected.
    async fn channels_with(
        target: &Target,
        n: usize,
        setup: impl Fn(tonic::transport::Endpoint) -> tonic::transport::Endpoint,
    ) -> Result<Self, ClientError> {
        let opened = Arc::new(Opened::default());
        let mut channels = Vec::with_capacity(n);
        for _ in 0..n {
            let endpoint = tonic::transport::Endpoint::from_shared(target.url.clone())
                .map(|e| setup(e.connect_timeout(CONNECT_TIMEOUT)));
            let channel = match endpoint {
                Ok(endpoint) => {
                    endpoint
                        .connect_with_connector(counting_connector(target, Arc::clone(&opened)))
                        .await
                }
                Err(e) => Err(e),
            };
            channels.push(channel.map_err(|source| ClientError::Channel {
                target: target.url.clone(),
                source,
            })?);
        }
        Ok(Client::Channels { channels, opened })
    }

    /// Connections opened so far.
    pub(crate) fn opened(&self) -> u64 {
        match self {
            Client::Pool { opened, .. } | Client::Channels { opened, .. } => opened.get(),
        }
    }

    /// Closes the client; for the pool, waits for its tasks to end.
    pub(crate) async fn close(self) {
        match self {
            Client::Pool { pool, .. } => {
                let _report = pool.shutdown().await;
            }
            Client::Channels { channels, .. } => drop(channels),
        }
    }
}

/// Dials TCP as tonic's own connector does (with `TCP_NODELAY`), counting
/// each dial, so a channel's reconnects show in the report.
fn counting_connector(
    target: &Target,
    opened: Arc<Opened>,
) -> impl tower::Service<
    http::Uri,
    Response = TokioIo<TcpStream>,
    Error = io::Error,
    Future = impl Future<Output = io::Result<TokioIo<TcpStream>>> + Send,
> + Send
+ 'static {
    let host = target
        .host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = target.port;
    tower::service_fn(move |_uri: http::Uri| {
        let host = host.clone();
        let opened = Arc::clone(&opened);
        async move {
            let stream = TcpStream::connect((host.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            opened.add();
            Ok(TokioIo::new(stream))
        }
    })
}

/// One RPC loop's client for one connection or channel.
#[derive(Clone)]
pub(crate) enum Stub<S> {
    Echo(EchoClient<S>),
    Health(HealthClient<S>),
}

impl<S> Stub<S>
where
    S: GrpcService<Body> + Clone + Send + 'static,
    S::Error: Into<tonic::codegen::StdError>,
    S::ResponseBody: HttpBody<Data = Bytes> + Send + 'static,
    <S::ResponseBody as HttpBody>::Error: Into<tonic::codegen::StdError> + Send,
{
    pub(crate) fn new(service: S, method: Method) -> Self {
        match method {
            Method::Echo => Stub::Echo(EchoClient::new(service)),
            Method::Health => Stub::Health(HealthClient::new(service)),
        }
    }

    /// Sends one RPC; `Err` is its status code.
    pub(crate) async fn call(&mut self) -> Result<(), Code> {
        let result = match self {
            Stub::Echo(client) => {
                let mut request = Request::new(EchoRequest {
                    message: MESSAGE.to_owned(),
                    ..EchoRequest::default()
                });
                request.set_timeout(RPC_TIMEOUT);
                client.echo(request).await.map(drop)
            }
            Stub::Health(client) => {
                let mut request = Request::new(HealthCheckRequest::default());
                request.set_timeout(RPC_TIMEOUT);
                client.check(request).await.map(drop)
            }
        };
        result.map_err(|status| status.code())
    }
}
