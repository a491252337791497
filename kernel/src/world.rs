//! One kernel-mode run: the world a [`WorldConfig`] describes, on real
//! Linux networking. The lab (namespaces, router, NATs) is built from the
//! config; the servers and the client run the simulation's own programs on
//! threads inside their namespaces; the driver applies the fault timeline
//! on the monotonic clock and samples the pool's connections every
//! millisecond, as the simulation does after every step; the trace has the
//! simulation's format, stamped in milliseconds since the world started.
//!
//! Everything the run created is removed when it ends, however it ends:
//! the lab is dropped on return and on panic.

use std::{
    collections::BTreeMap,
    net::IpAddr,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::Arc,
    time::Duration,
};

use futures_util::future::BoxFuture;
use squall_netlab::{Lab, LabSpec, NatExpiry, NatSpec};
use squall_pool::TcpConnector;
use squall_sim::{
    ClientKind, Expiry, FaultAction, RunOutput, SimError, StepCount, TraceEvent, WorldConfig,
    check::CapacityWatch,
    client::{self, Network, WatchedPool},
    fault::Controls,
    indexed_timeline,
    peer::BoxStream,
    server::{self, ECHO_PORT, ServerControl},
    trace::Recorder,
    world::{CLIENT_HOST, NET_HOST, SETTLE, panic_message},
};

use crate::{
    KernelError,
    host::{Ended, HostThread},
    inject::{ActiveCuts, Servers},
    net::KernelNet,
};

pub use crate::inject::unsupported;

/// How often the driver wakes to apply faults and sample the pool.
const POLL: Duration = Duration::from_millis(1);

/// What kernel mode ran on, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelWorld {
    /// The lab's id (namespaces are named after it).
    pub lab: String,
    /// One-way link latency: veth pairs add none that matters (~µs).
    pub link_latency: Duration,
}

/// Runs `config` on real networking. `Err` when the run could not be made
/// (a missing tool, no root, a script kernel mode cannot express); a run
/// that was made returns its trace and outcome as the simulation does.
pub fn run(config: &WorldConfig) -> Result<(RunOutput, KernelWorld), KernelError> {
    squall_netlab::check_preconditions()?;
    config
        .validate()
        .map_err(|e| KernelError::Unsupported(e.to_string()))?;
    if let Some(why) = unsupported(config) {
        return Err(KernelError::Unsupported(why));
    }
    // Namespaces a killed run left behind are removed first, so that
    // machines do not fill up with them.
    squall_netlab::cleanup_stale()?;
    let lab = Arc::new(Lab::create(&lab_spec(config))?);
    let world = KernelWorld {
        lab: lab.id().to_owned(),
        link_latency: Duration::ZERO,
    };
    let recorder = Recorder::monotonic();
    let mut capacity = CapacityWatch::new(match &config.client {
        ClientKind::Pool { config, .. } => config.max_streams_per_connection,
        ClientKind::Tonic { .. } => None,
    });
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        drive(config, &lab, &recorder, &mut capacity)
    }))
    .unwrap_or_else(|panic| Err(SimError::Panicked(panic_message(&panic))));
    // Every host thread has been joined by now, so this is the last
    // reference; were it not, the last one's drop would remove the lab.
    debug_assert_eq!(Arc::strong_count(&lab), 1, "host threads are joined");
    if let Ok(lab) = Arc::try_unwrap(lab) {
        lab.destroy()?;
    }
    let output = RunOutput {
        trace: recorder.snapshot(),
        capacity,
        // Real time is not stepped.
        steps: StepCount::default(),
        outcome,
    };
    Ok((output, world))
}

fn lab_spec(config: &WorldConfig) -> LabSpec {
    LabSpec {
        hosts: std::iter::once(CLIENT_HOST.to_owned())
            .chain(config.server_names())
            .collect(),
        nats: config
            .middleboxes
            .iter()
            .map(|m| NatSpec {
                name: m.name.clone(),
                forward_to: m.forward_to.clone(),
                port: ECHO_PORT,
                idle_timeout: m.idle_timeout,
                expiry: match m.expiry {
                    Expiry::Silent => NatExpiry::Silent,
                    Expiry::Rst => NatExpiry::Rst,
                },
            })
            .collect(),
    }
}

/// The world's servers: their threads and control channels.
struct ServerHosts {
    lab: Arc<Lab>,
    net: KernelNet,
    recorder: Recorder,
    controls: BTreeMap<String, ServerControl>,
    running: BTreeMap<String, HostThread>,
    /// A server that failed to start again after a crash.
    failed: Option<String>,
}

impl ServerHosts {
    fn start(&mut self, host: &str) -> Result<(), KernelError> {
        let (net, recorder) = (self.net.clone(), self.recorder.clone());
        let control = self.controls[host].clone();
        let name = host.to_owned();
        let thread = HostThread::spawn(&self.lab, host, move || {
            server::serve_on(net, name, recorder, control)
        })?;
        self.running.insert(host.to_owned(), thread);
        Ok(())
    }

    /// A host whose program ended on its own: servers run until stopped.
    fn ended(&mut self) -> Option<(String, Ended)> {
        let host = self
            .running
            .iter()
            .find(|(_, thread)| thread.is_finished())
            .map(|(host, _)| host.clone())?;
        let mut thread = self.running.remove(&host)?;
        Some((host, thread.stop()))
    }

    fn stop_all(&mut self) {
        for thread in self.running.values_mut() {
            thread.stop();
        }
        self.running.clear();
    }
}

