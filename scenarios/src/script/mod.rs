//! Fault scripts: one TOML file (or one builder call) describing a world,
//! its load, its faults and what must hold. See docs/fault-scripts.md.
//!
//! - `model`: the [`Script`] type and its sections: the file's schema.
//! - `pool_config`: the `[pool]` overrides → `squall_pool::PoolConfig`.
//! - `parse`: TOML → [`Script`], with positioned errors.
//! - `builder`: Rust → [`Script`], with the same checks.
//! - `validate`: the checks both share.
//! - `emit`: [`Script`] → TOML that parses back to the same script.
//! - `world`: [`Script`] → `squall_sim::WorldConfig`.
//! - `spans`, `duration`, `error`: positions, durations, diagnostics.

mod builder;
mod duration;
mod emit;
mod error;
mod model;
mod parse;
mod pool_config;
pub(crate) mod spans;
mod validate;
mod world;

pub use builder::ScriptBuilder;
pub use emit::EmitError;
pub use error::{BUILDER_FILE, LoadError, Location, ScriptError, ScriptErrors};
pub use model::{
    BackoffOverrides, BreakerOverrides, CallName, Client, ClientKind, DEFAULT_SEED, Expect,
    HedgingOverrides, KeepaliveOverrides, LimiterOverrides, Load, MixEntry, PoolOverrides,
    RampEntry, RateOverride, Script, Topology, WindowOverride,
};
pub use world::{LINK_LATENCY, TICK};
