//! `PoolEvent`: every connection state change, typed and timestamped.
//!
//! Events are how the pool is observed, tested and traced: the simulator turns
//! each one into a trace line, tests assert on them, and each is also emitted
//! as a `tracing` event. Sinks are called synchronously on the task that made
//! the transition, so an event's order is the order things happened.

use std::{fmt, io, panic::Location, sync::Arc, time::Duration};

use tokio::time::Instant;

// Re-exported from its own module, for the path it has always had.
pub use crate::ids::ConnId;
use crate::{
    code::GrpcCode,
    endpoint::EndpointId,
    ids::LeaseId,
    policy::breaker::{State as BreakerState, Transition, TransitionReason},
    policy::health::{CheckResult, HealthState},
    policy::outlier::{EjectReason, OutlierChange},
    wire::GoawayCode,
    wire::escape,
};

/// One thing that happened in the pool: to a connection, to an endpoint's
/// circuit breaker, or to the limiter.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolEvent {
    /// When it happened, on tokio's clock (simulated time under turmoil).
    pub at: Instant,
    pub kind: EventKind,
}

/// What happened, and to what.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// Something happened to one connection of `endpoint`.
    Conn {
        endpoint: EndpointId,
        conn: ConnId,
        event: ConnEvent,
    },
    /// `endpoint`'s circuit breaker changed state. Leaving OPEN is noticed
    /// by the next call after `wait_in_open` (resilience4j's default), so
    /// that transition is stamped with that call's time.
    Breaker {
        endpoint: EndpointId,
        from: BreakerState,
        to: BreakerState,
        reason: TransitionReason,
    },
    /// The limiter's occupancy changed: `in_flight` RPCs hold a permit and
    /// `queued` wait for one. Emitted only when a limiter is configured.
    Limiter { in_flight: usize, queued: usize },
    /// Outlier detection took `endpoint` out of rotation, or returned it.
    Outlier {
        endpoint: EndpointId,
        change: OutlierChange,
    },
    /// `endpoint`'s active health checks moved it to `to`, after `checks`
    /// results in a row, the last of which was `last`.
    Health {
        endpoint: EndpointId,
        to: HealthState,
        checks: u32,
        last: CheckResult,
    },
    /// The retry policy resends an idempotent RPC: its attempt on `conn`
    /// of `endpoint` ended with `code`, and attempt number `attempt`
    /// (2 for the first retry) starts after `backoff`.
    Retry {
        endpoint: EndpointId,
        conn: ConnId,
        attempt: u32,
        code: GrpcCode,
        backoff: Duration,
    },
    /// The hedging policy sent copy number `attempt` (2 for the first
    /// hedge) of an idempotent RPC to `conn` of `endpoint`, `after` the
    /// RPC's first copy was sent without an answer yet.
    Hedge {
        endpoint: EndpointId,
        conn: ConnId,
        attempt: u32,
        after: Duration,
    },
    /// Another copy of the RPC answered first, so copy number `attempt`,
    /// still waiting on `conn` of `endpoint`, was cancelled (h2 resets
    /// its stream with CANCEL).
    HedgeCancelled {
        endpoint: EndpointId,
        conn: ConnId,
        attempt: u32,
    },
    /// `endpoint`'s server sent GOAWAY(ENHANCE_YOUR_CALM, "too_many_pings")
    /// on `conn`: its next connections PING every `interval` (doubled, as
    /// grpc-go does).
    KeepaliveThrottled {
        endpoint: EndpointId,
        conn: ConnId,
        interval: Duration,
    },
}

