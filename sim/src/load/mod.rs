//! The load generator: RPCs from the client host, each with a deadline,
//! each outcome recorded in the trace.
//!
//! Three paces: open loop (one RPC every `interval`, however many are still
//! in flight), a ramp (an open loop whose rate changes over the run,
//! [`ramp`]) and closed loop (N callers, each sending its next RPC a
//! `think` time after its previous one ended). Each RPC is a plain unary
//! echo, or, with a call mix, a call drawn by weight from a `ChaCha8Rng`
//! seeded with the world's seed.
//!
//! RPCs run concurrently as futures in one task (no spawning), polled in a
//! fixed order, so the interleaving is deterministic.

mod ramp;

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use futures_util::{StreamExt, stream::FuturesUnordered};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use squall_pool::{PoolError, RoutedTo};
use tokio::time::{Instant, MissedTickBehavior};
use tonic::{Code, Status, client::GrpcService, codegen::StdError};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::{
    echo::{
        MAX_STREAM_COUNT,
        proto::{EchoRequest, EchoStreamRequest, echo_client::EchoClient},
    },
    fault::StatusCode,
    trace::{Recorder, RpcOutcome, TraceEvent},
};

/// How much load, when, and of which calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadConfig {
    /// First RPC at this simulated time.
    pub start: Duration,
    /// No RPC is sent at or after this simulated time.
    pub stop: Duration,
    /// When RPCs are sent.
    pub pace: Pace,
    /// Each RPC's deadline (unless its mix entry sets one), sent as
    /// `grpc-timeout` and enforced by the caller.
    pub deadline: Duration,
    /// Which calls, by weight. Empty: every RPC is a plain unary echo, and
    /// no random number is drawn.
    pub mix: Vec<WeightedCall>,
    /// Every RPC carries `squall_pool::Idempotent`, so the pool's retry or
    /// hedging policy may send it more than once.
    pub idempotent: bool,
}

impl LoadConfig {
    /// Most closed-loop callers: bounds the futures in flight.
    pub const MAX_CALLERS: u32 = 1024;
    /// Most entries in a call mix.
    pub const MAX_MIX_ENTRIES: usize = 32;

    /// Checks what the generator relies on; the message names the field.
    pub(crate) fn validate(&self) -> Result<(), String> {
        match &self.pace {
            Pace::Open { interval } if interval.is_zero() => {
                return Err("load.interval must be greater than zero".into());
            }
            Pace::Closed { callers, .. } if !(1..=Self::MAX_CALLERS).contains(callers) => {
                return Err(format!(
                    "load.callers must be between 1 and {}",
                    Self::MAX_CALLERS
                ));
            }
            // A zero think time would let a caller whose RPCs fail at once
            // send without ever letting simulated time advance.
            Pace::Closed { think, .. } if think.is_zero() => {
                return Err("load.think must be greater than zero".into());
            }
            Pace::Open { .. } | Pace::Ramp(_) | Pace::Closed { .. } => {}
        }
        if self.mix.len() > Self::MAX_MIX_ENTRIES {
            return Err(format!(
                "load.mix has more than {} entries",
                Self::MAX_MIX_ENTRIES
            ));
        }
        for (index, entry) in self.mix.iter().enumerate() {
            entry
                .validate()
                .map_err(|problem| format!("load.mix[{index}].{problem}"))?;
        }
        Ok(())
    }
}

pub use ramp::{Ramp, RampError, RampPoint};

/// When the load generator sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pace {
    /// Open loop: one RPC every `interval` (a rate of `1 / interval`),
    /// however many are still in flight, as independent clients would.
    Open { interval: Duration },
    /// Open loop at a rate that follows a [`Ramp`] over simulated time.
    Ramp(Ramp),
    /// Closed loop: `callers` callers all start at `start`; each sends its
    /// next RPC `think` after its previous one ended, as a fixed pool of
    /// worker threads would.
    Closed { callers: u32, think: Duration },
}

/// One entry of a call mix: a call, how often, and its deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightedCall {
    /// Relative weight, 1..=[`WeightedCall::MAX_WEIGHT`]: an entry is drawn
    /// with probability `weight / sum of weights`.
    pub weight: u32,
    pub call: Call,
    /// `None`: the load's deadline.
    pub deadline: Option<Duration>,
}

