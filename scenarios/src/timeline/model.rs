//! The timeline's model: a run's [`Report`] turned into what a picture of it
//! shows — fault spans, one group of lanes per host (connection rows, RPC
//! ticks, breaker states), client plots and invariant marks — all on one
//! sim-time axis. Pure data, built from the typed trace; no drawing here.
//!
//! Every span, mark and tick keeps the trace line(s) it came from as
//! `text`, which the page shows on hover.

use std::{collections::BTreeMap, time::Duration};

use squall_pool::{CloseCause, ConnId, EventKind};
use squall_sim::{Fault, Trace, TraceEvent, TraceLine, world::CLIENT_HOST};

use super::conns::ConnRows;
use crate::Report;

/// Most RPC ticks one timeline draws. A longer run keeps its first ticks
/// and says how many it left out, so a huge trace cannot make a page too
/// big for a browser.
pub const MAX_RPC_TICKS: usize = 50_000;

/// Everything the page draws, for one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub scenario: String,
    pub seed: u64,
    pub passed: bool,
    pub trace_hash: String,
    /// The end of the axis: the last line's time (at least 1 ms).
    pub end: Duration,
    pub faults: Vec<FaultSpan>,
    /// One group per host other than the client, endpoints first.
    pub groups: Vec<HostGroup>,
    /// The client's own lanes: unrouted RPCs, shutdown, plots.
    pub client: ClientLanes,
    pub invariants: Vec<InvariantMark>,
    /// RPC ticks left out past [`MAX_RPC_TICKS`].
    pub omitted_rpcs: usize,
}

/// A fault from injection to heal.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpan {
    pub start: Duration,
    /// When it was healed or ran its course; `None`: it lasted to the end.
    pub end: Option<Duration>,
    pub class: FaultClass,
    /// A short name for its bar: `black hole client ↔ server-2`.
    pub title: String,
    /// The hosts it hits, other than the client: their lanes are shaded.
    pub hosts: Vec<String>,
    /// Its trace lines (start, heal).
    pub text: String,
}

/// What a fault acts on: the network between hosts, or a server's software.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultClass {
    Network,
    Server,
}

/// The lanes of one host: a server, or a middlebox the client dials.
#[derive(Debug, Clone, PartialEq)]
pub struct HostGroup {
    pub host: String,
    /// True if the client's pool dials this host (it has connection rows).
    pub endpoint: bool,
    /// Up/down spans of a server's software (empty for a middlebox).
    pub states: Vec<Span<HostState>>,
    /// Crashes, restarts, GOAWAYs, NAT expiries and the like.
    pub marks: Vec<Mark>,
    /// The server's side: connections it holds open, over time.
    pub server_conns: Series,
    /// The pool's connections to this host, packed into rows.
    pub rows: Vec<ConnRow>,
    /// RPCs routed to this host, at their completion.
    pub rpcs: Vec<RpcTick>,
    /// The circuit breaker's state for this endpoint over time (empty until
    /// the trace records breaker transitions).
    pub breaker: Vec<Span<BreakerState>>,
}

/// One row of connection lanes: connections that followed each other in
/// time (one pool slot, usually).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConnRow {
    pub spans: Vec<Span<ConnState>>,
    pub marks: Vec<Mark>,
    pub detections: Vec<DetectionMark>,
}

/// A state held from `from` to `to`.
#[derive(Debug, Clone, PartialEq)]
pub struct Span<S> {
    pub from: Duration,
    pub to: Duration,
    pub state: S,
    pub text: String,
}

/// A connection's state, as the pool reports it, plus the wait before a
/// slot redials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    Connecting,
    Ready,
    Draining,
    /// Closed; the slot waits this long before dialling again.
    Backoff,
}

/// A server's software state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostState {
    Up,
    Down,
}

/// A circuit breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

/// Something that happened at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub at: Duration,
    pub kind: MarkKind,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkKind {
    /// A connection closed.
    Closed(CloseKind),
    /// A lease was held past the leak threshold.
    LeaseHeld,
    Goaway,
    HostCrash,
    HostRestart,
    ServerStopped,
    ServerRefused,
    NatExpired,
    NatRefused,
    PoolShutdown,
}

