//! Building a [`Script`] in Rust, for tests: the same type, defaults and
//! checks as a TOML file, without the file.
//!
//! ```
//! use std::time::Duration;
//! use squall_scenarios::Script;
//! use squall_sim::{BlackHole, Fault};
//!
//! let script = Script::builder("two-servers")
//!     .description("server-2 black-holed for 10s")
//!     .servers(2)
//!     .pool(|p| p.keepalive.interval = Some(Duration::from_secs(2)))
//!     .fault_at(
//!         Duration::from_secs(5),
//!         Some(Duration::from_secs(10)),
//!         Fault::BlackHole(BlackHole { a: "client".into(), b: "server-2".into() }),
//!     )
//!     .build()
//!     .expect("a valid script");
//! assert_eq!(script.client.targets, ["server-1", "server-2"]);
//! ```

use std::time::Duration;

use squall_sim::{Fault, Middlebox, ScheduledFault};

use crate::script::{
    error::{BUILDER_FILE, ScriptError, ScriptErrors},
    model::{
        BreakerOverrides, Client, ClientKind, Expect, HedgingOverrides, LimiterOverrides, Load,
        MixEntry, PoolOverrides, RampEntry, Script, Topology,
    },
    validate,
};

/// Builds a [`Script`]; [`ScriptBuilder::build`] validates it.
#[derive(Debug, Clone)]
pub struct ScriptBuilder {
    script: Script,
}

impl Script {
    /// A script named `name` with defaults: 1 server, a pool dialling every
    /// server, 60 s of load at 10 RPC/s from 1 s with 1 s deadlines, no
    /// faults, no expectations.
    pub fn builder(name: &str) -> ScriptBuilder {
        ScriptBuilder {
            script: Script {
                name: name.to_owned(),
                description: name.to_owned(),
                seed: None,
                duration: Duration::from_secs(60),
                time_limit: None,
                topology: Topology {
                    servers: 1,
                    max_concurrent_streams: None,
                    middleboxes: Vec::new(),
                },
                client: Client::default(),
                pool: PoolOverrides::default(),
                load: Some(Load::default()),
                faults: Vec::new(),
                expect: Expect::default(),
                world: None,
            },
        }
    }
}

impl ScriptBuilder {
    pub fn description(mut self, text: &str) -> Self {
        self.script.description = text.to_owned();
        self
    }

    pub fn seed(mut self, seed: u64) -> Self {
        self.script.seed = Some(seed);
        self
    }

