//! Checks on a whole script that the TOML types alone cannot express: zero
//! durations, times outside the run, unknown hosts, pool limits. Each
//! problem names the field it is about; the loader turns that into a line
//! and column, the builder reports it as is.

use std::time::Duration;

use squall_sim::{
    LoadConfig, Ramp, WeightedCall,
    world::{CLIENT_HOST, MAX_SERVERS, server_name},
};

use humantime_serde::re::humantime;

use crate::script::{
    duration,
    model::{ClientKind, KeepaliveOverrides, Load, PoolOverrides, Script},
    world::middlebox,
};

/// One problem, by field path (`faults[0].heal_after`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) field: String,
    pub(crate) message: String,
    pub(crate) expected: String,
    pub(crate) hint: String,
}

fn problem(
    field: impl Into<String>,
    message: impl Into<String>,
    expected: &str,
    hint: &str,
) -> Problem {
    Problem {
        field: field.into(),
        message: message.into(),
        expected: expected.to_owned(),
        hint: hint.to_owned(),
    }
}

/// Every host name the script's world has, in order: the client, the
/// servers, then the middleboxes.
pub(crate) fn hosts(script: &Script) -> Vec<String> {
    let servers = script.topology.servers.min(MAX_SERVERS);
    std::iter::once(CLIENT_HOST.to_owned())
        .chain((0..servers).map(server_name))
        .chain(script.middleboxes().into_iter().map(|m| m.name))
        .collect()
}

/// Every problem in `script`, in field order.
pub(crate) fn problems(script: &Script) -> Vec<Problem> {
    // First and alone: the checks below add durations (`at + heal_after`),
    // which a duration near `Duration::MAX` would overflow.
    let mut found = too_long(script);
    if !found.is_empty() {
        return found;
    }
    header(script, &mut found);
    middleboxes(script, &mut found);
    client(script, &mut found);
    pool(script, &mut found);
    hedging(script, &mut found);
    match &script.load {
        Some(given) => load(given, script.duration, &mut found),
        // A user's world may bring its own client; whether it does is
        // checked when the world is found (`squall_scenarios::worlds`).
        None if script.world.is_some() => {}
        // Worded as serde words a missing field, which it was before
        // `[load]` became optional for users' worlds.
        None => found.push(problem(
            "load",
            "missing field `load`",
            "a `load` entry in this table",
            "only a script naming a user's world that brings its own client (`world = \"...\"`) leaves it out; every field is described in docs/fault-scripts.md",
        )),
    }
    faults(script, &mut found);
    expect(script, &mut found);
    found
}

/// Every duration at or past [`duration::MAX`], in any field: the file's
/// own durations are caught as they are parsed, but fault fields parsed by
/// the simulator's types and scripts built in Rust arrive here unchecked.
/// The script is walked as the TOML its file would hold, so a duration
/// field added later is covered without being listed.
fn too_long(script: &Script) -> Vec<Problem> {
    let mut found = Vec::new();
    // A script TOML cannot hold (a NaN) has no durations to report; the
    // other checks and the emitter report it.
    if let Ok(toml::Value::Table(table)) = script.to_value() {
        for (key, value) in &table {
            if key != "description" {
                too_long_in(key, value, &mut found);
            }
        }
    }
    found
}

fn too_long_in(field: &str, value: &toml::Value, found: &mut Vec<Problem>) {
    match value {
        toml::Value::String(text) => {
            // Durations are written as humantime text; one too large for
            // humantime to read back (`Duration::MAX`) is past the limit too.
            let past = match humantime::parse_duration(text) {
                Ok(value) => value >= duration::MAX,
                Err(e) => e == humantime::DurationError::NumberOverflow,
            };
            if past {
                found.push(problem(
                    field,
                    // The value is underlined in the file; humantime's
                    // spelling of it ("22815years 5months ...") would not help.
                    format!("{} in `{field}`", duration::TOO_LONG),
                    duration::TOO_LONG_EXPECTED,
                    duration::TOO_LONG_HINT,
                ));
            }
        }
        toml::Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                too_long_in(&format!("{field}[{index}]"), item, found);
            }
        }
        toml::Value::Table(table) => {
            for (key, item) in table {
                too_long_in(&format!("{field}.{key}"), item, found);
            }
        }
        _ => {}
    }
}