/// Why a connection closed, in the few classes the picture tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseKind {
    KeepaliveTimeout,
    ConnectFailed,
    PeerClosed,
    Transport,
    Shutdown,
}

impl From<&CloseCause> for CloseKind {
    fn from(cause: &CloseCause) -> Self {
        match cause {
            CloseCause::KeepaliveTimeout => CloseKind::KeepaliveTimeout,
            CloseCause::ConnectFailed(_) => CloseKind::ConnectFailed,
            CloseCause::PeerClosed => CloseKind::PeerClosed,
            CloseCause::Transport(_) => CloseKind::Transport,
            CloseCause::Shutdown => CloseKind::Shutdown,
        }
    }
}

/// A connection a fault cut off, and when (if ever) the pool closed it.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectionMark {
    pub conn: ConnId,
    pub fault_at: Duration,
    pub detected_at: Option<Duration>,
    pub text: String,
}

/// One RPC's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcTick {
    /// When it ended.
    pub at: Duration,
    pub sent: Duration,
    /// `None`: ok; else the gRPC code it failed with (`DeadlineExceeded`).
    pub failed: Option<String>,
    pub text: String,
}

/// A step plot: the value holds from each point's time to the next.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    pub label: String,
    pub points: Vec<(Duration, u64)>,
}

impl Series {
    pub fn max(&self) -> u64 {
        self.points.iter().map(|&(_, v)| v).max().unwrap_or(0)
    }
}

/// The client's lanes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClientLanes {
    /// RPCs the pool routed to no connection.
    pub unrouted: Vec<RpcTick>,
    pub marks: Vec<Mark>,
    /// RPCs in flight (from each RPC's send to its end); limiter plots
    /// follow when the trace records them.
    pub plots: Vec<Series>,
}

/// An invariant's verdict and, for a failed one, when it was broken.
#[derive(Debug, Clone, PartialEq)]
pub struct InvariantMark {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    pub at: Option<Duration>,
}

impl Timeline {
    /// The timeline of a finished run.
    pub fn from_report(report: &Report) -> Timeline {
        let trace = &report.trace;
        let end = trace
            .lines
            .last()
            .map_or(Duration::ZERO, |l| l.at)
            .max(Duration::from_millis(1));
        let faults = fault_spans(trace);
        let mut groups = host_groups(trace, &faults);
        let mut conns = ConnRows::default();
        let mut client = ClientLanes::default();
        let mut rpc_ticks = 0;
        let mut omitted_rpcs = 0;
        for line in &trace.lines {
            let index = groups.iter().position(|g| g.host == line.host);
            match &line.event {
                TraceEvent::Pool {
                    conn,
                    endpoint,
                    kind,
                } => {
                    conns.apply(line, *conn, endpoint, kind);
                }
                TraceEvent::Rpc(rpc) => {
                    if rpc_ticks == MAX_RPC_TICKS {
                        omitted_rpcs += 1;
                        continue;
                    }
                    rpc_ticks += 1;
                    let tick = RpcTick {
                        at: line.at,
                        sent: rpc.sent_at,
                        failed: rpc.result.err().map(|code| format!("{code:?}")),
                        text: line.to_string(),
                    };
                    match rpc.endpoint.as_ref().and_then(|e| group_of(&groups, e)) {
                        Some(g) => groups[g].rpcs.push(tick),
                        None => client.unrouted.push(tick),
                    }
                }
                TraceEvent::PoolShutdown { .. } => {
                    client.marks.push(mark(line, MarkKind::PoolShutdown));
                }
                _ => {
                    if let Some(g) = index {
                        host_line(&mut groups[g], line);
                    }
                }
            }
        }
        let endpoints = conns.finish(end, &report.detections);
        for (endpoint, rows) in endpoints {
            if let Some(g) = group_of(&groups, &endpoint) {
                groups[g].rows = rows;
            }
        }
        for group in &mut groups {
            close_host_states(&mut group.states, end);
        }
        client.plots.push(in_flight(trace));
        Timeline {
            scenario: report.scenario.clone(),
            seed: report.seed,
            passed: report.passed(),
            trace_hash: trace.hash(),
            end,
            faults,
            groups,
            client,
            invariants: report
                .invariants
                .iter()
                .map(|i| InvariantMark {
                    name: i.name.to_owned(),
                    ok: i.ok,
                    detail: i.detail.clone(),
                    at: if i.ok {
                        None
                    } else {
                        super::violation::broken_at(report, i, end)
                    },
                })
                .collect(),
            omitted_rpcs,
        }
    }
}

