//! The worlds scripts run in, by name: squall's own (the echo service and
//! the built-in load, for a script with no `world`) and users' worlds
//! ([`UserWorld`]) registered under theirs. A user's test suite or `squall`
//! binary registers its worlds here; a script names one with
//! `world = "..."`, and runs, replays, sweeps and timelines alike.

use std::collections::BTreeMap;

use squall_sim::{UserWorld, WorldConfig};

use crate::script::{ClientKind, Script};

/// The user's worlds a run may name.
#[derive(Debug, Clone, Default)]
pub struct Worlds {
    user: BTreeMap<String, UserWorld>,
}

/// Why a script cannot run in the worlds at hand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorldError {
    #[error("script {script}: world `{world}` is not registered (known: {known})")]
    Unknown {
        script: String,
        world: String,
        known: String,
    },
    #[error(
        "script {script}: world `{world}` runs its own client program, so the script must not have a [load] table (it would not be read)"
    )]
    LoadNotRead { script: String, world: String },
    #[error(
        "script {script}: world `{world}` brings no client program, so the script needs a [load] table"
    )]
    NoLoad { script: String, world: String },
    #[error(
        "script {script}: world `{world}` runs its own client program over squall's pool: client.kind must be \"pool\", not \"{kind}\""
    )]
    NotPool {
        script: String,
        world: String,
        kind: &'static str,
    },
}

impl Worlds {
    /// No user's world: scripts run in squall's own.
    pub fn new() -> Self {
        Self::default()
    }

    /// These worlds and `world`, under its name (replacing one of the same
    /// name).
    pub fn with(mut self, world: UserWorld) -> Self {
        self.user.insert(world.name().to_owned(), world);
        self
    }

    /// The user's world called `name`.
    pub fn get(&self, name: &str) -> Option<&UserWorld> {
        self.user.get(name)
    }

    /// The world `script` describes, run with `seed`, in the user's world
    /// it names if it names one.
    pub fn world_of(&self, script: &Script, seed: u64) -> Result<WorldConfig, WorldError> {
        let mut config = script.world(seed);
        config.user = self.user_world(script)?.cloned();
        Ok(config)
    }

    /// The user's world `script` names (`None`: squall's own), checked
    /// against what the script says.
    pub fn user_world(&self, script: &Script) -> Result<Option<&UserWorld>, WorldError> {
        let Some(name) = &script.world else {
            return Ok(None);
        };
        let world = self.user.get(name).ok_or_else(|| WorldError::Unknown {
            script: script.name.clone(),
            world: name.clone(),
            known: if self.user.is_empty() {
                "none".to_owned()
            } else {
                self.user.keys().cloned().collect::<Vec<_>>().join(", ")
            },
        })?;
        let (script_name, world_name) = (script.name.clone(), name.clone());
        match (world.has_client(), script.load.is_some()) {
            (true, true) => Err(WorldError::LoadNotRead {
                script: script_name,
                world: world_name,
            }),
            (false, false) => Err(WorldError::NoLoad {
                script: script_name,
                world: world_name,
            }),
            (true, false) if script.client.kind != ClientKind::Pool => Err(WorldError::NotPool {
                script: script_name,
                world: world_name,
                kind: script.client.kind.name(),
            }),
            _ => Ok(Some(world)),
        }
    }
}
