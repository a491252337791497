//! Reading a script from TOML: deserialize with positions, convert the
//! fault tables, run the whole-script checks, and turn every failure into a
//! [`ScriptError`] with file, line, column, what was expected and a hint.

use std::{path::Path, time::Duration};

use serde::Deserialize;
use squall_sim::{Fault, ScheduledFault};

use crate::script::{
    duration::{self, INVALID_DURATION},
    error::{LoadError, Location, ScriptError, ScriptErrors},
    model::{Client, Expect, Load, PoolOverrides, Script, Topology},
    spans::Spans,
    validate::{self, Problem},
};

/// The file as TOML sees it. Faults stay tables here: they are converted one
/// by one so an error inside a fault still points at its line (serde's
/// `flatten` in `ScheduledFault` would lose the position).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScript {
    description: String,
    seed: Option<u64>,
    #[serde(deserialize_with = "duration::required")]
    duration: Duration,
    #[serde(default, deserialize_with = "duration::optional")]
    time_limit: Option<Duration>,
    topology: Topology,
    #[serde(default)]
    client: Client,
    #[serde(default)]
    pool: PoolOverrides,
    load: Option<Load>,
    #[serde(default)]
    faults: Vec<toml::Table>,
    #[serde(default)]
    expect: Expect,
    world: Option<String>,
}

/// What is known about the file while converting it.
struct Source<'a> {
    file: &'a str,
    text: &'a str,
    spans: Spans,
}

impl Source<'_> {
    /// A TOML or serde error, placed at its span and named by the field
    /// there. An empty span is the document's start: a missing top-level
    /// field.
    fn toml_error(&self, e: &toml::de::Error) -> ScriptError {
        let span = e.span();
        let at = span
            .as_ref()
            .filter(|s| !s.is_empty())
            .and_then(|s| self.spans.path_at(s))
            .unwrap_or_default();
        let mut problem = describe(e.message());
        problem.field = match e.message().strip_prefix("missing field ") {
            Some(missing) if at.is_empty() => missing.trim_matches('`').to_owned(),
            Some(missing) => format!("{at}.{}", missing.trim_matches('`')),
            None => at,
        };
        if !self.spans.parsed {
            problem.hint = TOML_HINT.to_owned();
        } else if e.message().starts_with("unknown variant")
            && let Some(hint) = variant_hint(&problem.field)
        {
            problem.hint = hint.to_owned();
        }
        self.error(span, problem)
    }

    fn error(&self, span: Option<std::ops::Range<usize>>, problem: Problem) -> ScriptError {
        ScriptError {
            file: self.file.to_owned(),
            // Every error gets a position: the file's start if nothing closer.
            location: Some(Location::of(self.text, span.unwrap_or(0..0))),
            field: problem.field,
            message: problem.message,
            expected: problem.expected,
            hint: problem.hint,
        }
    }
}

impl Script {
    /// Reads the script at `path`; its name is the file's stem.
    pub fn load(path: &Path) -> Result<Script, LoadError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: shown.clone(),
            source,
        })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Script::parse(&name, &shown, &text)?)
    }

    /// Parses and validates script `text`, named `name`; errors name `file`.
    pub fn parse(name: &str, file: &str, text: &str) -> Result<Script, ScriptErrors> {
        let source = Source {
            file,
            text,
            spans: Spans::index(text),
        };
        let raw: RawScript =
            toml::from_str(text).map_err(|e| ScriptErrors(vec![source.toml_error(&e)]))?;
        let mut errors = Vec::new();
        let mut faults = Vec::new();
        for (index, table) in raw.faults.into_iter().enumerate() {
            match fault(&source, index, table) {
                Ok(scheduled) => faults.push(scheduled),
                Err(error) => errors.push(*error),
            }
        }
        let mut script = Script {
            name: name.to_owned(),
            description: raw.description,
            seed: raw.seed,
            duration: raw.duration,
            time_limit: raw.time_limit,
            topology: raw.topology,
            client: raw.client,
            pool: raw.pool,
            load: raw.load,
            faults,
            expect: raw.expect,
            world: raw.world,
        };
        script.fill_default_targets();
        // Whole-script checks need every fault; with a broken fault they
        // would report follow-on noise, so they wait for a clean fault list.
        if errors.is_empty() {
            for problem in validate::problems(&script) {
                let span = source.spans.value_or_parent(&problem.field);
                errors.push(source.error(span, problem));
            }
        }
        if errors.is_empty() {
            Ok(script)
        } else {
            Err(ScriptErrors(errors))
        }
    }

    /// No targets means every server.
    pub(crate) fn fill_default_targets(&mut self) {
        if self.client.targets.is_empty() {
            let servers = self.topology.servers.min(squall_sim::world::MAX_SERVERS);
            self.client.targets = (0..servers).map(squall_sim::world::server_name).collect();
        }
    }
}