fn group_of(groups: &[HostGroup], host: &str) -> Option<usize> {
    groups.iter().position(|g| g.host == host)
}

fn mark(line: &TraceLine, kind: MarkKind) -> Mark {
    Mark {
        at: line.at,
        kind,
        text: line.to_string(),
    }
}

/// Faults, each from its start line to its heal line. A heal ends the
/// earliest open span of an equal fault. One-shot faults end by
/// themselves: a graceful restart when its host listens again, a single
/// GOAWAY storm at once.
fn fault_spans(trace: &Trace) -> Vec<FaultSpan> {
    let mut spans: Vec<(FaultSpan, Fault)> = Vec::new();
    for line in &trace.lines {
        match &line.event {
            TraceEvent::FaultStart(fault) => {
                let one_shot_end = match fault {
                    Fault::GoawayStorm(storm) if storm.every.is_none() => Some(line.at),
                    Fault::GracefulRestart(restart) => {
                        listening_again(trace, line.at, &restart.hosts)
                    }
                    _ => None,
                };
                spans.push((
                    FaultSpan {
                        start: line.at,
                        end: one_shot_end,
                        class: fault_class(fault),
                        title: fault_title(fault),
                        hosts: fault_hosts(fault),
                        text: line.to_string(),
                    },
                    fault.clone(),
                ));
            }
            TraceEvent::FaultHeal(fault) => {
                let open = spans
                    .iter_mut()
                    .find(|(span, f)| f == fault && span.end.is_none());
                if let Some((span, _)) = open {
                    span.end = Some(line.at);
                    span.text.push('\n');
                    span.text.push_str(&line.to_string());
                }
            }
            _ => {}
        }
    }
    spans.into_iter().map(|(span, _)| span).collect()
}

/// The first time after `from` that every one of `hosts` listens again.
fn listening_again(trace: &Trace, from: Duration, hosts: &[String]) -> Option<Duration> {
    let mut latest = None;
    for host in hosts {
        let at = trace
            .lines
            .iter()
            .filter(|l| l.at > from && &l.host == host)
            .find(|l| matches!(l.event, TraceEvent::ServerListening))?
            .at;
        latest = latest.max(Some(at));
    }
    latest
}

fn fault_class(fault: &Fault) -> FaultClass {
    match fault {
        Fault::BlackHole(_)
        | Fault::Partition(_)
        | Fault::OneWayPartition(_)
        | Fault::LossyLink(_) => FaultClass::Network,
        Fault::ServerCrash(_)
        | Fault::SlowServer(_)
        | Fault::FailingServer(_)
        | Fault::GracefulRestart(_)
        | Fault::GoawayStorm(_) => FaultClass::Server,
    }
}

