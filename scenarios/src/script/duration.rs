//! Durations in scripts: humantime strings like `"5s"`, `"250ms"`, `"1m 30s"`.
//!
//! Parsed here rather than with `humantime_serde` so the error says what a
//! duration looks like and why this one is not one (a minus sign, a missing
//! unit), and the TOML deserializer attaches the value's line and column.

use std::{fmt, time::Duration};

use humantime_serde::re::humantime;
use serde::{Deserializer, Serializer, de};

/// Marks errors raised here, so the loader can give them a duration hint.
pub(crate) const INVALID_DURATION: &str = "invalid duration";

/// Marks a duration at or past [`MAX`], so the loader says why it is too
/// long instead of how to write a duration.
pub(crate) const TOO_LONG: &str = "duration too long";

/// Every duration in a script is below this: the longest deadline gRPC can
/// carry ([`squall_pool::deadline::MAX_GRPC_TIMEOUT`], 99,999,999 hours).
/// One limit for every field, not only deadlines: past it tonic panics on a
/// deadline, and sums such as `at + heal_after` or `duration + 10s` come
/// close to overflowing `Duration` and the simulator's clock.
pub(crate) const MAX: Duration = squall_pool::deadline::MAX_GRPC_TIMEOUT;

/// What a too-long duration's error expects, from the file or the builder.
pub(crate) const TOO_LONG_EXPECTED: &str =
    "a duration below 99999999h, the most a gRPC deadline can carry";

/// How to fix a too-long duration.
pub(crate) const TOO_LONG_HINT: &str = "grpc-timeout holds at most 8 digits of hours (about 11,400 years) and tonic panics past it; for \"no deadline\" or \"forever\" write something long but real, like \"24h\"";

/// `"duration too long `…`: …"` when `value` is at or past [`MAX`].
pub(crate) fn within_limit(text: &str, value: Duration) -> Result<Duration, String> {
    if value >= MAX {
        return Err(format!(
            "{TOO_LONG} `{text}`: it is not below 99999999h, the most a gRPC deadline can carry"
        ));
    }
    Ok(value)
}

/// Parses a script duration; the error is the whole message.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.starts_with('-') {
        return Err(format!(
            "{INVALID_DURATION} `{text}`: durations cannot be negative"
        ));
    }
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{INVALID_DURATION} `{text}`: the number has no unit"
        ));
    }
    let value = humantime::parse_duration(trimmed)
        .map_err(|e| format!("{INVALID_DURATION} `{text}`: {e}"))?;
    within_limit(text, value)
}

struct Visitor;

impl de::Visitor<'_> for Visitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration string like \"5s\"")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
        parse(text).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "{INVALID_DURATION} `{number}`: a duration is a quoted string with a unit"
        )))
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Duration, E> {
        self.visit_i64(number.try_into().unwrap_or(i64::MAX))
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "{INVALID_DURATION} `{number}`: a duration is a quoted string with a unit"
        )))
    }
}

/// `#[serde(deserialize_with = "duration::required")]`
pub(crate) fn required<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_any(Visitor)
}

/// `#[serde(default, deserialize_with = "duration::optional")]`
pub(crate) fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    d.deserialize_any(Visitor).map(Some)
}

/// `#[serde(serialize_with = "duration::ser")]`: as a script writes it,
/// `"5s"`, `"1s 500ms"`, which [`parse`] reads back exactly.
pub(crate) fn ser<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_duration(*d).to_string())
}

/// `#[serde(serialize_with = "duration::ser_optional")]`; TOML leaves a
/// `None` field out.
pub(crate) fn ser_optional<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser(d, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_and_bad_durations() {
        assert_eq!(parse("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("3001ms"), Ok(Duration::from_millis(3001)));
        assert_eq!(parse("1m 30s"), Ok(Duration::from_secs(90)));
        assert!(parse("-5s").unwrap_err().contains("cannot be negative"));
        assert!(parse("5").unwrap_err().contains("no unit"));
        assert!(parse("soon").unwrap_err().starts_with(INVALID_DURATION));
        assert!(parse("").is_err());
    }

    /// The limit is exclusive, and what the emitter writes for the longest
    /// allowed duration reads back (the property tests round-trip scripts).
    #[test]
    fn durations_stop_below_the_grpc_limit() {
        assert!(parse("999999999999s").unwrap_err().starts_with(TOO_LONG));
        assert!(parse("99999999h").unwrap_err().starts_with(TOO_LONG));
        assert_eq!(
            parse("99999998h"),
            Ok(Duration::from_secs(99_999_998 * 3600))
        );
        let longest = MAX - Duration::from_nanos(1);
        let text = humantime::format_duration(longest).to_string();
        assert_eq!(parse(&text), Ok(longest));
        let text = humantime::format_duration(Duration::MAX).to_string();
        assert!(parse(&text).is_err(), "{text}");
    }
}