    pub fn duration(mut self, duration: Duration) -> Self {
        self.script.duration = duration;
        self
    }

    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.script.time_limit = Some(limit);
        self
    }

    pub fn servers(mut self, servers: usize) -> Self {
        self.script.topology.servers = servers;
        self
    }

    /// Every server's SETTINGS_MAX_CONCURRENT_STREAMS (`None`: hyper's).
    pub fn server_max_streams(mut self, limit: Option<u32>) -> Self {
        self.script.topology.max_concurrent_streams = limit;
        self
    }

    /// The client kind and the hosts it dials (empty: every server).
    pub fn client(mut self, kind: ClientKind, targets: &[&str]) -> Self {
        self.script.client = Client {
            kind,
            targets: targets.iter().map(|t| (*t).to_owned()).collect(),
        };
        self
    }

    /// Edits the pool overrides.
    pub fn pool(mut self, edit: impl FnOnce(&mut PoolOverrides)) -> Self {
        edit(&mut self.script.pool);
        self
    }

    /// Turns the limiter on (`[pool.limiter]`) and edits its overrides.
    pub fn limiter(mut self, edit: impl FnOnce(&mut LimiterOverrides)) -> Self {
        edit(self.script.pool.limiter.get_or_insert_default());
        self
    }

    /// Turns the breaker on (`[pool.breaker]`) and edits its overrides.
    pub fn breaker(mut self, edit: impl FnOnce(&mut BreakerOverrides)) -> Self {
        edit(self.script.pool.breaker.get_or_insert_default());
        self
    }

    /// Turns hedging on (`[pool.hedging]`) and edits its overrides.
    pub fn hedging(mut self, edit: impl FnOnce(&mut HedgingOverrides)) -> Self {
        edit(self.script.pool.hedging.get_or_insert_default());
        self
    }

    pub fn load(mut self, load: Load) -> Self {
        self.script.load = Some(load);
        self
    }

    /// Edits the load.
    pub fn edit_load(mut self, edit: impl FnOnce(&mut Load)) -> Self {
        edit(self.script.load.get_or_insert_with(Load::default));
        self
    }

    /// Open loop at `rate` RPCs per second (the default pace, at 10).
    pub fn rate(mut self, rate: u32) -> Self {
        let load = self.script.load.get_or_insert_with(Load::default);
        (load.rate, load.interval) = (Some(rate), None);
        (load.concurrency, load.think) = (None, None);
        load.ramp.clear();
        self
    }

    /// Open loop whose rate follows `points` (simulated time, RPCs per
    /// second), linear between them: a `[[load.ramp]]`.
    pub fn ramp(mut self, points: &[(Duration, u32)]) -> Self {
        let load = self.script.load.get_or_insert_with(Load::default);
        (load.rate, load.interval) = (None, None);
        (load.concurrency, load.think) = (None, None);
        load.ramp = points
            .iter()
            .map(|&(at, rate)| RampEntry { at, rate })
            .collect();
        self
    }

    /// Closed loop: `concurrency` callers, each pausing `think` between
    /// the end of one RPC and the next.
    pub fn closed_loop(mut self, concurrency: u32, think: Duration) -> Self {
        let load = self.script.load.get_or_insert_with(Load::default);
        (load.rate, load.interval) = (None, None);
        (load.concurrency, load.think) = (Some(concurrency), Some(think));
        load.ramp.clear();
        self
    }

    /// Adds a `[[load.mix]]` entry.
    pub fn mix(mut self, entry: MixEntry) -> Self {
        self.script
            .load
            .get_or_insert_with(Load::default)
            .mix
            .push(entry);
        self
    }

    /// Runs in the user's world called `name` (`squall_sim::UserWorld`).
    pub fn world(mut self, name: &str) -> Self {
        self.script.world = Some(name.to_owned());
        self
    }

    /// Leaves out `[load]`: the world's own client program drives it.
    pub fn no_load(mut self) -> Self {
        self.script.load = None;
        self
    }

    /// Adds a fault at `at`, healing `heal_after` later (`None`: never).
    pub fn fault_at(mut self, at: Duration, heal_after: Option<Duration>, fault: Fault) -> Self {
        self.script.faults.push(ScheduledFault {
            at,
            heal_after,
            fault,
        });
        self
    }

    /// Adds a middlebox host (clients reach it by its name).
    pub fn middlebox(mut self, middlebox: &Middlebox) -> Self {
        let table = toml::Table::try_from(middlebox)
            .expect("a middlebox is a struct of strings and durations: always a table");
        self.script.topology.middleboxes.push(table);
        self
    }

    /// Edits the expectations.
    pub fn expect(mut self, edit: impl FnOnce(&mut Expect)) -> Self {
        edit(&mut self.script.expect);
        self
    }

    /// The script, if it passes the same checks as a file.
    pub fn build(self) -> Result<Script, ScriptErrors> {
        let mut script = self.script;
        script.fill_default_targets();
        let errors: Vec<ScriptError> = validate::problems(&script)
            .into_iter()
            .map(|p| ScriptError {
                file: BUILDER_FILE.to_owned(),
                location: None,
                field: p.field,
                message: p.message,
                expected: p.expected,
                hint: p.hint,
            })
            .collect();
        if errors.is_empty() {
            Ok(script)
        } else {
            Err(ScriptErrors(errors))
        }
    }
}