impl Servers for ServerHosts {
    fn crash(&mut self, host: &str) {
        if let Some(mut thread) = self.running.remove(host) {
            thread.stop();
        }
        self.recorder.record(host, TraceEvent::HostCrash);
    }

    fn restart(&mut self, host: &str) -> Result<(), KernelError> {
        self.start(host)?;
        self.recorder.record(host, TraceEvent::HostRestart);
        Ok(())
    }

    fn controls(&self) -> Controls<'_> {
        Controls(&self.controls)
    }
}

fn drive(
    config: &WorldConfig,
    lab: &Arc<Lab>,
    recorder: &Recorder,
    capacity: &mut CapacityWatch,
) -> Result<(), SimError> {
    let host_error = |e: KernelError| SimError::Host(e.to_string());
    let names: BTreeMap<IpAddr, String> = config
        .host_names()
        .into_iter()
        .filter_map(|host| Some((IpAddr::V4(lab.addr(&host)?), host)))
        .collect();
    let mut servers = ServerHosts {
        lab: Arc::clone(lab),
        net: KernelNet {
            names: Arc::new(names),
        },
        recorder: recorder.clone(),
        controls: config
            .server_names()
            .into_iter()
            .map(|name| (name, config.server_control()))
            .collect(),
        running: BTreeMap::new(),
        failed: None,
    };
    for name in config.server_names() {
        servers.start(&name).map_err(host_error)?;
    }
    // In the simulation every server binds in its first poll, before the
    // client's first dial; here they bind on threads of their own, so the
    // client waits for them rather than being refused by a server that
    // is still starting.
    wait_listening(recorder, config.servers)?;
    let watched = WatchedPool::default();
    let mut client = start_client(config, lab, recorder, &watched).map_err(host_error)?;

    let hosts = config.host_names();
    let mut cuts = ActiveCuts::default();
    let mut actions = indexed_timeline(&config.faults).into_iter().peekable();
    let result = loop {
        let now = recorder.elapsed();
        while let Some((_, index, action)) = actions.next_if(|(at, _, _)| *at <= now) {
            let applied = match action {
                FaultAction::Inject(fault) => {
                    recorder.record(NET_HOST, TraceEvent::FaultStart(fault.clone()));
                    cuts.inject(lab, &hosts, &mut servers, index, &fault)
                }
                FaultAction::Heal(fault) => {
                    recorder.record(NET_HOST, TraceEvent::FaultHeal(fault.clone()));
                    cuts.heal(lab, &mut servers, index, &fault)
                }
            };
            if let Err(e) = applied {
                servers.failed = Some(e.to_string());
            }
        }
        if let Some(pool) = watched.lock().expect("watched pool lock").as_ref() {
            capacity.observe(recorder.elapsed(), &pool.loads());
        }
        if let Some(why) = servers.failed.take() {
            break Err(SimError::Host(why));
        }
        if let Some((host, Ended::Failed(why))) = servers.ended() {
            break Err(SimError::Host(format!("{host}: {why}")));
        }
        if client.is_finished() {
            break match client.stop() {
                Ended::Failed(why) => Err(SimError::Host(format!("{CLIENT_HOST}: {why}"))),
                Ended::Finished | Ended::Stopped => Ok(()),
            };
        }
        if now >= config.time_limit {
            client.stop();
            break Err(SimError::TimeLimit(config.time_limit));
        }
        std::thread::sleep(POLL);
    };
    // As in the simulation, servers run on for a moment after the client
    // has finished, so the trace shows which of their connections closed.
    if result.is_ok() {
        std::thread::sleep(SETTLE);
    }
    servers.stop_all();
    result
}

/// How long servers may take to bind.
const STARTUP: Duration = Duration::from_secs(5);

fn wait_listening(recorder: &Recorder, servers: usize) -> Result<(), SimError> {
    let deadline = std::time::Instant::now() + STARTUP;
    loop {
        let listening = recorder
            .snapshot()
            .lines
            .iter()
            .filter(|line| line.event == TraceEvent::ServerListening)
            .count();
        if listening >= servers {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(SimError::Host(format!(
                "{listening} of {servers} server(s) listening after {STARTUP:?}"
            )));
        }
        std::thread::sleep(POLL);
    }
}

fn start_client(
    config: &WorldConfig,
    lab: &Arc<Lab>,
    recorder: &Recorder,
    watched: &WatchedPool,
) -> Result<HostThread, KernelError> {
    let addresses: BTreeMap<String, String> = config
        .host_names()
        .into_iter()
        .filter_map(|host| Some((host.clone(), lab.addr(&host)?.to_string())))
        .collect();
    let (config, recorder, watched) = (config.clone(), recorder.clone(), watched.clone());
    HostThread::spawn(lab, CLIENT_HOST, move || {
        let net = Network {
            // The socket options users get: the pool's real connector, given
            // the options the pool derives from its keepalive.
            connector: TcpConnector,
            authority_of: Box::new(move |host: &str| {
                let addr = addresses.get(host).map_or(host, String::as_str);
                format!("{addr}:{ECHO_PORT}")
            }),
            dial: Arc::new(tonic_dial),
        };
        client::program(config, recorder, watched, net)
    })
}

/// A TCP connection for tonic's clients, with tonic's default socket
/// settings (TCP_NODELAY on, nothing else).
fn tonic_dial(authority: String) -> BoxFuture<'static, std::io::Result<BoxStream>> {
    Box::pin(async move {
        let stream = tokio::net::TcpStream::connect(authority).await?;
        stream.set_nodelay(true)?;
        Ok(Box::new(stream) as BoxStream)
    })
}