impl EventKind {
    /// A short snake_case name, used as the event column of traces.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Conn { event, .. } => event.name(),
            EventKind::Breaker { to, .. } => match to {
                BreakerState::Closed => "breaker_closed",
                BreakerState::Open => "breaker_open",
                BreakerState::HalfOpen => "breaker_half_open",
            },
            EventKind::Limiter { .. } => "limiter",
            EventKind::Retry { .. } => "retry",
            EventKind::Hedge { .. } => "hedge",
            EventKind::HedgeCancelled { .. } => "hedge_cancelled",
            EventKind::KeepaliveThrottled { .. } => "keepalive_throttled",
            EventKind::Health { to, .. } => match to {
                HealthState::Healthy => "health_healthy",
                HealthState::Unhealthy => "health_unhealthy",
            },
            EventKind::Outlier { change, .. } => match change {
                OutlierChange::Ejected { .. } => "outlier_ejected",
                OutlierChange::Returned => "outlier_returned",
            },
        }
    }

    /// The endpoint this event is about, if it is about one.
    pub fn endpoint(&self) -> Option<EndpointId> {
        match self {
            EventKind::Conn { endpoint, .. }
            | EventKind::Breaker { endpoint, .. }
            | EventKind::Retry { endpoint, .. }
            | EventKind::Hedge { endpoint, .. }
            | EventKind::HedgeCancelled { endpoint, .. }
            | EventKind::KeepaliveThrottled { endpoint, .. }
            | EventKind::Outlier { endpoint, .. }
            | EventKind::Health { endpoint, .. } => Some(*endpoint),
            EventKind::Limiter { .. } => None,
        }
    }
}

/// What happened to one connection. Every variant but `Backoff` and
/// `LeaseHeld` is a transition of the connection's
/// [`ConnState`](crate::conn::ConnState).
#[derive(Debug, Clone, PartialEq)]
pub enum ConnEvent {
    /// Dialling started. `attempt` counts consecutive attempts since the
    /// endpoint was last healthy, from 1.
    Connecting { attempt: u32 },
    /// The HTTP/2 session is up; the connection takes RPCs.
    Ready,
    /// The connection takes no new RPCs; in-flight ones may finish.
    Draining { cause: DrainCause },
    /// The connection is gone and will never carry another RPC.
    Closed { cause: CloseCause },
    /// The next attempt for this connection's slot waits `delay`.
    Backoff { delay: Duration },
    /// A lease on this connection has been held for `age`, past
    /// `lease_leak_threshold` (reported once per lease): a likely leak,
    /// taken at `site`.
    LeaseHeld {
        lease: LeaseId,
        age: Duration,
        site: &'static Location<'static>,
    },
}

impl ConnEvent {
    /// A short snake_case name, used as the event column of traces.
    pub fn name(&self) -> &'static str {
        match self {
            ConnEvent::Connecting { .. } => "conn_connecting",
            ConnEvent::Ready => "conn_ready",
            ConnEvent::Draining { .. } => "conn_draining",
            ConnEvent::Closed { .. } => "conn_closed",
            ConnEvent::Backoff { .. } => "conn_backoff",
            ConnEvent::LeaseHeld { .. } => "lease_held",
        }
    }
}

/// The event's fields as ` key=value` pairs (empty for `Ready`).
impl fmt::Display for ConnEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnEvent::Connecting { attempt } => write!(f, " attempt={attempt}"),
            ConnEvent::Ready => Ok(()),
            ConnEvent::Draining { cause } => write!(f, " cause={cause}"),
            ConnEvent::Closed { cause } => write!(f, " cause={cause}"),
            ConnEvent::Backoff { delay } => write!(f, " delay_ms={}", delay.as_millis()),
            ConnEvent::LeaseHeld { lease, age, site } => write!(
                f,
                " lease={} age_ms={} site={}:{}",
                lease.0,
                age.as_millis(),
                site.file(),
                site.line()
            ),
        }
    }
}

/// A breaker transition's fields as ` key=value` pairs, shared by `tracing`
/// and the simulator's trace.
pub fn fmt_breaker_change(
    f: &mut impl fmt::Write,
    from: BreakerState,
    reason: TransitionReason,
) -> fmt::Result {
    let from = match from {
        BreakerState::Closed => "closed",
        BreakerState::Open => "open",
        BreakerState::HalfOpen => "half_open",
    };
    write!(f, " from={from}")?;
    match reason {
        TransitionReason::FailureRate { failures, calls } => {
            write!(f, " reason=failure_rate failures={failures} calls={calls}")
        }
        TransitionReason::SlowCallRate { slow, calls } => {
            write!(f, " reason=slow_call_rate slow={slow} calls={calls}")
        }
        TransitionReason::OpenWaitElapsed => f.write_str(" reason=open_wait_elapsed"),
        TransitionReason::ProbesHealthy { probes } => {
            write!(f, " reason=probes_healthy probes={probes}")
        }
    }
}