/// One `[[faults]]` table: timing read here, the rest as a [`Fault`].
fn fault(
    source: &Source<'_>,
    index: usize,
    mut table: toml::Table,
) -> Result<ScheduledFault, Box<ScriptError>> {
    let base = format!("faults[{index}]");
    let path = |key: &str| format!("{base}.{key}");
    let at_span = |key: &str| source.spans.value_or_parent(&path(key));
    let timing = |key: &str, value: toml::Value| -> Result<Duration, Box<ScriptError>> {
        let text = value
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| value.to_string());
        let parsed = match value {
            toml::Value::String(s) => duration::parse(&s),
            _ => Err(format!(
                "{INVALID_DURATION} `{text}`: a duration is a quoted string with a unit"
            )),
        };
        parsed.map_err(|message| {
            let mut problem = describe(&message);
            problem.field = path(key);
            Box::new(source.error(at_span(key), problem))
        })
    };
    let at = match table.remove("at") {
        Some(value) => timing("at", value)?,
        None => {
            let mut problem = describe("missing field `at`");
            problem.field = base.clone();
            return Err(Box::new(
                source.error(source.spans.value_or_parent(&base), problem),
            ));
        }
    };
    let heal_after = table
        .remove("heal_after")
        .map(|value| timing("heal_after", value))
        .transpose()?;
    let original = table.clone();
    let fault: Fault = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| {
            let (key, mut problem) = fault_problem(e.message(), &original);
            problem.field = key.as_deref().map_or_else(|| base.clone(), path);
            let span = match key.as_deref() {
                // An unknown key is underlined itself, not its value.
                Some(k) if e.message().starts_with("unknown field") => source.spans.key(&path(k)),
                Some(k) => source.spans.value_or_parent(&path(k)),
                None => source.spans.value_or_parent(&base),
            };
            Box::new(source.error(span, problem))
        })?;
    Ok(ScheduledFault {
        at,
        heal_after,
        fault,
    })
}

/// The key an error inside a fault is about (serde names it in backticks,
/// or quotes the bad value), and the problem.
fn fault_problem(message: &str, table: &toml::Table) -> (Option<String>, Problem) {
    let mut problem = describe(message);
    let named = backticked(message).filter(|k| table.contains_key(k));
    let key = if message.starts_with("unknown variant") {
        Some("kind".to_owned())
    } else if named.is_some() {
        named
    } else {
        table
            .iter()
            .find(|(_, v)| {
                v.as_str().is_some_and(|s| {
                    message.contains(&format!("\"{s}\"")) || message.contains(&format!("`{s}`"))
                })
            })
            .map(|(k, _)| k.clone())
    };
    if message.starts_with("unknown field") {
        problem
            .expected
            .push_str(" (besides `at`, `heal_after` and `kind`)");
    }
    if message.starts_with("unknown variant") {
        problem.hint =
            "fault kinds are listed in docs/fault-scripts.md; kinds are kebab-case".into();
    }
    (key, problem)
}

/// What to say about an unknown name in one of the fields that take a
/// fixed set of names.
fn variant_hint(field: &str) -> Option<&'static str> {
    let last = field.rsplit('.').next()?;
    match last.split('[').next()? {
        "call" => Some(
            "calls are the echo server's: echo, slow-echo, failing-echo, echo-stream, health-check; see [[load.mix]] in docs/fault-scripts.md",
        ),
        "code" | "failure_codes" | "ignored_codes" => Some(
            "status codes are written as in the gRPC spec, in capitals: \"UNAVAILABLE\", \"DEADLINE_EXCEEDED\"",
        ),
        _ => None,
    }
}

