//! [`Script`] → TOML text that [`Script::parse`] reads back as the same
//! script. This is how a generated or shrunk script becomes a file a user
//! can read, edit and replay (`squall replay FILE`).

use serde::Serialize;
use squall_sim::ScheduledFault;

use crate::script::model::{Client, Expect, Load, PoolOverrides, Script, Topology};

/// The file's layout, in the order people read a script: what it is, the
/// world, the pool, the load, the faults, what must hold. Mirrors
/// `parse::RawScript`.
#[derive(Serialize)]
struct ScriptFile<'a> {
    description: &'a str,
    seed: Option<u64>,
    #[serde(serialize_with = "super::duration::ser")]
    duration: std::time::Duration,
    #[serde(serialize_with = "super::duration::ser_optional")]
    time_limit: Option<std::time::Duration>,
    topology: &'a Topology,
    client: &'a Client,
    pool: &'a PoolOverrides,
    #[serde(skip_serializing_if = "Option::is_none")]
    load: Option<&'a Load>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    faults: &'a [ScheduledFault],
    expect: &'a Expect,
    #[serde(skip_serializing_if = "Option::is_none")]
    world: Option<&'a str>,
}

/// Why a script could not be written: only values TOML cannot hold (a
/// NaN backoff multiplier, say), which no valid script has.
#[derive(Debug, thiserror::Error)]
#[error("cannot write script `{name}` as TOML: {source}")]
pub struct EmitError {
    pub name: String,
    #[source]
    pub source: toml::ser::Error,
}

impl Script {
    /// The script as a TOML file, `# comment` lines first. The name is not
    /// in the text: it is the file's stem.
    pub fn to_toml(&self, comment: &str) -> Result<String, EmitError> {
        let body = toml::to_string(&self.file()).map_err(|source| EmitError {
            name: self.name.clone(),
            source,
        })?;
        let mut text = String::new();
        for line in comment.lines() {
            text.push_str("# ");
            text.push_str(line);
            text.push('\n');
        }
        text.push_str(&body);
        Ok(text)
    }

    /// The script as the TOML value its file would hold, for checks that
    /// apply to every field of a kind (every duration) without listing them.
    pub(crate) fn to_value(&self) -> Result<toml::Value, toml::ser::Error> {
        toml::Value::try_from(self.file())
    }

    fn file(&self) -> ScriptFile<'_> {
        ScriptFile {
            description: &self.description,
            seed: self.seed,
            duration: self.duration,
            time_limit: self.time_limit,
            topology: &self.topology,
            client: &self.client,
            pool: &self.pool,
            load: self.load.as_ref(),
            faults: &self.faults,
            expect: &self.expect,
            world: self.world.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::library;

    /// Every built-in script, written out and read back, is the same
    /// script: the writer loses nothing the reader knows.
    #[test]
    fn every_built_in_round_trips() {
        let names = library::names();
        assert!(names.len() >= 17);
        for name in names {
            let script = library::builtin(name).expect("a built-in loads");
            let text = script.to_toml("round trip").expect("writable");
            let back = crate::Script::parse(&script.name, "round-trip.toml", &text)
                .unwrap_or_else(|e| panic!("{}: {e}\n{text}", script.name));
            assert_eq!(back, script, "{}:\n{text}", script.name);
        }
    }
}
