//! The trace: one line per pool event, fault, server connection and RPC
//! outcome, stamped with simulated time, in the order things happened.
//!
//! Line format: `<sim time ms> <host> <event> <key=value ...>`. The typed
//! [`TraceLine`]s are what invariant checkers read; the text is what people
//! read, what snapshots pin and what the trace hash covers. Nothing in a line
//! depends on the wall clock, the process, or hash-map order.

use std::{
    fmt,
    sync::{Arc, Mutex},
    time::Duration,
};

use sha2::{Digest, Sha256};
use squall_pool::{
    CloseCause, ConnEvent, ConnId, EventKind,
    breaker::{State as BreakerState, TransitionReason},
    event::fmt_breaker_change,
};
use tonic::Code;

use crate::{fault::Fault, load::Call, middlebox::Expiry, server::GoawayMode};

/// Most lines one run records. A run that hits it is cut short and reported,
/// rather than growing without bound.
pub const MAX_TRACE_LINES: usize = 2_000_000;

/// One recorded line.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceLine {
    /// Simulated time since the start of the run.
    pub at: Duration,
    pub host: String,
    pub event: TraceEvent,
}

/// The metadata key that carries the load's id of an RPC to the server, so
/// that a server's `server_rpc` line names the RPC it received (checks
/// that count calls on the server's side need to know when it was sent).
pub const RPC_ID_HEADER: &str = "squall-rpc";

/// What a line records.
#[derive(Debug, Clone, PartialEq)]
pub enum TraceEvent {
    /// A connection event of the client's pool; `endpoint` is the server
    /// host name.
    Pool {
        conn: ConnId,
        endpoint: String,
        kind: ConnEvent,
    },
    /// The client pool's breaker for `endpoint` (a server host name) moved
    /// from `from` to `to`.
    Breaker {
        endpoint: String,
        from: BreakerState,
        to: BreakerState,
        reason: TransitionReason,
    },
    /// The client pool's limiter occupancy changed.
    Limiter { in_flight: usize, queued: usize },
    /// Any other pool event about `endpoint` (a server host name): a
    /// retry, an outlier ejection, a health change. Rendered by the
    /// event's own `Display`, so the pool owns its fields.
    PoolEndpoint { endpoint: String, kind: EventKind },
    /// `Pool::shutdown` returned: tasks still alive, leases never given
    /// back, and RPCs still counted in flight on a connection.
    PoolShutdown {
        tasks_left: usize,
        leases_left: usize,
        in_flight_left: usize,
    },
    /// A fault was injected into the network.
    FaultStart(Fault),
    /// A fault was healed.
    FaultHeal(Fault),
    /// A server accepted a connection.
    ServerConnOpen { peer: String },
    /// A server's connection ended.
    ServerConnClosed { peer: String },
    /// A server received an RPC for `method` (a gRPC path) from `peer`;
    /// `rpc` is the load's id for it (the `squall-rpc` metadata the load
    /// sends), when the request carried one. Recorded only when the world
    /// asks servers to (see `WorldConfig`).
    ServerRpc {
        peer: String,
        method: String,
        rpc: Option<u64>,
    },
    /// A server is done with the stream of RPC `rpc` (one that carried
    /// the load's id): its handler and response are dropped, answered or
    /// not. Recorded beside [`TraceEvent::ServerRpc`]; not for a crash,
    /// which ends every stream of the host at once (its `host_crash` line
    /// says so), nor once the run is over.
    ServerRpcEnd {
        peer: String,
        rpc: u64,
        how: StreamEnd,
    },
    /// A server closed a new connection at once: it had too many open.
    ServerConnRefused { peer: String },
    /// A server (re)started listening for connections.
    ServerListening,
    /// A server sent a GOAWAY of this kind on one connection.
    ServerGoaway { peer: String, mode: GoawayMode },
    /// A server finished draining for a graceful restart; `aborted`
    /// connections were still open at the drain timeout and were closed.
    ServerStopped { aborted: usize },
    /// The host's software was crashed (by the driver).
    HostCrash,
    /// The host's software was started again after a crash.
    HostRestart,
    /// A NAT middlebox accepted a client flow and connected it to `to`.
    NatFlowOpen { flow: String, to: String },
    /// A NAT middlebox could not reach its server; the flow was dropped.
    NatFlowRefused { flow: String },
    /// A NAT flow was idle for the timeout and expired.
    NatFlowExpired { flow: String, mode: Expiry },
    /// Both ends of a (live) NAT flow closed it.
    NatFlowClosed { flow: String },
    /// A tonic client (a peer of the pool: `crate::peer`) dialled `to`.
    ChannelDial { to: String },
    /// A tonic client's dial of `to` connected.
    ChannelConnOpen { to: String },
    /// A tonic client's connection to `to` ended: tonic dropped its socket.
    ChannelConnClosed { to: String },
    /// An RPC finished.
    Rpc(RpcOutcome),
}