/// The first `quoted` word of a serde message.
fn backticked(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

const TOML_HINT: &str = "the file must be TOML (https://toml.io): text in quotes, tables in [brackets], one `key = value` per line";

/// Splits a deserializer message into a headline, what was expected, and a
/// hint. serde's messages have fixed shapes ("unknown field `x`, expected
/// one of ..."), which is what this relies on; anything else is kept whole.
fn describe(message: &str) -> Problem {
    let message = message.trim();
    let docs = "every field is described in docs/fault-scripts.md";
    let (head, rest) = match message.split_once(", expected ") {
        Some((head, rest)) => (head, Some(rest)),
        None => (message, None),
    };
    let (headline, expected, hint) = if message.starts_with("unknown field") {
        let expected = match rest {
            Some(rest) => rest.to_owned(),
            None => "no fields here".to_owned(),
        };
        let head = head.split(", there are no fields").next().unwrap_or(head);
        (
            head.to_owned(),
            expected,
            format!("check the spelling and the table it is in; {docs}"),
        )
    } else if let Some(field) = message.strip_prefix("missing field ") {
        (
            message.to_owned(),
            format!("a {} entry in this table", field),
            format!("this field has no default; {docs}"),
        )
    } else if message.starts_with(duration::TOO_LONG) {
        let head = message.split_once(": ").map_or(message, |(head, _)| head);
        (
            head.to_owned(),
            duration::TOO_LONG_EXPECTED.to_owned(),
            duration::TOO_LONG_HINT.to_owned(),
        )
    } else if message.starts_with(INVALID_DURATION) {
        let (head, why) = message
            .split_once(": ")
            .unwrap_or((message, "not a duration"));
        (
            head.to_owned(),
            "a duration like \"5s\" or \"250ms\"".to_owned(),
            format!("{why}; write a number and a unit (ms, s, m, h) in quotes"),
        )
    } else if let Some(rest) = rest {
        let expected = rest.to_owned();
        let hint = if message.starts_with("invalid value: integer `-") {
            "this number cannot be negative".to_owned()
        } else if message.starts_with("invalid type") {
            "check the value's type: text needs quotes, numbers and booleans do not".to_owned()
        } else {
            docs.to_owned()
        };
        (head.to_owned(), expected, hint)
    } else {
        let first = message.lines().next().unwrap_or(message);
        (
            first.to_owned(),
            "valid TOML here".to_owned(),
            TOML_HINT.to_owned(),
        )
    };
    Problem {
        field: String::new(),
        message: headline,
        expected,
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).expect("valid TOML")
    }

    /// Errors from inside a fault are tied to the key they are about, by
    /// serde's message shapes, including those of fault kinds to come.
    #[test]
    fn fault_errors_point_at_their_key() {
        let fault = table("kind = \"nat\"\nidle_timeout = \"soon\"\nexpiry = \"silent\"");
        let key = |message: &str| fault_problem(message, &fault).0;
        assert_eq!(
            key("unknown field `expiry`, expected `idle_timeout`").as_deref(),
            Some("expiry")
        );
        assert_eq!(
            key("unknown variant `nat`, expected `black-hole`").as_deref(),
            Some("kind")
        );
        // humantime_serde's message for a bad duration quotes the value.
        assert_eq!(
            key("invalid value: string \"soon\", expected a duration").as_deref(),
            Some("idle_timeout")
        );
        assert_eq!(key("missing field `forward_to`"), None);
    }

    #[test]
    fn messages_split_into_headline_expected_and_hint() {
        let p = describe("unknown field `x`, expected one of `a`, `b`");
        assert_eq!(p.message, "unknown field `x`");
        assert_eq!(p.expected, "one of `a`, `b`");
        let p = describe("invalid duration `-5s`: durations cannot be negative");
        assert_eq!(p.message, "invalid duration `-5s`");
        assert!(p.hint.starts_with("durations cannot be negative"));
        let p = describe("invalid type: string \"10\", expected u32");
        assert_eq!(
            (p.message.as_str(), p.expected.as_str()),
            ("invalid type: string \"10\"", "u32")
        );
        assert!(describe("missing field `load`").expected.contains("`load`"));
    }
}
