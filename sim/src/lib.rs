//! squall-sim: deterministic turmoil worlds in which squall's pool meets a
//! misbehaving network.
//!
//! A world is a client host (the pool and a load generator), echo server
//! hosts, and a schedule of faults. Running it yields a [`Trace`]: every pool
//! event, fault, server connection and RPC outcome, stamped with simulated
//! time. Invariant checkers read the trace. The same [`WorldConfig`] (seed
//! included) always yields a byte-identical trace.
//!
//! # Layout
//! - [`world`]: building and stepping a world; the fault timeline driver;
//!   [`SimSetup`], how every squall simulation is set up.
//! - [`fault`]: the fault kinds, one file each.
//! - [`server`]: a simulated gRPC server host and its fault control channel.
//! - [`echo`]: the echo service (and its generated code) every server runs.
//! - [`middlebox`]: NAT hosts between the client and a server.
//! - [`load`](LoadConfig): the load generator on the client host.
//! - [`client`]: the client host's program (pool or Channel, plus load), on any network.
//! - [`user`]: a user's own service, client program and invariants in a world.
//! - [`peer`]: tonic's own clients (Channel, with keepalive, balanced), the pool's peers.
//! - [`connector`]: the pool's connector over turmoil TCP.
//! - [`trace`]: trace lines, the recorder, hashing, diffing.
//! - [`check`]: invariant checkers over a trace.

pub mod check;
pub mod client;
pub mod connector;
pub mod echo;
pub mod fault;
pub mod load;
pub mod middlebox;
pub mod peer;
pub mod server;
pub mod trace;
pub mod user;
pub mod world;

pub use connector::TurmoilConnector;
pub use fault::{
    BlackHole, Controls, Cut, Ending, FailingServer, Fault, FaultAction, FaultClass, GoawayStorm,
    GracefulRestart, HostField, Kind, LossyLink, OneWayPartition, Partition, ScheduledFault,
    ServerCrash, SlowServer, StatusCode, indexed_timeline, timeline,
};
pub use load::{Call, LoadConfig, Pace, Ramp, RampError, RampPoint, WeightedCall};
pub use middlebox::{Expiry, Middlebox, MiddleboxKind};
pub use peer::TonicClient;
pub use trace::{Recorder, RpcCall, RpcOutcome, Trace, TraceEvent, TraceLine};
pub use user::{UserClient, UserService, UserWorld};
pub use world::{
    ClientKind, RunOutput, SimError, SimSetup, StepCount, WorldConfig, add_server, run,
    run_observed,
};