/// The event's fields as ` key=value` pairs, without the endpoint (which
/// readers name in their own way).
impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventKind::Conn { conn, event, .. } => write!(f, " conn={conn}{event}"),
            EventKind::Breaker { from, reason, .. } => fmt_breaker_change(f, *from, *reason),
            EventKind::Limiter { in_flight, queued } => {
                write!(f, " in_flight={in_flight} queued={queued}")
            }
            EventKind::Retry {
                conn,
                attempt,
                code,
                backoff,
                ..
            } => write!(
                f,
                " conn={conn} attempt={attempt} code={code} backoff_ms={}",
                backoff.as_millis()
            ),
            EventKind::Hedge {
                conn,
                attempt,
                after,
                ..
            } => write!(
                f,
                " conn={conn} attempt={attempt} after_ms={}",
                after.as_millis()
            ),
            EventKind::HedgeCancelled { conn, attempt, .. } => {
                write!(f, " conn={conn} attempt={attempt}")
            }
            EventKind::Outlier { change, .. } => fmt_outlier_change(f, change),
            EventKind::Health { checks, last, .. } => write!(f, " checks={checks} last={last}"),
            EventKind::KeepaliveThrottled { conn, interval, .. } => {
                write!(f, " conn={conn} interval_ms={}", interval.as_millis())
            }
        }
    }
}

/// An outlier change's fields as ` key=value` pairs.
fn fmt_outlier_change(f: &mut fmt::Formatter<'_>, change: &OutlierChange) -> fmt::Result {
    let OutlierChange::Ejected {
        reason,
        times,
        duration,
    } = change
    else {
        return Ok(());
    };
    match reason {
        EjectReason::ConsecutiveFailures { failures } => {
            write!(f, " reason=consecutive_failures failures={failures}")?
        }
        EjectReason::FailureRate { failures, calls } => {
            write!(f, " reason=failure_rate failures={failures} calls={calls}")?
        }
    }
    write!(f, " times={times} duration_ms={}", duration.as_millis())
}

/// Why a connection stopped taking new RPCs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainCause {
    /// `Pool::shutdown` was called or the last `Pool` handle was dropped.
    Shutdown,
    /// The connection reached `max_connection_age` and its replacement is
    /// ready; in-flight RPCs get `max_connection_age_grace`.
    MaxAge,
    /// No RPC for `idle_timeout`: the pool went IDLE.
    Idle,
    /// Its endpoint was removed (`Pool::remove_endpoint`); in-flight RPCs
    /// get `shutdown_grace`.
    EndpointRemoved,
    /// A connection dialled to scale up had nothing in flight for
    /// `scale_down_after`.
    ScaleDown,
    /// The server sent GOAWAY with this code: it takes no new streams, the
    /// ones in flight finish, and the slot dials a replacement at once.
    Goaway(GoawayCode),
    /// The connection has carried `recycle_after_streams` RPCs and its
    /// replacement is ready: HTTP/2 stream ids run out at 2^31.
    StreamIdsUsed,
}

impl fmt::Display for DrainCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DrainCause::Shutdown => "shutdown",
            DrainCause::MaxAge => "max_age",
            DrainCause::Idle => "idle",
            DrainCause::EndpointRemoved => "endpoint_removed",
            DrainCause::ScaleDown => "scale_down",
            DrainCause::Goaway(code) => return write!(f, "goaway({code})"),
            DrainCause::StreamIdsUsed => "stream_ids_used",
        })
    }
}