/// How a server's stream of one RPC ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The whole answer went out, trailers included.
    Answered,
    /// It ended before the answer was out: the client reset the stream
    /// (a cancelled hedge, a deadline), or the connection ended.
    Cancelled,
}

impl StreamEnd {
    pub fn name(self) -> &'static str {
        match self {
            StreamEnd::Answered => "answered",
            StreamEnd::Cancelled => "cancelled",
        }
    }
}

/// What an RPC was: one of the built-in load's calls, or a call of a
/// user's client program (`crate::user`), by its method's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcCall {
    Load(Call),
    User(String),
}

impl RpcCall {
    /// The load call's name, or the user's method.
    pub fn name(&self) -> &str {
        match self {
            RpcCall::Load(call) => call.name(),
            RpcCall::User(method) => method,
        }
    }
}

impl From<Call> for RpcCall {
    fn from(call: Call) -> Self {
        RpcCall::Load(call)
    }
}

/// How one RPC of the load generator (or a user's client) ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcOutcome {
    /// Sequence number of the RPC within the run, from 1.
    pub id: u64,
    /// What it asked of the server; shown as `call=` unless a plain echo.
    pub call: RpcCall,
    /// The deadline it was sent with (not shown: the script says it).
    pub deadline: Duration,
    /// The connection the pool routed it to, when known.
    pub conn: Option<ConnId>,
    /// The server host that connection leads to, when known.
    pub endpoint: Option<String>,
    /// When it was sent.
    pub sent_at: Duration,
    /// How many trace lines had been recorded when it was sent: orders the
    /// send against pool events of the same millisecond.
    pub sent_seq: usize,
    /// `Ok` or the gRPC status code it failed with.
    pub result: Result<(), Code>,
}

impl TraceEvent {
    pub fn name(&self) -> &'static str {
        match self {
            TraceEvent::Pool { kind, .. } => kind.name(),
            TraceEvent::Breaker { to, .. } => match to {
                BreakerState::Closed => "breaker_closed",
                BreakerState::Open => "breaker_open",
                BreakerState::HalfOpen => "breaker_half_open",
            },
            TraceEvent::Limiter { .. } => "limiter",
            TraceEvent::PoolEndpoint { kind, .. } => kind.name(),
            TraceEvent::PoolShutdown { .. } => "pool_shutdown",
            TraceEvent::FaultStart(_) => "fault_start",
            TraceEvent::FaultHeal(_) => "fault_heal",
            TraceEvent::ServerConnOpen { .. } => "server_conn_open",
            TraceEvent::ServerConnClosed { .. } => "server_conn_closed",
            TraceEvent::ServerConnRefused { .. } => "server_conn_refused",
            TraceEvent::ServerRpc { .. } => "server_rpc",
            TraceEvent::ServerRpcEnd { .. } => "server_rpc_end",
            TraceEvent::ServerListening => "server_listening",
            TraceEvent::ServerGoaway { .. } => "server_goaway",
            TraceEvent::ServerStopped { .. } => "server_stopped",
            TraceEvent::HostCrash => "host_crash",
            TraceEvent::HostRestart => "host_restart",
            TraceEvent::NatFlowOpen { .. } => "nat_flow_open",
            TraceEvent::NatFlowRefused { .. } => "nat_flow_refused",
            TraceEvent::NatFlowExpired { .. } => "nat_flow_expired",
            TraceEvent::NatFlowClosed { .. } => "nat_flow_closed",
            TraceEvent::ChannelDial { .. } => "channel_dial",
            TraceEvent::ChannelConnOpen { .. } => "channel_conn_open",
            TraceEvent::ChannelConnClosed { .. } => "channel_conn_closed",
            TraceEvent::Rpc(RpcOutcome { result: Ok(()), .. }) => "rpc_ok",
            TraceEvent::Rpc(RpcOutcome { result: Err(_), .. }) => "rpc_failed",
        }
    }
}