fn fault_title(fault: &Fault) -> String {
    let list = |hosts: &[String]| hosts.join(",");
    match fault {
        Fault::BlackHole(f) => format!("black hole {} ↔ {}", f.a, f.b),
        Fault::Partition(f) => format!("partition {} | {}", list(&f.a), list(&f.b)),
        Fault::OneWayPartition(f) => {
            format!("one-way partition {} → {}", list(&f.from), list(&f.to))
        }
        Fault::LossyLink(f) => format!(
            "lossy link {} ↔ {} ({}‰ loss)",
            list(&f.a),
            list(&f.b),
            f.loss_permille
        ),
        Fault::ServerCrash(f) if f.silent => format!("silent crash {}", list(&f.hosts)),
        Fault::ServerCrash(f) => format!("process crash {}", list(&f.hosts)),
        Fault::SlowServer(f) => format!(
            "slow server {} (+{} ms)",
            list(&f.hosts),
            f.added_latency.as_millis()
        ),
        Fault::FailingServer(f) => format!(
            "failing server {} ({}% {:?})",
            list(&f.hosts),
            f.failure_percent,
            f.code.code()
        ),
        Fault::GracefulRestart(f) => format!("graceful restart {}", list(&f.hosts)),
        Fault::GoawayStorm(f) => format!("GOAWAY storm ({}) {}", f.mode.name(), list(&f.hosts)),
    }
}

/// The hosts a fault names, other than the client (whose lanes are the
/// whole picture), sorted and without repeats.
fn fault_hosts(fault: &Fault) -> Vec<String> {
    let mut hosts: Vec<String> = match fault {
        Fault::BlackHole(f) => vec![f.a.clone(), f.b.clone()],
        Fault::Partition(f) => f.a.iter().chain(&f.b).cloned().collect(),
        Fault::OneWayPartition(f) => f.from.iter().chain(&f.to).cloned().collect(),
        Fault::LossyLink(f) => f.a.iter().chain(&f.b).cloned().collect(),
        Fault::ServerCrash(f) => f.hosts.clone(),
        Fault::SlowServer(f) => f.hosts.clone(),
        Fault::FailingServer(f) => f.hosts.clone(),
        Fault::GracefulRestart(f) => f.hosts.clone(),
        Fault::GoawayStorm(f) => f.hosts.clone(),
    };
    hosts.retain(|h| h != CLIENT_HOST);
    hosts.sort_by(|a, b| natural(a).cmp(&natural(b)));
    hosts.dedup();
    hosts
}

/// Sort key: `server-2` before `server-10`.
fn natural(host: &str) -> (&str, u64) {
    let digits = host.len() - host.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (stem, number) = host.split_at(host.len() - digits);
    (stem, number.parse().unwrap_or(0))
}

/// One group per host that appears in the trace or in a fault, other than
/// the client and the fault driver: the pool's endpoints first, then the
/// rest, each part in natural order.
fn host_groups(trace: &Trace, faults: &[FaultSpan]) -> Vec<HostGroup> {
    let mut hosts: BTreeMap<(bool, (&str, u64)), &str> = BTreeMap::new();
    let endpoints: Vec<&str> = trace
        .lines
        .iter()
        .filter_map(|l| match &l.event {
            TraceEvent::Pool { endpoint, .. } => Some(endpoint.as_str()),
            _ => None,
        })
        .collect();
    let named = trace
        .lines
        .iter()
        .map(|l| l.host.as_str())
        .filter(|h| *h != CLIENT_HOST && *h != squall_sim::world::NET_HOST)
        .chain(
            faults
                .iter()
                .flat_map(|f| f.hosts.iter().map(String::as_str)),
        )
        .chain(endpoints.iter().copied());
    for host in named {
        let endpoint = endpoints.contains(&host);
        hosts.insert((!endpoint, natural(host)), host);
    }
    hosts
        .into_iter()
        .map(|((not_endpoint, _), host)| HostGroup {
            host: host.to_owned(),
            endpoint: !not_endpoint,
            states: Vec::new(),
            marks: Vec::new(),
            server_conns: Series {
                label: "server conns open".to_owned(),
                points: Vec::new(),
            },
            rows: Vec::new(),
            rpcs: Vec::new(),
            breaker: Vec::new(),
        })
        .collect()
}