/// Why a connection closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseCause {
    /// Dialling or the HTTP/2 handshake failed; the connection never was ready.
    ConnectFailed(ConnectError),
    /// No PING acknowledgement within the keepalive timeout: the peer or the
    /// path to it is silently dead (a "zombie" connection).
    KeepaliveTimeout,
    /// The kernel gave up on the peer: the socket failed with `ETIMEDOUT`,
    /// data sent (or TCP keepalive probes) having gone unacknowledged for
    /// `TCP_USER_TIMEOUT`, which the pool sets to the keepalive timeout
    /// ([`SocketOptions`](crate::SocketOptions)). Like
    /// [`KeepaliveTimeout`](Self::KeepaliveTimeout), a silently dead peer
    /// detected; under load the kernel is usually first, since a PING
    /// queued behind unacknowledged data waits for it.
    UserTimeout,
    /// The peer ended the session (GOAWAY or EOF) in an orderly way.
    PeerClosed,
    /// The server sent GOAWAY with this error code and ended the session,
    /// failing the streams it had taken: C-core's ENHANCE_YOUR_CALM
    /// "too_many_pings", for one. (A GOAWAY with NO_ERROR drains the
    /// connection instead, which then closes as `Retired`.)
    PeerGoaway(GoawayCode),
    /// The session failed for another reason: an I/O error (its kind in
    /// `io`: a reset, an unexpected EOF, ...), a stream or connection reset
    /// by h2, or an HTTP/2 protocol error. `error` is hyper's description.
    Transport {
        error: String,
        io: Option<io::ErrorKind>,
    },
    /// The peer does not speak HTTP/2 (an HTTP/1.1 server, a TLS port,
    /// anything else): its first bytes were not a SETTINGS frame. Up to
    /// 16 of them are kept.
    NotHttp2 { first_bytes: Vec<u8> },
    /// Closed by the pool on shutdown, after draining.
    Shutdown,
    /// Closed by the pool after draining for a reason other than shutdown
    /// (max age, idle); shown as that reason.
    Retired(DrainCause),
}

impl CloseCause {
    /// Whether the connection closed because its peer was found silently
    /// dead, by the pool's keepalive or by the kernel's user timeout:
    /// what the detection invariants, the timeline and alerts count.
    pub fn is_dead_peer(&self) -> bool {
        matches!(self, CloseCause::KeepaliveTimeout | CloseCause::UserTimeout)
    }
}

impl fmt::Display for CloseCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseCause::ConnectFailed(e) => write!(f, "connect_failed error={e}"),
            CloseCause::KeepaliveTimeout => f.write_str("keepalive_timeout"),
            CloseCause::UserTimeout => f.write_str("user_timeout"),
            CloseCause::PeerClosed => f.write_str("peer_closed"),
            CloseCause::PeerGoaway(code) => write!(f, "peer_goaway code={code}"),
            CloseCause::Transport { error, io: None } => write!(f, "transport error={error:?}"),
            CloseCause::Transport {
                error,
                io: Some(kind),
            } => write!(f, "transport error={error:?} io={kind:?}"),
            CloseCause::NotHttp2 { first_bytes } => {
                write!(f, "not_http2 first_bytes={:?}", escape(first_bytes))
            }
            CloseCause::Shutdown => f.write_str("shutdown"),
            CloseCause::Retired(reason) => write!(f, "{reason}"),
        }
    }
}

/// Why dialling a connection failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The connector failed (refused, unreachable, ...).
    #[error("{0:?}")]
    Io(io::ErrorKind),
    /// Dialling plus handshake took longer than the connect timeout.
    #[error("timeout")]
    Timeout,
    /// The byte stream opened but the HTTP/2 handshake failed.
    #[error("handshake")]
    Handshake,
}

/// Receives every [`PoolEvent`], synchronously, in order.
///
/// Implementations must be quick and must not block: they run inside the
/// pool's connection tasks.
pub trait EventSink: Send + Sync + 'static {
    fn on_event(&self, event: &PoolEvent);
}

impl<F: Fn(&PoolEvent) + Send + Sync + 'static> EventSink for F {
    fn on_event(&self, event: &PoolEvent) {
        self(event)
    }
}

/// The pool's fan-out: the user's sink (if any) and `tracing`.
#[derive(Clone, Default)]
pub(crate) struct Events {
    sink: Option<Arc<dyn EventSink>>,
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events")
            .field("sink", &self.sink.is_some())
            .finish()
    }
}

impl Events {
    pub(crate) fn new(sink: Option<Arc<dyn EventSink>>) -> Self {
        Self { sink }
    }

    /// `endpoint`'s breaker changed state.
    pub(crate) fn breaker_transition(&self, endpoint: EndpointId, transition: Transition) {
        debug_assert_ne!(transition.from, transition.to);
        self.emit(PoolEvent {
            at: transition.at,
            kind: EventKind::Breaker {
                endpoint,
                from: transition.from,
                to: transition.to,
                reason: transition.reason,
            },
        });
    }

    pub(crate) fn emit(&self, event: PoolEvent) {
        tracing::debug!(
            endpoint = event.kind.endpoint().map(|e| e.0),
            "{}{}",
            event.kind.name(),
            event.kind
        );
        if let Some(sink) = &self.sink {
            sink.on_event(&event);
        }
    }
}