impl fmt::Display for TraceLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.at.as_millis(),
            self.host,
            self.event.name()
        )?;
        match &self.event {
            TraceEvent::Pool {
                conn,
                endpoint,
                kind,
            } => write!(f, " conn={conn} endpoint={endpoint}{kind}"),
            TraceEvent::Breaker {
                endpoint,
                from,
                reason,
                ..
            } => {
                write!(f, " endpoint={endpoint}")?;
                fmt_breaker_change(f, *from, *reason)
            }
            TraceEvent::Limiter { in_flight, queued } => {
                write!(f, " in_flight={in_flight} queued={queued}")
            }
            TraceEvent::PoolEndpoint { endpoint, kind } => write!(f, " endpoint={endpoint}{kind}"),
            TraceEvent::PoolShutdown {
                tasks_left,
                leases_left,
                in_flight_left,
            } => write!(
                f,
                " tasks_left={tasks_left} leases_left={leases_left} in_flight_left={in_flight_left}"
            ),
            TraceEvent::FaultStart(fault) | TraceEvent::FaultHeal(fault) => write!(f, " {fault}"),
            TraceEvent::ServerConnOpen { peer }
            | TraceEvent::ServerConnClosed { peer }
            | TraceEvent::ServerConnRefused { peer } => write!(f, " peer={peer}"),
            TraceEvent::ServerRpc { peer, method, rpc } => {
                write!(f, " peer={peer} method={method}")?;
                match rpc {
                    Some(id) => write!(f, " rpc={id}"),
                    None => Ok(()),
                }
            }
            TraceEvent::ServerRpcEnd { peer, rpc, how } => {
                write!(f, " peer={peer} rpc={rpc} how={}", how.name())
            }
            TraceEvent::ServerGoaway { peer, mode } => {
                write!(f, " peer={peer} mode={}", mode.name())
            }
            TraceEvent::ServerStopped { aborted } => write!(f, " aborted={aborted}"),
            TraceEvent::ServerListening | TraceEvent::HostCrash | TraceEvent::HostRestart => Ok(()),
            TraceEvent::NatFlowOpen { flow, to } => write!(f, " flow={flow} to={to}"),
            TraceEvent::NatFlowRefused { flow } | TraceEvent::NatFlowClosed { flow } => {
                write!(f, " flow={flow}")
            }
            TraceEvent::NatFlowExpired { flow, mode } => {
                write!(f, " flow={flow} mode={}", mode.name())
            }
            TraceEvent::ChannelDial { to }
            | TraceEvent::ChannelConnOpen { to }
            | TraceEvent::ChannelConnClosed { to } => {
                write!(f, " to={to}")
            }
            TraceEvent::Rpc(rpc) => {
                write!(f, " rpc={}", rpc.id)?;
                match &rpc.call {
                    RpcCall::Load(Call::Echo) => {}
                    RpcCall::Load(call) => write!(f, " call={}", call.name())?,
                    RpcCall::User(method) => write!(f, " call={method}")?,
                }
                match (&rpc.conn, &rpc.endpoint) {
                    (Some(conn), Some(endpoint)) => write!(f, " conn={conn} endpoint={endpoint}")?,
                    _ => f.write_str(" conn=-")?,
                }
                write!(f, " sent_ms={}", rpc.sent_at.as_millis())?;
                if let Err(code) = rpc.result {
                    write!(f, " code={code:?}")?;
                }
                Ok(())
            }
        }
    }
}

/// Collects lines from every host of one run. In the simulation, hosts run
/// one at a time on the simulator's thread and the mutex is only there
/// because the pool's event sink must be `Send + Sync`; in kernel mode hosts
/// run on threads of their own and the mutex orders their lines.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    inner: Arc<Mutex<RecorderState>>,
    clock: Clock,
}