impl WeightedCall {
    /// Highest weight: with [`LoadConfig::MAX_MIX_ENTRIES`], the sum fits a `u32`.
    pub const MAX_WEIGHT: u32 = 1000;

    /// Checks the entry; the message starts with the field's name.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=Self::MAX_WEIGHT).contains(&self.weight) {
            return Err(format!("weight must be between 1 and {}", Self::MAX_WEIGHT));
        }
        if self.deadline.is_some_and(|d| d.is_zero()) {
            return Err("deadline must be greater than zero".into());
        }
        self.call.validate()
    }
}

/// What one RPC asks of the echo server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `Echo/Echo`, answered at once.
    Echo,
    /// `Echo/Echo` with `delay_ms`: the server waits `delay` (whole ms).
    SlowEcho { delay: Duration },
    /// `Echo/Echo` with `fail_code`: the server fails it with `code`.
    FailingEcho { code: StatusCode },
    /// `Echo/EchoStream`: `count` replies, `interval` (whole ms) apart; the
    /// caller reads them all.
    EchoStream { count: u32, interval: Duration },
    /// `grpc.health.v1.Health/Check` for the echo service.
    HealthCheck,
}

impl Call {
    /// The name in scripts and in the trace's `call=` field.
    pub fn name(&self) -> &'static str {
        match self {
            Call::Echo => "echo",
            Call::SlowEcho { .. } => "slow-echo",
            Call::FailingEcho { .. } => "failing-echo",
            Call::EchoStream { .. } => "echo-stream",
            Call::HealthCheck => "health-check",
        }
    }

    fn validate(&self) -> Result<(), String> {
        match *self {
            Call::SlowEcho { delay } => whole_ms(delay).map(drop).map_err(|p| format!("delay {p}")),
            Call::EchoStream { count, interval } => {
                if !(1..=MAX_STREAM_COUNT).contains(&count) {
                    return Err(format!("count must be between 1 and {MAX_STREAM_COUNT}"));
                }
                whole_ms(interval)
                    .map(drop)
                    .map_err(|p| format!("interval {p}"))
            }
            Call::Echo | Call::FailingEcho { .. } | Call::HealthCheck => Ok(()),
        }
    }
}

/// `d` in milliseconds, as the echo protocol carries it.
fn whole_ms(d: Duration) -> Result<u32, &'static str> {
    if !d.subsec_nanos().is_multiple_of(1_000_000) {
        return Err("must be a whole number of milliseconds");
    }
    u32::try_from(d.as_millis()).map_err(|_| "is too long")
}

/// The echo service's name, as `grpc.health.v1` knows it.
const ECHO_SERVICE: &str = "squall.echo.v1.Echo";

/// The ChaCha stream the call mix draws from: the pool seeds a `ChaCha8Rng`
/// with the same seed, and a stream of its own keeps the two independent.
const MIX_RNG_STREAM: u64 = 1;

/// Who the load generator is, in the trace, and how to name endpoints.
pub struct LoadContext {
    pub host: String,
    pub recorder: Recorder,
    /// Server host name of each pool endpoint, by `EndpointId`.
    pub endpoint_names: Arc<[String]>,
    /// The world's seed, for the call mix.
    pub seed: u64,
    /// Every RPC is marked idempotent (`LoadConfig::idempotent`).
    pub idempotent: bool,
}

/// Draws each RPC's call and deadline.
struct Mixer {
    entries: Vec<WeightedCall>,
    total_weight: u32,
    default_deadline: Duration,
    rng: ChaCha8Rng,
}

impl Mixer {
    fn new(load: &LoadConfig, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(MIX_RNG_STREAM);
        Self {
            entries: load.mix.clone(),
            total_weight: load.mix.iter().map(|e| e.weight).sum(),
            default_deadline: load.deadline,
            rng,
        }
    }

    fn next(&mut self) -> (Call, Duration) {
        // No mix draws nothing, so a run without one is what it always was.
        if self.entries.is_empty() || self.total_weight == 0 {
            return (Call::Echo, self.default_deadline);
        }
        let mut pick = self.rng.random_range(0..self.total_weight);
        for entry in &self.entries {
            if pick < entry.weight {
                return (entry.call, entry.deadline.unwrap_or(self.default_deadline));
            }
            pick -= entry.weight;
        }
        unreachable!("a pick below the total weight falls in some entry")
    }
}

