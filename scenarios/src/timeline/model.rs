//! The timeline's model: a run's [`Report`] turned into what a picture of it
//! shows — fault spans, one group of lanes per host (connection rows, RPC
//! ticks, breaker states), client plots and invariant marks — all on one
//! sim-time axis. Pure data, built from the typed trace; no drawing here.
//!
//! Every span, mark and tick keeps the trace line(s) it came from as
//! `text`, which the page shows on hover.

use std::{collections::BTreeMap, time::Duration};

use squall_pool::{CloseCause, ConnEvent, ConnId};
use squall_sim::{Ending, Fault, Trace, TraceEvent, TraceLine, world::CLIENT_HOST};

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
    /// The client's own lanes: RPCs with no connection, shutdown, plots.
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
    /// A dead peer found by the pool's keepalive.
    KeepaliveTimeout,
    /// A dead peer found by the kernel (TCP_USER_TIMEOUT).
    UserTimeout,
    ConnectFailed,
    PeerClosed,
    Transport,
    Shutdown,
}

impl From<&CloseCause> for CloseKind {
    fn from(cause: &CloseCause) -> Self {
        match cause {
            CloseCause::KeepaliveTimeout => CloseKind::KeepaliveTimeout,
            CloseCause::UserTimeout => CloseKind::UserTimeout,
            CloseCause::ConnectFailed(_) => CloseKind::ConnectFailed,
            // Ended by the server, with an error code or without.
            CloseCause::PeerClosed | CloseCause::PeerGoaway(_) => CloseKind::PeerClosed,
            CloseCause::Transport { .. } | CloseCause::NotHttp2 { .. } => CloseKind::Transport,
            // Closed by the pool after draining, as on shutdown.
            CloseCause::Shutdown | CloseCause::Retired(_) => CloseKind::Shutdown,
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
    /// RPCs whose trace line names no connection: not routed, or failed
    /// with a status that carried no routing (the load generator learns
    /// the connection from a response).
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
        // Created at the first limiter line: only a run with a limiter has one.
        let mut limiter: Option<[Series; 2]> = None;
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
                TraceEvent::Breaker {
                    endpoint, from, to, ..
                } => {
                    if let Some(g) = group_of(&groups, endpoint) {
                        let spans = &mut groups[g].breaker;
                        if spans.is_empty() {
                            // Every breaker starts closed; the first line
                            // is the first change.
                            spans.push(Span {
                                from: Duration::ZERO,
                                to: Duration::MAX,
                                state: breaker_state(*from),
                                text: "breaker starts closed".to_owned(),
                            });
                        }
                        set_host_state(spans, line, breaker_state(*to));
                    }
                }
                TraceEvent::Limiter { in_flight, queued } => {
                    let [held, waiting] = limiter.get_or_insert_with(|| {
                        ["limiter in flight", "limiter queued"].map(|label| Series {
                            label: label.to_owned(),
                            points: vec![(Duration::ZERO, 0)],
                        })
                    });
                    step(held, line.at, *in_flight as u64);
                    step(waiting, line.at, *queued as u64);
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
            close_host_states(&mut group.breaker, end);
        }
        client.plots.push(in_flight(trace));
        client.plots.extend(limiter.into_iter().flatten());
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
                let one_shot_end = match fault.ending() {
                    Ending::AtOnce => Some(line.at),
                    Ending::Restarted(_) => listening_again(trace, line.at, &fault.hosts()),
                    Ending::Healed => None,
                };
                spans.push((
                    FaultSpan {
                        start: line.at,
                        end: one_shot_end,
                        class: fault_class(fault),
                        title: fault.title(),
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
fn listening_again(trace: &Trace, from: Duration, hosts: &[&str]) -> Option<Duration> {
    let mut latest = None;
    for host in hosts {
        let at = trace
            .lines
            .iter()
            .filter(|l| l.at > from && l.host == *host)
            .find(|l| matches!(l.event, TraceEvent::ServerListening))?
            .at;
        latest = latest.max(Some(at));
    }
    latest
}

/// The timeline's class: faults on links, or on servers.
fn fault_class(fault: &Fault) -> FaultClass {
    match fault.class() {
        squall_sim::FaultClass::Network => FaultClass::Network,
        squall_sim::FaultClass::Crash | squall_sim::FaultClass::Software => FaultClass::Server,
    }
}

/// The hosts a fault names, other than the client (whose lanes are the
/// whole picture), sorted and without repeats.
fn fault_hosts(fault: &Fault) -> Vec<String> {
    let mut hosts: Vec<String> = fault.hosts().into_iter().map(str::to_owned).collect();
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
            TraceEvent::Rpc(rpc) => rpc.endpoint.as_deref(),
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
        // Shown by the client's RPC ticks already; a second tick per RPC on
        // the server lane would only add noise.
        TraceEvent::ServerRpc { .. }
        | TraceEvent::ServerRpcEnd { .. }
        | TraceEvent::ChannelDial { .. }
        | TraceEvent::ChannelConnOpen { .. }
        | TraceEvent::ChannelConnClosed { .. }
        | TraceEvent::Pool { .. }
        | TraceEvent::Breaker { .. }
        | TraceEvent::Limiter { .. }
        | TraceEvent::PoolEndpoint { .. }
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
/// millisecond keep only the last value, and a value that does not change
/// adds no point.
fn step(series: &mut Series, at: Duration, value: u64) {
    let before = series.points.iter().rev().find(|p| p.0 < at).map(|p| p.1);
    match series.points.last_mut() {
        Some(last) if last.0 == at => last.1 = value,
        _ => series.points.push((at, value)),
    }
    if series.points.len() > 1 && before == Some(value) {
        series.points.pop();
    }
}

fn set_host_state<S: Copy + PartialEq>(states: &mut Vec<Span<S>>, line: &TraceLine, state: S) {
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

fn close_host_states<S>(states: &mut [Span<S>], end: Duration) {
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

fn breaker_state(state: squall_pool::breaker::State) -> BreakerState {
    match state {
        squall_pool::breaker::State::Closed => BreakerState::Closed,
        squall_pool::breaker::State::Open => BreakerState::Open,
        squall_pool::breaker::State::HalfOpen => BreakerState::HalfOpen,
    }
}

/// The pool event kinds a connection row shows as a state.
pub(super) fn conn_state(kind: &ConnEvent) -> Option<ConnState> {
    match kind {
        ConnEvent::Connecting { .. } => Some(ConnState::Connecting),
        ConnEvent::Ready => Some(ConnState::Ready),
        ConnEvent::Draining { .. } => Some(ConnState::Draining),
        ConnEvent::Closed { .. } | ConnEvent::Backoff { .. } | ConnEvent::LeaseHeld { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use squall_pool::DrainCause;
    use squall_sim::{BlackHole, RpcOutcome};

    use super::*;
    use crate::script::Expect;

    fn line(at_ms: u64, host: &str, event: TraceEvent) -> TraceLine {
        TraceLine {
            at: Duration::from_millis(at_ms),
            host: host.into(),
            event,
        }
    }

    fn pool(at_ms: u64, conn: u64, kind: ConnEvent) -> TraceLine {
        line(
            at_ms,
            CLIENT_HOST,
            TraceEvent::Pool {
                conn: ConnId(conn),
                endpoint: "server-1".into(),
                kind,
            },
        )
    }

    fn rpc(id: u64, sent_ms: u64, ended_ms: u64, ok: bool) -> TraceLine {
        line(
            ended_ms,
            CLIENT_HOST,
            TraceEvent::Rpc(RpcOutcome {
                id,
                call: squall_sim::Call::Echo.into(),
                deadline: Duration::from_secs(1),
                conn: Some(ConnId(1)),
                endpoint: Some("server-1".into()),
                sent_at: Duration::from_millis(sent_ms),
                sent_seq: 0,
                result: if ok {
                    Ok(())
                } else {
                    Err(tonic::Code::DeadlineExceeded)
                },
            }),
        )
    }

    fn timeline(lines: Vec<TraceLine>) -> Timeline {
        Timeline::from_report(&Report {
            scenario: "unit".into(),
            seed: 1,
            trace: Trace { lines, dropped: 0 },
            detections: Vec::new(),
            invariants: Vec::new(),
            expect: Expect::default(),
            world: crate::report::World::Sim {
                link_latency: Duration::from_millis(1),
            },
        })
    }

    fn states(row: &ConnRow) -> Vec<(u64, u64, ConnState)> {
        row.spans
            .iter()
            .map(|s| (s.from.as_millis() as u64, s.to.as_millis() as u64, s.state))
            .collect()
    }

    /// A redial after a backoff reuses its slot's row, so a flapping
    /// endpoint stays one row per slot; a connection that overlaps a live
    /// one gets a row of its own.
    #[test]
    fn connections_pack_into_rows() {
        let connect_failed = ConnEvent::Closed {
            cause: CloseCause::PeerClosed,
        };
        let t = timeline(vec![
            pool(0, 1, ConnEvent::Connecting { attempt: 1 }),
            pool(1, 1, ConnEvent::Ready),
            pool(0, 2, ConnEvent::Connecting { attempt: 1 }),
            pool(2, 2, ConnEvent::Ready),
            pool(100, 1, connect_failed.clone()),
            pool(
                100,
                1,
                ConnEvent::Backoff {
                    delay: Duration::from_millis(50),
                },
            ),
            pool(150, 3, ConnEvent::Connecting { attempt: 2 }),
            pool(151, 3, ConnEvent::Ready),
            pool(
                200,
                2,
                ConnEvent::Draining {
                    cause: DrainCause::Shutdown,
                },
            ),
            pool(210, 2, connect_failed),
        ]);
        let group = &t.groups[0];
        assert_eq!(group.host, "server-1");
        assert_eq!(group.rows.len(), 2);
        assert_eq!(
            states(&group.rows[0]),
            vec![
                (0, 1, ConnState::Connecting),
                (1, 100, ConnState::Ready),
                (100, 150, ConnState::Backoff),
                (150, 151, ConnState::Connecting),
                (151, 210, ConnState::Ready),
            ]
        );
        assert_eq!(
            states(&group.rows[1]),
            vec![
                (0, 2, ConnState::Connecting),
                (2, 200, ConnState::Ready),
                (200, 210, ConnState::Draining),
            ]
        );
        // The span's hover text names the lines that began and ended it.
        assert_eq!(
            group.rows[1].spans[2].text,
            "200 client conn_draining conn=2 endpoint=server-1 cause=shutdown\n210 client conn_closed conn=2 endpoint=server-1 cause=peer_closed"
        );
        assert_eq!(group.rows[0].marks.len(), 1);
        assert_eq!(group.rows[1].marks.len(), 1);
    }

    /// A heal ends the span of the equal fault that is still open; a fault
    /// never healed lasts to the end.
    #[test]
    fn faults_span_from_start_to_heal() {
        let hole = |b: &str| {
            Fault::BlackHole(BlackHole {
                a: "client".into(),
                b: b.into(),
            })
        };
        let t = timeline(vec![
            line(10, "net", TraceEvent::FaultStart(hole("server-1"))),
            line(20, "net", TraceEvent::FaultStart(hole("server-2"))),
            line(30, "net", TraceEvent::FaultHeal(hole("server-2"))),
            line(90, "server-1", TraceEvent::ServerListening),
        ]);
        let spans: Vec<(u64, Option<u64>, &[String])> = t
            .faults
            .iter()
            .map(|f| {
                (
                    f.start.as_millis() as u64,
                    f.end.map(|e| e.as_millis() as u64),
                    f.hosts.as_slice(),
                )
            })
            .collect();
        assert_eq!(
            spans,
            vec![
                (10, None, &["server-1".to_owned()][..]),
                (20, Some(30), &["server-2".to_owned()][..]),
            ]
        );
        // Hosts named only by a fault still get a group, for the shading.
        let hosts: Vec<&str> = t.groups.iter().map(|g| g.host.as_str()).collect();
        assert_eq!(hosts, ["server-1", "server-2"]);
        assert_eq!(t.end, Duration::from_millis(90));
    }

    /// Each RPC counts as in flight from its send to its end.
    #[test]
    fn in_flight_counts_overlapping_rpcs() {
        let t = timeline(vec![
            rpc(1, 0, 10, true),
            rpc(2, 5, 20, false),
            rpc(3, 20, 30, true),
        ]);
        let points: Vec<(u64, u64)> = t.client.plots[0]
            .points
            .iter()
            .map(|&(at, v)| (at.as_millis() as u64, v))
            .collect();
        assert_eq!(points, vec![(0, 1), (5, 2), (10, 1), (30, 0)]);
        let failed: Vec<Option<&str>> = t.groups[0]
            .rpcs
            .iter()
            .map(|r| r.failed.as_deref())
            .collect();
        assert_eq!(failed, [None, Some("DeadlineExceeded"), None]);
    }

    /// A breaker lane starts closed and follows each transition; limiter
    /// lines become two step plots after the RPC plot.
    #[test]
    fn breaker_spans_and_limiter_plots_follow_their_lines() {
        use squall_pool::breaker::{State, TransitionReason};
        let breaker = |at_ms, from, to| {
            line(
                at_ms,
                "client",
                TraceEvent::Breaker {
                    endpoint: "server-1".into(),
                    from,
                    to,
                    reason: TransitionReason::OpenWaitElapsed,
                },
            )
        };
        let limiter = |at_ms, in_flight, queued| {
            line(at_ms, "client", TraceEvent::Limiter { in_flight, queued })
        };
        let t = timeline(vec![
            line(0, "server-1", TraceEvent::ServerListening),
            limiter(5, 2, 0),
            limiter(6, 2, 1),
            breaker(10, State::Closed, State::Open),
            breaker(40, State::Open, State::HalfOpen),
            breaker(50, State::HalfOpen, State::Closed),
            limiter(60, 0, 0),
        ]);
        let spans: Vec<(u64, u64, BreakerState)> = t.groups[0]
            .breaker
            .iter()
            .map(|s| (s.from.as_millis() as u64, s.to.as_millis() as u64, s.state))
            .collect();
        assert_eq!(
            spans,
            [
                (0, 10, BreakerState::Closed),
                (10, 40, BreakerState::Open),
                (40, 50, BreakerState::HalfOpen),
                (50, 60, BreakerState::Closed),
            ]
        );
        let plot = |i: usize| -> (String, Vec<(u64, u64)>) {
            let series = &t.client.plots[i];
            let points = series.points.iter();
            let points = points.map(|&(at, v)| (at.as_millis() as u64, v)).collect();
            (series.label.clone(), points)
        };
        assert_eq!(t.client.plots.len(), 3);
        assert_eq!(
            plot(1),
            ("limiter in flight".into(), vec![(0, 0), (5, 2), (60, 0)])
        );
        assert_eq!(
            plot(2),
            ("limiter queued".into(), vec![(0, 0), (6, 1), (60, 0)])
        );
    }

    #[test]
    fn hosts_sort_naturally_endpoints_first() {
        let t = timeline(vec![
            line(0, "server-10", TraceEvent::ServerListening),
            line(0, "server-2", TraceEvent::ServerListening),
            line(0, "nat-1", TraceEvent::NatFlowClosed { flow: "f".into() }),
            line(
                1,
                CLIENT_HOST,
                TraceEvent::Pool {
                    conn: ConnId(1),
                    endpoint: "server-10".into(),
                    kind: ConnEvent::Ready,
                },
            ),
        ]);
        let hosts: Vec<(&str, bool)> = t
            .groups
            .iter()
            .map(|g| (g.host.as_str(), g.endpoint))
            .collect();
        assert_eq!(
            hosts,
            [("server-10", true), ("nat-1", false), ("server-2", false)]
        );
    }
}