/// Where a recorder reads the time of a line.
#[derive(Debug, Clone, Copy, Default)]
enum Clock {
    /// turmoil's simulated time of the host that records.
    #[default]
    Simulated,
    /// Real time since the world started, on the monotonic clock: kernel
    /// mode only, where the run is on real sockets and is not deterministic
    /// anyway. The simulation never uses this variant.
    Monotonic(std::time::Instant),
}

#[derive(Debug, Default)]
struct RecorderState {
    lines: Vec<TraceLine>,
    dropped: usize,
}

impl Recorder {
    /// A recorder for a world on real networking: lines are stamped with
    /// the time since this call, read from the monotonic clock.
    pub fn monotonic() -> Self {
        Self {
            inner: Arc::default(),
            // Real time on purpose: kernel mode runs on real sockets and
            // is compared with tolerances, never snapshotted. No simulated
            // world builds this recorder.
            clock: Clock::Monotonic(std::time::Instant::now()),
        }
    }

    /// The time since the run started, as lines are stamped: the host's
    /// simulated time, or (kernel mode) the monotonic time since the start.
    pub fn elapsed(&self) -> Duration {
        match self.clock {
            Clock::Simulated => {
                turmoil::sim_elapsed().expect("a simulated recorder is read inside a host")
            }
            Clock::Monotonic(origin) => origin.elapsed(),
        }
    }

    /// Records a line at the recording host's current time.
    pub fn record(&self, host: &str, event: TraceEvent) {
        match self.clock {
            Clock::Simulated => self.record_at(self.elapsed(), host, event),
            // Read under the lock, so lines from several threads stay in
            // time order.
            Clock::Monotonic(origin) => {
                let mut state = self.inner.lock().expect("recorder lock poisoned");
                let at = origin.elapsed();
                Self::push(&mut state, at, host, event);
            }
        }
    }

    /// [`Recorder::record`], unless the line is recorded from a drop outside
    /// every host (the simulation being torn down after the run): then it
    /// has no time, and nothing happens on a run that is over. For lines
    /// written from `Drop`.
    pub fn record_if_running(&self, host: &str, event: TraceEvent) {
        match self.clock {
            Clock::Simulated => {
                if let Some(at) = turmoil::sim_elapsed() {
                    self.record_at(at, host, event);
                }
            }
            Clock::Monotonic(_) => self.record(host, event),
        }
    }

    /// Records a line at an explicit simulated time (used by the world driver,
    /// which runs between simulation steps, outside any host).
    pub fn record_at(&self, at: Duration, host: &str, event: TraceEvent) {
        let mut state = self.inner.lock().expect("recorder lock poisoned");
        Self::push(&mut state, at, host, event);
    }

    fn push(state: &mut RecorderState, at: Duration, host: &str, event: TraceEvent) {
        if state.lines.len() >= MAX_TRACE_LINES {
            state.dropped += 1;
            return;
        }
        debug_assert!(
            state.lines.last().is_none_or(|last| last.at <= at),
            "trace time went backwards"
        );
        state.lines.push(TraceLine {
            at,
            host: host.to_owned(),
            event,
        });
    }

    /// How many lines have been recorded so far.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .expect("recorder lock poisoned")
            .lines
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The trace so far.
    pub fn snapshot(&self) -> Trace {
        let state = self.inner.lock().expect("recorder lock poisoned");
        Trace {
            lines: state.lines.clone(),
            dropped: state.dropped,
        }
    }
}

/// A finished run's trace.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Trace {
    pub lines: Vec<TraceLine>,
    /// Lines not recorded because the run hit [`MAX_TRACE_LINES`].
    pub dropped: usize,
}

impl Trace {
    /// The trace as text, one line per event, each ending in `\n`.
    pub fn text(&self) -> String {
        let mut text = String::new();
        for line in &self.lines {
            text.push_str(&line.to_string());
            text.push('\n');
        }
        if self.dropped > 0 {
            text.push_str(&format!(
                "trace truncated: {} lines dropped\n",
                self.dropped
            ));
        }
        text
    }

