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
    humantime::parse_duration(trimmed).map_err(|e| format!("{INVALID_DURATION} `{text}`: {e}"))
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
}