/// What the load is sent through: any tonic transport (squall's pool, a
/// tonic `Channel`), as generated clients take it. One name for the bounds
/// every loop repeats.
pub trait Transport:
    GrpcService<
        tonic::body::Body,
        Error: Into<StdError>,
        ResponseBody: http_body::Body<Data = bytes::Bytes, Error: Into<StdError> + Send>
                          + Send
                          + 'static,
    > + Clone
{
}

impl<T> Transport for T where
    T: GrpcService<
            tonic::body::Body,
            Error: Into<StdError>,
            ResponseBody: http_body::Body<Data = bytes::Bytes, Error: Into<StdError> + Send>
                              + Send
                              + 'static,
        > + Clone
{
}

/// Runs the load to completion: every RPC sent has finished when it returns.
pub async fn run<T>(transport: T, load: LoadConfig, context: LoadContext)
where
    T: Transport,
{
    debug_assert!(load.validate().is_ok(), "validated by WorldConfig");
    let mixer = Mixer::new(&load, context.seed);
    match &load.pace {
        Pace::Open { interval } => open_loop(transport, &load, *interval, mixer, &context).await,
        Pace::Ramp(ramp) => ramp_loop(transport, &load, ramp, mixer, &context).await,
        Pace::Closed { callers, think } => {
            closed_loop(transport, &load, *callers, *think, mixer, &context).await
        }
    }
}

/// The instant of the run's start, on the clock the trace is stamped with.
fn origin(context: &LoadContext) -> Instant {
    Instant::now() - context.recorder.elapsed()
}