    /// SHA-256 of [`Trace::text`], first 16 hex digits: equal hashes mean
    /// byte-identical traces, for all practical purposes.
    pub fn hash(&self) -> String {
        let digest = Sha256::digest(self.text().as_bytes());
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// The first line where two traces differ: (line number from 1, ours,
    /// theirs), with `<end>` for a trace that ran out first.
    pub fn first_divergence(&self, other: &Trace) -> Option<(usize, String, String)> {
        let ours = self.text();
        let theirs = other.text();
        let mut a = ours.lines();
        let mut b = theirs.lines();
        for number in 1.. {
            match (a.next(), b.next()) {
                (None, None) => return None,
                (x, y) if x == y => continue,
                (x, y) => {
                    let show = |l: Option<&str>| l.unwrap_or("<end>").to_owned();
                    return Some((number, show(x), show(y)));
                }
            }
        }
        unreachable!("the loop returns when both traces end")
    }

    /// (time, cause) of each pool connection to `endpoint` that closed in
    /// `[from, to)`, in trace order.
    pub fn pool_closes(
        &self,
        endpoint: &str,
        from: Duration,
        to: Duration,
    ) -> Vec<(Duration, CloseCause)> {
        self.lines
            .iter()
            .filter(|line| line.at >= from && line.at < to)
            .filter_map(|line| match &line.event {
                TraceEvent::Pool {
                    endpoint: to_host,
                    kind: ConnEvent::Closed { cause },
                    ..
                } if to_host == endpoint => Some((line.at, cause.clone())),
                _ => None,
            })
            .collect()
    }

    /// RPC outcomes, in completion order.
    pub fn rpcs(&self) -> impl Iterator<Item = (&TraceLine, &RpcOutcome)> {
        self.lines.iter().filter_map(|line| match &line.event {
            TraceEvent::Rpc(rpc) => Some((line, rpc)),
            _ => None,
        })
    }
}

#[cfg(test)]
mod pool_endpoint_tests {
    use squall_pool::{EndpointId, breaker::GrpcCode};

    use super::*;

    #[test]
    fn a_retry_line_names_the_server_and_the_retry() {
        let line = TraceLine {
            at: Duration::from_millis(62),
            host: "client".into(),
            event: TraceEvent::PoolEndpoint {
                endpoint: "server-1".into(),
                kind: EventKind::Retry {
                    endpoint: EndpointId(0),
                    conn: ConnId(1),
                    attempt: 2,
                    code: GrpcCode::Unavailable,
                    backoff: Duration::from_millis(10),
                },
            },
        };
        assert_eq!(
            line.to_string(),
            "62 client retry endpoint=server-1 conn=1 attempt=2 code=UNAVAILABLE backoff_ms=10"
        );
    }
}

#[cfg(test)]
mod outlier_line_tests {
    use squall_pool::{EndpointId, OutlierChange, outlier::EjectReason};

    use super::*;

    #[test]
    fn outlier_lines_name_the_server_and_the_ejection() {
        let line = |change| TraceLine {
            at: Duration::from_millis(82),
            host: "client".into(),
            event: TraceEvent::PoolEndpoint {
                endpoint: "server-1".into(),
                kind: EventKind::Outlier {
                    endpoint: EndpointId(0),
                    change,
                },
            },
        };
        let ejected = OutlierChange::Ejected {
            reason: EjectReason::ConsecutiveFailures { failures: 3 },
            times: 2,
            duration: Duration::from_secs(2),
        };
        assert_eq!(
            line(ejected).to_string(),
            "82 client outlier_ejected endpoint=server-1 reason=consecutive_failures failures=3 times=2 duration_ms=2000"
        );
        assert_eq!(
            line(OutlierChange::Returned).to_string(),
            "82 client outlier_returned endpoint=server-1"
        );
    }
}

#[cfg(test)]
mod health_line_tests {
    use squall_pool::{CheckResult, EndpointId, HealthState};

    use super::*;

    #[test]
    fn health_lines_name_the_server_and_the_last_check() {
        let line = TraceLine {
            at: Duration::from_millis(4002),
            host: "client".into(),
            event: TraceEvent::PoolEndpoint {
                endpoint: "server-2".into(),
                kind: EventKind::Health {
                    endpoint: EndpointId(1),
                    to: HealthState::Unhealthy,
                    checks: 2,
                    last: CheckResult::NotServing,
                },
            },
        };
        assert_eq!(
            line.to_string(),
            "4002 client health_unhealthy endpoint=server-2 checks=2 last=not_serving"
        );
    }
}