/// A line recorded by a server or middlebox.
fn host_line(group: &mut HostGroup, line: &TraceLine) {
    let open = group.server_conns.points.last().map_or(0, |&(_, v)| v);
    let kind = match &line.event {
        TraceEvent::ServerListening | TraceEvent::HostRestart => {
            set_host_state(&mut group.states, line, HostState::Up);
            if matches!(line.event, TraceEvent::HostRestart) {
                Some(MarkKind::HostRestart)
            } else {
                None
            }
        }
        TraceEvent::HostCrash => {
            set_host_state(&mut group.states, line, HostState::Down);
            // A crash drops every connection the host held.
            step(&mut group.server_conns, line.at, 0);
            Some(MarkKind::HostCrash)
        }
        TraceEvent::ServerStopped { .. } => {
            set_host_state(&mut group.states, line, HostState::Down);
            Some(MarkKind::ServerStopped)
        }
        TraceEvent::ServerConnOpen { .. } => {
            step(&mut group.server_conns, line.at, open + 1);
            None
        }
        TraceEvent::ServerConnClosed { .. } => {
            step(&mut group.server_conns, line.at, open.saturating_sub(1));
            None
        }
        TraceEvent::ServerConnRefused { .. } => Some(MarkKind::ServerRefused),
        TraceEvent::ServerGoaway { .. } => Some(MarkKind::Goaway),
        TraceEvent::NatFlowExpired { .. } => {
            // The NAT forgot the flow, whatever its ends believe.
            step(&mut group.server_conns, line.at, open.saturating_sub(1));
            Some(MarkKind::NatExpired)
        }
        TraceEvent::NatFlowRefused { .. } => Some(MarkKind::NatRefused),
        TraceEvent::NatFlowOpen { .. } => {
            step(&mut group.server_conns, line.at, open + 1);
            None
        }
        TraceEvent::NatFlowClosed { .. } => {
            step(&mut group.server_conns, line.at, open.saturating_sub(1));
            None
        }
        TraceEvent::Pool { .. }
        | TraceEvent::PoolShutdown { .. }
        | TraceEvent::FaultStart(_)
        | TraceEvent::FaultHeal(_)
        | TraceEvent::Rpc(_) => None,
    };
    if let Some(kind) = kind {
        group.marks.push(mark(line, kind));
    }
}

/// Sets a step series' value from `at` on; several changes in one
/// millisecond keep only the last value.
fn step(series: &mut Series, at: Duration, value: u64) {
    match series.points.last_mut() {
        Some(last) if last.0 == at => last.1 = value,
        _ => series.points.push((at, value)),
    }
}

fn set_host_state(states: &mut Vec<Span<HostState>>, line: &TraceLine, state: HostState) {
    if let Some(last) = states.last_mut() {
        if last.state == state {
            return;
        }
        last.to = line.at;
    }
    states.push(Span {
        from: line.at,
        to: Duration::MAX,
        state,
        text: line.to_string(),
    });
}

fn close_host_states(states: &mut [Span<HostState>], end: Duration) {
    if let Some(last) = states.last_mut()
        && last.to == Duration::MAX
    {
        last.to = end;
    }
}

/// RPCs in flight: each counts from its send to its end.
fn in_flight(trace: &Trace) -> Series {
    let mut delta: BTreeMap<Duration, i64> = BTreeMap::new();
    for (line, rpc) in trace.rpcs() {
        *delta.entry(rpc.sent_at).or_default() += 1;
        *delta.entry(line.at).or_default() -= 1;
    }
    let mut series = Series {
        label: "rpcs in flight".to_owned(),
        points: Vec::new(),
    };
    let mut now: i64 = 0;
    for (at, change) in delta {
        now += change;
        debug_assert!(now >= 0, "an RPC ended before it was sent");
        step(&mut series, at, now.max(0) as u64);
    }
    series
}

/// The pool event kinds a connection row shows as a state.
pub(super) fn conn_state(kind: &EventKind) -> Option<ConnState> {
    match kind {
        EventKind::Connecting { .. } => Some(ConnState::Connecting),
        EventKind::Ready => Some(ConnState::Ready),
        EventKind::Draining { .. } => Some(ConnState::Draining),
        EventKind::Closed { .. } | EventKind::Backoff { .. } | EventKind::LeaseHeld { .. } => None,
    }
}