fn positive(found: &mut Vec<Problem>, field: &str, value: Duration) {
    if value.is_zero() {
        found.push(problem(
            field,
            format!("`{field}` is zero"),
            "a duration greater than zero",
            "a zero length makes no sense here; write e.g. \"1s\" or \"250ms\"",
        ));
    }
}

fn header(script: &Script, found: &mut Vec<Problem>) {
    if script.description.trim().is_empty() || script.description.contains('\n') {
        found.push(problem(
            "description",
            "the description must be one non-empty line",
            "one line saying what the script shows",
            "`squall list` prints it next to the script's name",
        ));
    }
    positive(found, "duration", script.duration);
    if let Some(limit) = script.time_limit
        && limit <= script.duration
    {
        found.push(problem(
            "time_limit",
            format!(
                "time_limit ({}) is not after duration ({})",
                fmt(limit),
                fmt(script.duration)
            ),
            "a time after `duration`",
            "the run needs time after the load for the last deadlines and the pool's shutdown; leave time_limit out for duration + 10s",
        ));
    }
    if !(1..=MAX_SERVERS).contains(&script.topology.servers) {
        found.push(problem(
            "topology.servers",
            format!("{} servers", script.topology.servers),
            &format!("a number of servers from 1 to {MAX_SERVERS}"),
            "servers are the hosts server-1..server-N",
        ));
    }
    if script.topology.max_concurrent_streams == Some(0) {
        found.push(problem(
            "topology.max_concurrent_streams",
            "0".to_owned(),
            "at least 1",
            "a server that allows no stream can serve no RPC; leave it out for hyper's default of 200",
        ));
    }
}

fn middleboxes(script: &Script, found: &mut Vec<Problem>) {
    let servers: Vec<String> = (0..script.topology.servers.min(MAX_SERVERS))
        .map(server_name)
        .collect();
    let mut names: Vec<String> = std::iter::once(CLIENT_HOST.to_owned())
        .chain(servers.iter().cloned())
        .collect();
    for (index, table) in script.topology.middleboxes.iter().enumerate() {
        let at = format!("topology.middleboxes[{index}]");
        let middlebox = match middlebox(table) {
            Ok(middlebox) => middlebox,
            Err(message) => {
                found.push(problem(
                    at,
                    message,
                    "name, kind = \"nat\", forward_to, idle_timeout, expiry = \"silent\" | \"rst\"",
                    "see the NAT middlebox in docs/fault-scripts.md",
                ));
                continue;
            }
        };
        if names.contains(&middlebox.name) {
            found.push(problem(
                format!("{at}.name"),
                format!("host name `{}` is already taken", middlebox.name),
                "a name no other host has",
                "the client, server-1..server-N and every middlebox need distinct names",
            ));
        }
        if !servers.contains(&middlebox.forward_to) {
            found.push(problem(
                format!("{at}.forward_to"),
                format!("unknown server `{}`", middlebox.forward_to),
                &format!("a server host: {}", servers.join(", ")),
                "a middlebox forwards every flow to one server",
            ));
        }
        if middlebox.idle_timeout.is_zero() {
            positive(found, &format!("{at}.idle_timeout"), middlebox.idle_timeout);
        }
        names.push(middlebox.name);
    }
}

fn client(script: &Script, found: &mut Vec<Problem>) {
    let hosts = hosts(script);
    let dialable = &hosts[1..];
    for (index, target) in script.client.targets.iter().enumerate() {
        if !dialable.contains(target) {
            found.push(problem(
                format!("client.targets[{index}]"),
                format!("unknown host `{target}`"),
                &format!("a server or middlebox host: {}", dialable.join(", ")),
                "servers are named server-1..server-N after topology.servers; middleboxes by their name",
            ));
        } else if script.client.targets[..index].contains(target) {
            found.push(problem(
                format!("client.targets[{index}]"),
                format!("`{target}` is listed twice"),
                "each target once",
                "use pool.connections_per_endpoint for more connections to one server",
            ));
        }
    }
}

