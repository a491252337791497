//! RPC deadlines: reading gRPC's `grpc-timeout` header.
//!
//! tonic clients send `Request::set_timeout` as `grpc-timeout`; the pool
//! bounds its own wait by it, so a caller never waits on a dead connection
//! past its deadline even if the server never answers.
//!
//! Every timeout the pool turns into a deadline first goes through
//! [`clamp`]: a caller's `Duration::MAX` (or a `default_rpc_timeout` of a
//! million years) means "no deadline", and must not panic the pool on
//! `Instant + Duration` overflow.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use tokio::time::Instant;

/// The header name, as in the gRPC over HTTP/2 spec. A `HeaderName`, not a
/// `&str`: looking a `&str` up parses and validates it on every RPC (about
/// 280 instructions, a tenth of the pool's own path).
pub const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// The longest timeout gRPC can carry: 99,999,999 hours (about 11,400
/// years). The gRPC over HTTP/2 spec gives `grpc-timeout` at most 8 digits
/// and `H` (hours) is its largest unit. tonic 0.14 formats a
/// `Request::set_timeout` with the same 8-digit rule and panics
/// ("duration is unrealistically large", `tonic/src/request.rs`) from
/// 100,000,000 hours up, so this limit, the smaller of the two, is safe for
/// both. Longer timeouts are clamped to it by the pool and rejected by
/// scripts.
pub const MAX_GRPC_TIMEOUT: Duration = Duration::from_secs(99_999_999 * 3600);

/// `timeout`, at most [`MAX_GRPC_TIMEOUT`]. Anything longer is a caller
/// meaning "no deadline"; 11,400 years is as good, and adding it to an
/// `Instant` cannot overflow.
pub fn clamp(timeout: Duration) -> Duration {
    timeout.min(MAX_GRPC_TIMEOUT)
}

/// The deadline `timeout` after `now`, with `timeout` [`clamp`]ed. Should
/// even the clamped sum overflow (a platform with a narrow `Instant`), the
/// latest deadline that fits is a year out, still past any real RPC.
pub(crate) fn after(now: Instant, timeout: Duration) -> Instant {
    const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
    now.checked_add(clamp(timeout))
        .or_else(|| now.checked_add(YEAR))
        .unwrap_or(now)
}

/// Parses `grpc-timeout`: 1 to 8 ASCII digits then a unit (`H`, `M`, `S`,
/// `m`, `u`, `n`). Returns `None` if absent or malformed; a malformed header
/// falls back to the pool default instead of failing the RPC.
pub fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    let text = first_value(headers, &GRPC_TIMEOUT)?.to_str().ok()?;
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

/// `headers.get(name)`, found by looking at each header when there are
/// few: a call's map holds two or three, and comparing names (an enum tag
/// against a standard header's) costs less than hashing a custom name to
/// look it up (~100 instructions per RPC, callgrind). The first value, as
/// `get`'s.
fn first_value<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a HeaderValue> {
    const SCANNED: usize = 8;
    if headers.keys_len() > SCANNED {
        return headers.get(name);
    }
    headers
        .iter()
        .find_map(|(header, value)| (header == name).then_some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &str) -> Option<Duration> {
        let mut h = HeaderMap::new();
        h.insert(GRPC_TIMEOUT, v.parse().unwrap());
        grpc_timeout(&h)
    }

    /// Found among few headers by looking and among many by hashing, the
    /// first value either way, and nothing when absent.
    #[test]
    fn the_header_is_found_among_few_headers_or_many() {
        for others in [0, 2, 8, 9, 40] {
            let mut h = HeaderMap::new();
            for i in 0..others {
                h.insert(
                    HeaderName::try_from(format!("x-other-{i}")).unwrap(),
                    HeaderValue::from_static("1S"),
                );
            }
            assert_eq!(grpc_timeout(&h), None, "{others} other headers");
            h.append(GRPC_TIMEOUT, HeaderValue::from_static("3S"));
            h.append(GRPC_TIMEOUT, HeaderValue::from_static("9S"));
            assert_eq!(
                grpc_timeout(&h),
                Some(Duration::from_secs(3)),
                "{others} other headers"
            );
        }
    }

    #[test]
    fn units() {
        assert_eq!(parse("1500m"), Some(Duration::from_millis(1500)));
        assert_eq!(parse("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse("7n"), Some(Duration::from_nanos(7)));
    }

    /// A caller's `Duration::MAX` must become a deadline, not a panic; and
    /// the largest header a peer can send is exactly the limit.
    #[test]
    fn huge_timeouts_clamp_to_the_grpc_limit() {
        assert_eq!(clamp(Duration::MAX), MAX_GRPC_TIMEOUT);
        assert_eq!(
            clamp(Duration::from_secs(1_000_000_000_000)),
            MAX_GRPC_TIMEOUT
        );
        assert_eq!(clamp(Duration::from_secs(30)), Duration::from_secs(30));
        assert_eq!(clamp(MAX_GRPC_TIMEOUT), MAX_GRPC_TIMEOUT);
        assert_eq!(parse("99999999H"), Some(MAX_GRPC_TIMEOUT));
        let now = Instant::now();
        assert_eq!(after(now, Duration::MAX), now + MAX_GRPC_TIMEOUT);
        assert_eq!(
            after(now, Duration::from_secs(2)),
            now + Duration::from_secs(2)
        );
    }

    /// tonic's own formatter accepts the limit: a request timed out at
    /// `MAX_GRPC_TIMEOUT` is sent as `99999999H`, not a panic.
    #[test]
    fn tonic_formats_the_limit() {
        let mut request = tonic::Request::new(());
        request.set_timeout(MAX_GRPC_TIMEOUT);
        let header = request.metadata().get("grpc-timeout").expect("set");
        assert_eq!(header.to_str().unwrap(), "99999999H");
    }

    #[test]
    fn malformed_is_none() {
        for bad in ["", "m", "123456789m", "10x", "-1S", "1.5S"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert_eq!(grpc_timeout(&HeaderMap::new()), None);
    }
}