async fn open_loop<T>(
    transport: T,
    load: &LoadConfig,
    interval: Duration,
    mut mixer: Mixer,
    context: &LoadContext,
) where
    T: Transport,
{
    let origin = origin(context);
    let mut ticks = tokio::time::interval_at(origin + load.start, interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut in_flight = FuturesUnordered::new();
    let mut next_id: u64 = 1;
    let stop_at = origin + load.stop;
    loop {
        tokio::select! {
            biased;
            Some(outcome) = in_flight.next() => record(context, outcome),
            tick = ticks.tick(), if Instant::now() < stop_at => {
                if tick >= stop_at {
                    continue;
                }
                let (call, deadline) = mixer.next();
                in_flight.push(one_rpc(transport.clone(), next_id, call, deadline, context));
                next_id += 1;
            }
            else => break,
        }
    }
}

/// The open loop on a [`Ramp`]: each RPC is sent `ramp.interval_at(t)`
/// after the one before it, `t` being when that one was sent.
async fn ramp_loop<T>(
    transport: T,
    load: &LoadConfig,
    ramp: &Ramp,
    mut mixer: Mixer,
    context: &LoadContext,
) where
    T: Transport,
{
    let origin = origin(context);
    let stop_at = origin + load.stop;
    let mut next_at = origin + load.start;
    let mut in_flight = FuturesUnordered::new();
    let mut next_id: u64 = 1;
    loop {
        tokio::select! {
            biased;
            Some(outcome) = in_flight.next() => record(context, outcome),
            () = tokio::time::sleep_until(next_at), if next_at < stop_at => {
                let (call, deadline) = mixer.next();
                in_flight.push(one_rpc(transport.clone(), next_id, call, deadline, context));
                next_id += 1;
                next_at += ramp.interval_at(next_at - origin);
            }
            else => break,
        }
    }
}

async fn closed_loop<T>(
    transport: T,
    load: &LoadConfig,
    callers: u32,
    think: Duration,
    mut mixer: Mixer,
    context: &LoadContext,
) where
    T: Transport,
{
    let origin = origin(context);
    let stop_at = origin + load.stop;
    let first = origin + load.start;
    // Callers about to send, by (time, caller index): callers due at the
    // same instant send in index order.
    let mut due: BTreeSet<(Instant, u32)> = if first < stop_at {
        (0..callers).map(|caller| (first, caller)).collect()
    } else {
        BTreeSet::new()
    };
    let mut in_flight = FuturesUnordered::new();
    let mut next_id: u64 = 1;
    loop {
        let next_due = due.first().map(|(at, _)| *at);
        tokio::select! {
            biased;
            Some((caller, outcome)) = in_flight.next() => {
                record(context, outcome);
                let at = Instant::now() + think;
                if at < stop_at {
                    due.insert((at, caller));
                }
            }
            () = tokio::time::sleep_until(next_due.unwrap_or(stop_at)), if next_due.is_some() => {
                let now = Instant::now();
                while let Some((_, caller)) = due.pop_first_if(|(at, _)| *at <= now) {
                    let (call, deadline) = mixer.next();
                    let rpc = one_rpc(transport.clone(), next_id, call, deadline, context);
                    in_flight.push(async move { (caller, rpc.await) });
                    next_id += 1;
                }
                debug_assert!(in_flight.len() <= callers as usize, "one RPC per caller");
            }
            else => break,
        }
    }
}

/// `BTreeSet::pop_first` when the first element matches.
trait PopFirstIf<T> {
    fn pop_first_if(&mut self, keep: impl FnOnce(&T) -> bool) -> Option<T>;
}

impl<T: Ord> PopFirstIf<T> for BTreeSet<T> {
    fn pop_first_if(&mut self, matches: impl FnOnce(&T) -> bool) -> Option<T> {
        if self.first().is_some_and(matches) {
            self.pop_first()
        } else {
            None
        }
    }
}

async fn one_rpc<T>(
    transport: T,
    id: u64,
    call: Call,
    deadline: Duration,
    context: &LoadContext,
) -> RpcOutcome
where
    T: Transport,
{
    let sent_at = context.recorder.elapsed();
    let sent_seq = context.recorder.len();
    let (routed, server, result) = match tokio::time::timeout(
        deadline,
        send(transport, id, call, deadline, context.idempotent),
    )
    .await
    {
        Ok(Ok(answer)) => (answer.routed, answer.server, Ok(())),
        Ok(Err((routed, status))) => (
            routed.or_else(|| PoolError::from_status(&status).and_then(PoolError::routed)),
            None,
            Err(status.code()),
        ),
        // The caller's own bound, for clients (like a bare tonic Channel)
        // that do not enforce deadlines themselves, and for streams, whose
        // body no pool deadline covers.
        Err(_elapsed) => (None, None, Err(Code::DeadlineExceeded)),
    };
    let endpoint = match routed {
        Some(r) => Some(context.endpoint_names[r.endpoint.0 as usize].clone()),
        // A client that does not say where a call went (tonic's): the
        // server that answered, as its reply names itself.
        None if context.endpoint_names.is_empty() => server,
        None => None,
    };
    RpcOutcome {
        id,
        call: call.into(),
        deadline,
        conn: routed.map(|r| r.conn),
        endpoint,
        sent_at,
        sent_seq,
        result,
    }
}

/// Where a call went (when known), or why it failed.
type Sent = Result<Answer, (Option<RoutedTo>, Status)>;

/// Where an answered call went: the pool's connection, and the server host
/// that answered when its reply names it (echo calls).
struct Answer {
    routed: Option<RoutedTo>,
    server: Option<String>,
}

/// Sends one call and reads its whole answer.
async fn send<T>(transport: T, id: u64, call: Call, deadline: Duration, idempotent: bool) -> Sent
where
    T: Transport,
{
    let message = format!("rpc-{id}");
    let routed = |extensions: &http::Extensions| extensions.get::<RoutedTo>().copied();
    match call {
        Call::Echo | Call::SlowEcho { .. } | Call::FailingEcho { .. } => {
            let request = EchoRequest {
                message,
                delay_ms: match call {
                    Call::SlowEcho { delay } => whole_ms(delay).unwrap_or(u32::MAX),
                    _ => 0,
                },
                fail_code: match call {
                    Call::FailingEcho { code } => code.code() as i32,
                    _ => 0,
                },
            };
            let response = EchoClient::new(transport)
                .echo(with_timeout(request, deadline, id, idempotent))
                .await
                .map_err(|status| (None, status))?;
            Ok(Answer {
                routed: routed(response.extensions()),
                server: Some(response.into_inner().server),
            })
        }
        Call::EchoStream { count, interval } => {
            let request = EchoStreamRequest {
                message,
                count,
                interval_ms: whole_ms(interval).unwrap_or(u32::MAX),
                ..Default::default()
            };
            let response = EchoClient::new(transport)
                .echo_stream(with_timeout(request, deadline, id, idempotent))
                .await
                .map_err(|status| (None, status))?;
            let to = routed(response.extensions());
            let mut replies = response.into_inner();
            let mut received: u32 = 0;
            let mut server = None;
            while let Some(reply) = replies.message().await.map_err(|status| (to, status))? {
                received += 1;
                server.get_or_insert(reply.server);
            }
            // The echo server sends exactly `count` replies or fails: a
            // stream cut short without a status did not really stream.
            if received != count {
                return Err((
                    to,
                    Status::data_loss(format!("{received} of {count} replies")),
                ));
            }
            Ok(Answer { routed: to, server })
        }
        Call::HealthCheck => {
            let request = HealthCheckRequest {
                service: ECHO_SERVICE.to_owned(),
            };
            // The call's status is the outcome: a reply saying NOT_SERVING
            // is still an answered call.
            let response = HealthClient::new(transport)
                .check(with_timeout(request, deadline, id, idempotent))
                .await
                .map_err(|status| (None, status))?;
            Ok(Answer {
                routed: routed(response.extensions()),
                server: None,
            })
        }
    }
}

fn with_timeout<M>(message: M, deadline: Duration, id: u64, idempotent: bool) -> tonic::Request<M> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(deadline);
    if idempotent {
        request.extensions_mut().insert(squall_pool::Idempotent);
    }
    request.metadata_mut().insert(
        crate::trace::RPC_ID_HEADER,
        tonic::metadata::MetadataValue::from(id),
    );
    request
}