fn pool(script: &Script, found: &mut Vec<Problem>) {
    let kind = script.client.kind;
    if kind.is_tonic() {
        // tonic-channel-keepalive reads its keepalive from [pool.keepalive].
        let read = match kind {
            ClientKind::TonicChannelKeepalive => PoolOverrides {
                keepalive: KeepaliveOverrides::default(),
                ..script.pool.clone()
            },
            _ => script.pool.clone(),
        };
        if !read.is_empty() {
            let (expected, hint) = match kind {
                ClientKind::TonicChannelKeepalive => (
                    "only [pool.keepalive] with kind = \"tonic-channel-keepalive\"",
                    "its interval and timeout set the Channel's keepalive; other pool overrides only apply to kind = \"pool\"",
                ),
                _ => (
                    "no [pool] table with a tonic client",
                    "pool overrides only apply to kind = \"pool\"",
                ),
            };
            found.push(problem(
                "pool",
                format!("[pool] is set but the client is {}", kind.name()),
                expected,
                hint,
            ));
        }
        return;
    }
    if let Err(e) = script.pool.apply(script.default_seed()).validate() {
        // The breaker's code sets sit in its failure predicate; scripts
        // write them in [pool.breaker] directly.
        let field = e.field.replace("breaker.failure_predicate.", "breaker.");
        let docs = match field.split('.').next() {
            Some("limiter") => "pool/src/limit/config.rs",
            Some("breaker") => "pool/src/breaker/config.rs",
            Some("hedging") => "pool/src/policy/hedging/config.rs",
            _ => "pool/src/config.rs",
        };
        found.push(problem(
            format!("pool.{field}"),
            format!("`pool.{field}` {}", e.problem),
            &format!("a value that {}", e.problem),
            &format!("pool fields and their limits are documented in {docs}"),
        ));
    }
}

/// `[pool.hedging]` hedges only calls marked idempotent: without
/// `load.idempotent` it would do nothing, which is never what was meant.
fn hedging(script: &Script, found: &mut Vec<Problem>) {
    if script.pool.hedging.is_some() && !script.load.as_ref().is_some_and(|l| l.idempotent) {
        found.push(problem(
            "pool.hedging",
            "[pool.hedging] is set but no call is idempotent, so none would be hedged".to_owned(),
            "`idempotent = true` in [load]",
            "only calls marked idempotent may be sent more than once",
        ));
    }
}

fn load(load: &Load, duration: Duration, found: &mut Vec<Problem>) {
    pace(load, found);
    positive(found, "load.deadline", load.deadline);
    if load.start >= duration {
        found.push(problem(
            "load.start",
            format!(
                "load.start ({}) is not before duration ({})",
                fmt(load.start),
                fmt(duration)
            ),
            "a time before `duration`",
            "the load runs from load.start until duration",
        ));
    }
    mix(load, found);
}

