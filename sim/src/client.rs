//! The client host's program: a squall pool (or one of tonic's clients)
//! driven by the load generator, its events turned into trace lines. The
//! same program runs on turmoil and (kernel mode) on real sockets; a
//! [`Network`] says how it dials.

use std::sync::{Arc, Mutex};

use squall_pool::{Connector, EndpointId, EventKind, Pool, PoolEvent};

use crate::{
    WorldConfig,
    connector::TurmoilConnector,
    load::{self, LoadContext},
    peer::{self, BoxStream, Dial},
    server::ECHO_PORT,
    trace::{Recorder, TraceEvent},
    user::{UserClient, UserWorld},
    world::{CLIENT_HOST, ClientKind},
};

/// The client's pool, from its build to its shutdown, for the driver to
/// sample between steps (`Pool::loads` reads only locks and counters).
pub type WatchedPool = Arc<Mutex<Option<Pool>>>;

type BoxError = Box<dyn std::error::Error>;

/// How the client dials: the pool's connector, how a target host becomes
/// an address, and how tonic's clients open a TCP connection.
pub struct Network<C> {
    pub connector: C,
    /// The `host:port` of a target host (`server-1`, `nat-1`) on this
    /// network.
    pub authority_of: Box<dyn Fn(&str) -> String>,
    /// Opens a connection to a `host:port` for tonic's clients.
    pub dial: Dial,
}

impl<C> Network<C> {
    /// The URL of a target host.
    fn url_of(&self, host: &str) -> String {
        format!("http://{}", (self.authority_of)(host))
    }
}

impl Network<TurmoilConnector> {
    /// turmoil's TCP; hosts are dialled by name through turmoil's DNS.
    pub fn turmoil() -> Self {
        Self {
            connector: TurmoilConnector,
            authority_of: Box::new(|host| format!("{host}:{ECHO_PORT}")),
            dial: Arc::new(|authority: String| {
                Box::pin(async move {
                    let stream = turmoil::net::TcpStream::connect(authority.as_str()).await?;
                    stream.set_nodelay(true)?;
                    Ok(Box::new(stream) as BoxStream)
                })
            }),
        }
    }
}

/// The client host's program: build, load, shut down, record the shutdown.
pub async fn program<C: Connector>(
    config: WorldConfig,
    recorder: Recorder,
    watched: WatchedPool,
    net: Network<C>,
) -> Result<(), BoxError> {
    match config.client {
        ClientKind::Pool {
            config: pool_config,
            targets,
        } => {
            let names: Arc<[String]> = targets.iter().cloned().collect();
            let sink = pool_sink(recorder.clone(), Arc::clone(&names));
            let pool = Pool::builder()
                .endpoints(targets.iter().map(|t| net.url_of(t)))
                .config(pool_config)
                .on_event(sink)
                .build(net.connector)?;
            *watched.lock().expect("watched pool lock") = Some(pool.clone());
            let context = LoadContext {
                host: CLIENT_HOST.into(),
                recorder,
                endpoint_names: names,
                seed: config.seed,
                idempotent: config.load.idempotent,
            };
            let recorder = context.recorder.clone();
            match config.user.as_ref().and_then(UserWorld::client_program) {
                Some(program) => {
                    let client = UserClient::new(
                        pool.clone(),
                        context.recorder,
                        context.endpoint_names,
                        context.seed,
                        config.load.stop,
                    );
                    program(client).await;
                }
                None => load::run(pool.clone(), config.load, context).await,
            }
            let report = pool.shutdown().await;
            let in_flight_left = pool.loads().iter().map(|l| l.in_flight).sum();
            // Not a handle kept past shutdown: the pool's end is the user's.
            watched.lock().expect("watched pool lock").take();
            recorder.record(
                CLIENT_HOST,
                TraceEvent::PoolShutdown {
                    tasks_left: report.tasks_left,
                    leases_left: report.leases_left,
                    in_flight_left,
                },
            );
        }
        ClientKind::Tonic { client, targets } => {
            let urls: Vec<String> = targets.iter().map(|t| net.url_of(t)).collect();
            let authorities: Vec<String> = targets.iter().map(|t| (net.authority_of)(t)).collect();
            let channel = peer::channel(
                client,
                &targets,
                &urls,
                &authorities,
                net.dial,
                recorder.clone(),
                config.seed,
            )?;
            let context = LoadContext {
                host: CLIENT_HOST.into(),
                recorder,
                endpoint_names: Arc::from([]),
                seed: config.seed,
                idempotent: config.load.idempotent,
            };
            load::run(channel, config.load, context).await;
        }
    }
    Ok(())
}

/// Turns pool events into trace lines of the client host.
fn pool_sink(recorder: Recorder, names: Arc<[String]>) -> impl Fn(&PoolEvent) + Send + Sync {
    move |event: &PoolEvent| {
        let name = |endpoint: EndpointId| names[endpoint.0 as usize].clone();
        let line = match &event.kind {
            EventKind::Conn {
                endpoint,
                conn,
                event,
            } => TraceEvent::Pool {
                conn: *conn,
                endpoint: name(*endpoint),
                kind: event.clone(),
            },
            EventKind::Breaker {
                endpoint,
                from,
                to,
                reason,
            } => TraceEvent::Breaker {
                endpoint: name(*endpoint),
                from: *from,
                to: *to,
                reason: *reason,
            },
            EventKind::Limiter { in_flight, queued } => TraceEvent::Limiter {
                in_flight: *in_flight,
                queued: *queued,
            },
            EventKind::Retry { endpoint, .. }
            | EventKind::Hedge { endpoint, .. }
            | EventKind::HedgeCancelled { endpoint, .. }
            | EventKind::KeepaliveThrottled { endpoint, .. }
            | EventKind::Outlier { endpoint, .. }
            | EventKind::Health { endpoint, .. } => TraceEvent::PoolEndpoint {
                endpoint: name(*endpoint),
                kind: event.kind.clone(),
            },
        };
        recorder.record(CLIENT_HOST, line)
    }
}