fn record(context: &LoadContext, outcome: RpcOutcome) {
    context
        .recorder
        .record(&context.host, TraceEvent::Rpc(outcome));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(mix: Vec<WeightedCall>) -> LoadConfig {
        LoadConfig {
            start: Duration::ZERO,
            stop: Duration::from_secs(1),
            pace: Pace::Open {
                interval: Duration::from_millis(10),
            },
            deadline: Duration::from_secs(1),
            mix,
            idempotent: false,
        }
    }

    fn entry(weight: u32, call: Call) -> WeightedCall {
        WeightedCall {
            weight,
            call,
            deadline: None,
        }
    }

    /// Without a mix every RPC is a plain echo with the load's deadline.
    #[test]
    fn no_mix_is_always_plain_echo() {
        let mut mixer = Mixer::new(&load(Vec::new()), 7);
        for _ in 0..10 {
            assert_eq!(mixer.next(), (Call::Echo, Duration::from_secs(1)));
        }
    }

    /// The same seed draws the same calls; the shares follow the weights;
    /// an entry's own deadline wins.
    #[test]
    fn the_mix_is_seeded_and_weighted() {
        let short = Duration::from_millis(300);
        let mix = vec![
            entry(3, Call::Echo),
            WeightedCall {
                deadline: Some(short),
                ..entry(1, Call::HealthCheck)
            },
        ];
        let draw = |seed| {
            let mut mixer = Mixer::new(&load(mix.clone()), seed);
            (0..4000).map(|_| mixer.next()).collect::<Vec<_>>()
        };
        let calls = draw(5);
        assert_eq!(calls, draw(5));
        assert_ne!(calls, draw(6));
        let health = calls.iter().filter(|(c, _)| *c == Call::HealthCheck);
        assert!(health.clone().all(|(_, d)| *d == short));
        // 1000 expected; a binomial's spread is about 27.
        let share = health.count();
        assert!((850..1150).contains(&share), "{share} health checks");
    }

    #[test]
    fn validation_names_the_field() {
        let bad = |mix| load(mix).validate().unwrap_err();
        assert_eq!(
            bad(vec![entry(0, Call::Echo)]),
            "load.mix[0].weight must be between 1 and 1000"
        );
        let stream = Call::EchoStream {
            count: 0,
            interval: Duration::ZERO,
        };
        assert!(bad(vec![entry(1, Call::Echo), entry(1, stream)]).starts_with("load.mix[1].count"));
        let slow = Call::SlowEcho {
            delay: Duration::from_micros(1500),
        };
        assert!(bad(vec![entry(1, slow)]).contains("whole number of milliseconds"));
        let mut closed = load(Vec::new());
        closed.pace = Pace::Closed {
            callers: 2,
            think: Duration::ZERO,
        };
        assert_eq!(
            closed.validate().unwrap_err(),
            "load.think must be greater than zero"
        );
    }
}