/// Exactly one of `rate`, `interval`, `concurrency` and `ramp`, each in
/// range, and `think` exactly with `concurrency`.
fn pace(load: &Load, found: &mut Vec<Problem>) {
    let given: Vec<&str> = [
        ("rate", load.rate.is_some()),
        ("interval", load.interval.is_some()),
        ("concurrency", load.concurrency.is_some()),
        ("ramp", !load.ramp.is_empty()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    match given[..] {
        [] => found.push(problem(
            "load",
            "the load has no rate",
            "`rate = 10` (RPCs per second), `interval = \"20s\"`, or `concurrency = 8` with `think`",
            "every script sends RPCs; they are what the faults are judged by",
        )),
        [first, second, ..] => found.push(problem(
            format!("load.{second}"),
            format!("both load.{first} and load.{second} are given"),
            "one of `rate` (RPCs per second), `interval` (time between RPCs), `concurrency` (callers) or `[[load.ramp]]` (a rate that changes)",
            "use `interval` for loads slower than one RPC per second, `concurrency` for a closed loop",
        )),
        [_] => {}
    }
    ramp(load, found);
    if let Some(rate) = load.rate
        && !(1..=Load::MAX_RATE).contains(&rate)
    {
        found.push(problem(
            "load.rate",
            format!("load.rate is {rate}"),
            &format!("RPCs per second from 1 to {}", Load::MAX_RATE),
            "a script without load shows nothing; the cap bounds the trace",
        ));
    }
    if let Some(interval) = load.interval
        && interval < Duration::from_millis(1)
    {
        found.push(problem(
            "load.interval",
            format!("load.interval is {}", fmt(interval)),
            "at least \"1ms\"",
            "for faster loads write `rate` (RPCs per second, at most 10000)",
        ));
    }
    closed_loop(load, found);
}

/// `[[load.ramp]]`: points in increasing time, each rate in range, at most
/// [`Ramp::MAX_POINTS`].
fn ramp(load: &Load, found: &mut Vec<Problem>) {
    if load.ramp.len() > Ramp::MAX_POINTS {
        found.push(problem(
            format!("load.ramp[{}]", Ramp::MAX_POINTS),
            format!("load.ramp has {} points", load.ramp.len()),
            &format!("at most {} points", Ramp::MAX_POINTS),
            "a day in one-minute steps is 1440 points; use fewer, longer segments",
        ));
    }
    for (index, point) in load.ramp.iter().enumerate() {
        if !(1..=Load::MAX_RATE).contains(&point.rate) {
            found.push(problem(
                format!("load.ramp[{index}].rate"),
                format!("load.ramp[{index}].rate is {}", point.rate),
                &format!("RPCs per second from 1 to {}", Load::MAX_RATE),
                "a ramp's rate is linear between its points; an idle stretch is a low rate, not 0",
            ));
        }
        if index > 0 && point.at <= load.ramp[index - 1].at {
            found.push(problem(
                format!("load.ramp[{index}].at"),
                format!(
                    "load.ramp[{index}].at is {}, not after the point before it ({})",
                    fmt(point.at),
                    fmt(load.ramp[index - 1].at)
                ),
                "points in increasing time",
                "list the points in the order they happen",
            ));
        }
    }
}

fn closed_loop(load: &Load, found: &mut Vec<Problem>) {
    let Some(concurrency) = load.concurrency else {
        if load.think.is_some() {
            found.push(problem(
                "load.think",
                "`load.think` is given without `load.concurrency`",
                "`think` only together with `concurrency`",
                "think is a closed-loop caller's pause between RPCs; an open loop is paced by `rate` or `interval`",
            ));
        }
        return;
    };
    if !(1..=Load::MAX_CONCURRENCY).contains(&concurrency) {
        found.push(problem(
            "load.concurrency",
            format!("load.concurrency is {concurrency}"),
            &format!("a number of callers from 1 to {}", Load::MAX_CONCURRENCY),
            "each caller keeps one RPC in flight; the cap bounds the run",
        ));
        return;
    }
    let min = Load::min_think(concurrency);
    let hint = format!(
        "{concurrency} callers each sending once per `think` must stay within {} RPCs per second",
        Load::MAX_RATE
    );
    match load.think {
        None => found.push(problem(
            "load.think",
            "a closed-loop load needs `think`",
            &format!("`think = \"{}\"` or longer", fmt(min)),
            &format!("think is each caller's pause after an RPC ends; {hint}"),
        )),
        Some(think) if think < min => found.push(problem(
            "load.think",
            format!("load.think ({}) is too short", fmt(think)),
            &format!("at least \"{}\" for {concurrency} callers", fmt(min)),
            &hint,
        )),
        Some(_) => {}
    }
}

/// Each `[[load.mix]]` entry: a weight in range, the fields its call needs
/// and no others, and values the echo server accepts.
fn mix(load: &Load, found: &mut Vec<Problem>) {
    if load.mix.len() > LoadConfig::MAX_MIX_ENTRIES {
        found.push(problem(
            "load.mix",
            format!("load.mix has {} entries", load.mix.len()),
            &format!("at most {} entries", LoadConfig::MAX_MIX_ENTRIES),
            "merge entries of the same call: weights are relative",
        ));
    }
    for (index, entry) in load.mix.iter().enumerate() {
        let field = |name: &str| format!("load.mix[{index}].{name}");
        if !(1..=WeightedCall::MAX_WEIGHT).contains(&entry.weight) {
            found.push(problem(
                field("weight"),
                format!("{} is {}", field("weight"), entry.weight),
                &format!("a weight from 1 to {}", WeightedCall::MAX_WEIGHT),
                "weights are relative: an entry is drawn with probability weight / sum of weights; remove an entry to never draw it",
            ));
        }
        if let Some(deadline) = entry.deadline {
            positive(found, &field("deadline"), deadline);
        }
        let call = entry.call;
        let wanted = call.fields();
        let takes = if wanted.is_empty() {
            format!(
                "no field besides `weight` and `deadline` for `{}`",
                call.name()
            )
        } else {
            format!("only `{}`'s fields: {}", call.name(), backticked(wanted))
        };
        for set in entry.fields_set() {
            if !wanted.contains(&set) {
                found.push(problem(
                    field(set),
                    format!("`{set}` does not apply to call `{}`", call.name()),
                    &takes,
                    "delay: slow-echo; code: failing-echo; count and interval: echo-stream",
                ));
            }
        }
        for name in wanted {
            if !entry.fields_set().contains(name) {
                found.push(problem(
                    field(name),
                    format!("call `{}` needs `{name}`", call.name()),
                    &format!("a `{name}` entry in this [[load.mix]] table"),
                    "see [[load.mix]] in docs/fault-scripts.md",
                ));
            }
        }
        // The simulator's own checks: counts and whole milliseconds.
        let sim_call = entry.weighted_call().call;
        if wanted.iter().all(|name| entry.fields_set().contains(name))
            && let Err(message) = (WeightedCall {
                weight: 1,
                call: sim_call,
                deadline: None,
            })
            .validate()
        {
            let (name, problem_text) = message.split_once(' ').unwrap_or((&message, ""));
            found.push(problem(
                field(name),
                format!("`{}` {problem_text}", field(name)),
                &format!("a value that {problem_text}"),
                "the echo protocol carries delays and intervals in whole milliseconds",
            ));
        }
    }
}

fn backticked(names: &[&str]) -> String {
    let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    names.join(" and ")
}

fn faults(script: &Script, found: &mut Vec<Problem>) {
    let hosts = hosts(script);
    let limit = script.time_limit();
    for (index, scheduled) in script.faults.iter().enumerate() {
        let field = |name: &str| format!("faults[{index}].{name}");
        if scheduled.at >= limit {
            found.push(problem(
                field("at"),
                format!(
                    "the fault starts at {}, after the run ends ({})",
                    fmt(scheduled.at),
                    fmt(limit)
                ),
                "a time before the run's end",
                "a fault after the run would never be injected; move it earlier or raise time_limit",
            ));
        }
        if let Some(after) = scheduled.heal_after {
            if after.is_zero() {
                found.push(problem(
                    field("heal_after"),
                    "the fault heals the moment it starts",
                    "a duration greater than zero",
                    "heal_after is counted from `at`; leave it out for a fault that never heals",
                ));
            } else if scheduled.at + after > limit {
                found.push(problem(
                    field("heal_after"),
                    format!(
                        "the fault heals at {}, after the run ends ({})",
                        fmt(scheduled.at + after),
                        fmt(limit)
                    ),
                    "a heal within the run",
                    "heal_after is counted from `at`; leave it out for a fault that never heals",
                ));
            }
        }
        fault_hosts(&scheduled.fault, &hosts, &field, found);
    }
    overlapping_downtimes(script, found);
}

/// A server cannot crash or restart while it is already down: the second
/// fault's restart would bring it back under the first, or stop it for
/// good. Said at the later fault.
fn overlapping_downtimes(script: &Script, found: &mut Vec<Problem>) {
    let windows: Vec<(usize, Vec<&str>, Duration, Duration)> = script
        .faults
        .iter()
        .enumerate()
        .filter_map(|(i, f)| {
            f.downtime()
                .map(|(hosts, start, end)| (i, hosts, start, end))
        })
        .collect();
    for (n, (later, hosts, start, end)) in windows.iter().enumerate() {
        let clash = windows[..n].iter().find_map(|(earlier, other, s, e)| {
            let host = hosts.iter().find(|h| other.contains(*h))?;
            (*start < *e && *s < *end).then_some((earlier, host, s, e))
        });
        if let Some((earlier, host, s, e)) = clash {
            let until = if *e == Duration::MAX {
                "for good".to_owned()
            } else {
                format!("until {}", fmt(*e))
            };
            found.push(problem(
                format!("faults[{later}].at"),
                format!(
                    "`{host}` is already down from {} {until} (faults[{earlier}])",
                    fmt(*s)
                ),
                "a crash or restart of a server that is up",
                "start this fault after the earlier one has healed, or make them one fault",
            ));
        }
    }
}

fn fault_hosts(
    fault: &squall_sim::Fault,
    hosts: &[String],
    field: &dyn Fn(&str) -> String,
    found: &mut Vec<Problem>,
) {
    for named in fault.kind().host_fields() {
        // A host field holds one name or, for host sets, a list of names.
        for (i, host) in named.hosts.iter().enumerate() {
            let path = if named.is_set {
                format!("{}[{i}]", named.field)
            } else {
                named.field.to_owned()
            };
            if !hosts.contains(host) {
                found.push(problem(
                    field(&path),
                    format!("unknown host `{host}`"),
                    &format!("a host of this world: {}", hosts.join(", ")),
                    "hosts are `client`, server-1..server-N after topology.servers, and the middleboxes",
                ));
            }
        }
    }
}

fn expect(script: &Script, found: &mut Vec<Problem>) {
    if let Some(within) = script.expect.detection_within {
        positive(found, "expect.detection_within", within);
    }
    let breaker_fields = [
        (
            "expect.breaker_opens_within",
            script.expect.breaker_opens_within,
        ),
        (
            "expect.breaker_closes_within",
            script.expect.breaker_closes_within,
        ),
    ];
    for (field, within) in breaker_fields {
        let Some(within) = within else { continue };
        positive(found, field, within);
        if script.pool.breaker.is_none() {
            found.push(problem(
                field,
                format!("`{field}` needs a circuit breaker"),
                "a [pool.breaker] table",
                "add `[pool.breaker]` (an empty table takes the defaults)",
            ));
        }
    }
    if let Some(within) = script.expect.live_within {
        positive(found, "expect.live_within", within);
        if script.last_fault_end().is_none() {
            found.push(problem(
                "expect.live_within",
                "`expect.live_within` needs every fault to heal".to_owned(),
                "a `heal_after` on every fault (a graceful restart heals itself)",
                "a pool cannot recover from a fault that never ends",
            ));
        }
    }
    let pool_only = |field: &str, found: &mut Vec<Problem>| {
        found.push(problem(
            field,
            format!("`{field}` needs a pool client"),
            "client.kind = \"pool\"",
            "tonic's clients emit no connection events to check",
        ));
    };
    if script.client.kind.is_tonic() {
        if script.expect.detection_within.is_some() {
            pool_only("expect.detection_within", found);
        }
        if script.expect.no_leaks {
            pool_only("expect.no_leaks", found);
        }
        if script.expect.live_within.is_some() {
            pool_only("expect.live_within", found);
        }
    }
}

/// `5s`, `250ms`: durations as a script would write them.
pub(crate) fn fmt(d: Duration) -> String {
    humantime_serde::re::humantime::format_duration(d).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "description = \"t\"\nduration = \"10s\"\n[topology]\nservers = 1\n";

    /// The fields of every problem in a script made of `HEAD` and `rest`.
    fn fields(rest: &str) -> Vec<String> {
        match Script::parse("t", "t.toml", &format!("{HEAD}{rest}")) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.0.into_iter().map(|e| e.field).collect(),
        }
    }

    fn load(rest: &str) -> Vec<String> {
        fields(&format!("[load]\ndeadline = \"1s\"\n{rest}"))
    }

    #[test]
    fn a_pace_is_exactly_one_of_rate_interval_and_concurrency() {
        assert!(load("rate = 10").is_empty());
        assert!(load("interval = \"2s\"").is_empty());
        assert!(load("concurrency = 4\nthink = \"1ms\"").is_empty());
        assert_eq!(load(""), ["load"]);
        assert_eq!(
            load("interval = \"2s\"\nconcurrency = 4\nthink = \"1ms\""),
            ["load.concurrency"]
        );
        assert_eq!(load("rate = 10\ninterval = \"2s\""), ["load.interval"]);
    }

    #[test]
    fn closed_loops_need_a_long_enough_think_and_a_bounded_concurrency() {
        assert_eq!(load("concurrency = 4"), ["load.think"]);
        assert_eq!(load("rate = 10\nthink = \"5ms\""), ["load.think"]);
        assert_eq!(
            load("concurrency = 1025\nthink = \"1s\""),
            ["load.concurrency"]
        );
        assert_eq!(
            load("concurrency = 0\nthink = \"1s\""),
            ["load.concurrency"]
        );
        assert_eq!(
            load("concurrency = 1024\nthink = \"102ms\""),
            ["load.think"]
        );
        assert!(load("concurrency = 1024\nthink = \"103ms\"").is_empty());
    }

    #[test]
    fn mix_entries_get_exactly_their_calls_fields() {
        let mix = |entry: &str| load(&format!("rate = 10\n[[load.mix]]\n{entry}"));
        assert!(mix("call = \"echo\"\nweight = 1").is_empty());
        assert!(mix("call = \"health-check\"\nweight = 1\ndeadline = \"5s\"").is_empty());
        assert!(mix("call = \"slow-echo\"\nweight = 1\ndelay = \"200ms\"").is_empty());
        assert!(mix("call = \"failing-echo\"\nweight = 1\ncode = \"INTERNAL\"").is_empty());
        assert!(
            mix("call = \"echo-stream\"\nweight = 1\ncount = 5\ninterval = \"0ms\"").is_empty()
        );
        assert_eq!(
            mix("call = \"slow-echo\"\nweight = 1"),
            ["load.mix[0].delay"]
        );
        assert_eq!(
            mix("call = \"echo\"\nweight = 1\ncount = 3"),
            ["load.mix[0].count"]
        );
        assert_eq!(
            mix("call = \"echo-stream\"\nweight = 1\ncount = 0\ninterval = \"1ms\""),
            ["load.mix[0].count"]
        );
        assert_eq!(
            mix("call = \"echo-stream\"\nweight = 1\ncount = 2\ninterval = \"1500us\""),
            ["load.mix[0].interval"]
        );
        assert_eq!(
            mix("call = \"echo\"\nweight = 1001\ndeadline = \"0s\""),
            ["load.mix[0].weight", "load.mix[0].deadline"]
        );
        assert_eq!(mix("call = \"echo\""), ["load.mix[0].weight"]);
    }

    /// Limiter and breaker errors name the script's field, including the
    /// breaker's code lists, which the pool keeps in its failure predicate.
    #[test]
    fn limiter_and_breaker_errors_name_the_script_field() {
        let pool =
            |table: &str| fields(&format!("{table}\n[load]\nrate = 10\ndeadline = \"1s\"\n"));
        assert_eq!(
            pool("[pool.limiter]\nrate = { per_second = 10, burst = 0 }"),
            ["pool.limiter.rate.burst"]
        );
        assert_eq!(
            pool("[pool.limiter]\nrate = { per_second = 10 }"),
            ["pool.limiter.rate.burst"]
        );
        assert_eq!(
            pool("[pool.breaker]\nfailure_rate_threshold = 101"),
            ["pool.breaker.failure_rate_threshold"]
        );
        assert_eq!(
            pool("[pool.breaker]\nfailure_codes = [\"CANCELLED\"]"),
            ["pool.breaker.ignored_codes"]
        );
        assert_eq!(
            pool("[pool.breaker]\nsliding_window = { time = \"0s\" }"),
            ["pool.breaker.sliding_window"]
        );
        assert_eq!(
            pool("[pool.breaker]\nfailure_codes = [\"OK\"]"),
            ["pool.breaker.failure_codes[0]"]
        );
        assert_eq!(
            pool("[pool.limiter]\nmax_queue = 3"),
            ["pool.limiter.max_queue"]
        );
    }

    /// Hedging errors name the script's field; hedging without idempotent
    /// calls is refused, since it would hedge nothing.
    #[test]
    fn hedging_errors_name_the_script_field() {
        let hedged = |table: &str, idempotent: bool| {
            fields(&format!(
                "{table}\n[load]\nrate = 10\ndeadline = \"1s\"\nidempotent = {idempotent}\n"
            ))
        };
        assert_eq!(hedged("[pool.hedging]", true), Vec::<String>::new());
        assert_eq!(hedged("[pool.hedging]", false), ["pool.hedging"]);
        assert_eq!(
            hedged("[pool.hedging]\nmax_attempts = 6", true),
            ["pool.hedging.max_attempts"]
        );
        assert_eq!(
            hedged("[pool.hedging]\nnon_fatal_status_codes = [\"OK\"]", true),
            ["pool.hedging.non_fatal_status_codes[0]"]
        );
    }
}
