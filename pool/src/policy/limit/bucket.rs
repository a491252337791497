//! The token bucket behind the rate limit, refilled lazily from the caller's
//! clock.
//!
//! Credit is kept in whole token-nanoseconds (`per_second` of them accrue per
//! nanosecond, one token costs 10^9), so refills are exact integer sums: no
//! float rounding can let a burst slip past the limit, and every run with the
//! same clock values admits exactly the same calls.

use tokio::time::Instant;

use super::config::RateLimit;

/// The credit one token is worth.
const TOKEN: u128 = 1_000_000_000;

/// A bucket of up to `burst` tokens refilled at `per_second`.
#[derive(Debug, Clone)]
pub(super) struct TokenBucket {
    per_second: u128,
    capacity: u128,
    credit: u128,
    /// When credit was last brought up to date; `None` until first use, so
    /// the bucket starts full whenever the caller's clock starts.
    refilled_at: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket.
    pub(super) fn new(rate: RateLimit) -> Self {
        let capacity = u128::from(rate.burst) * TOKEN;
        TokenBucket {
            per_second: u128::from(rate.per_second),
            capacity,
            credit: capacity,
            refilled_at: None,
        }
    }

    /// Whether a token can be taken at `now`.
    pub(super) fn has_token(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.credit >= TOKEN
    }

    /// Takes one token; the caller checked [`has_token`](Self::has_token) at the same `now`.
    pub(super) fn take(&mut self, now: Instant) {
        self.refill(now);
        debug_assert!(self.credit >= TOKEN, "took a token from an empty bucket");
        self.credit -= TOKEN;
    }

    /// The instant from which a token is available (in the past if one
    /// already is), or `None` if the bucket was never used and so is full.
    pub(super) fn ready_at(&self) -> Option<Instant> {
        let at = self.refilled_at?;
        let missing = TOKEN.saturating_sub(self.credit);
        let nanos = missing.div_ceil(self.per_second);
        // A wait that does not fit in u64 nanoseconds (centuries) is "never".
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX);
        Some(at + std::time::Duration::from_nanos(nanos))
    }

    fn refill(&mut self, now: Instant) {
        let Some(at) = self.refilled_at else {
            self.refilled_at = Some(now);
            return;
        };
        // Callers racing for a lock can hand in a `now` slightly older than
        // the last one; that adds nothing instead of going backwards.
        let elapsed = now.saturating_duration_since(at).as_nanos();
        if elapsed == 0 {
            return;
        }
        self.credit = (self.credit + elapsed * self.per_second).min(self.capacity);
        self.refilled_at = Some(now);
        debug_assert!(self.credit <= self.capacity);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn bucket(per_second: u32, burst: u32) -> TokenBucket {
        TokenBucket::new(RateLimit { per_second, burst })
    }

    #[test]
    fn starts_full_then_refills_at_the_rate() {
        let t0 = Instant::now();
        let mut b = bucket(10, 2);
        for _ in 0..2 {
            assert!(b.has_token(t0));
            b.take(t0);
        }
        assert!(!b.has_token(t0));
        assert_eq!(b.ready_at(), Some(t0 + Duration::from_millis(100)));
        assert!(!b.has_token(t0 + Duration::from_millis(99)));
        assert!(b.has_token(t0 + Duration::from_millis(100)));
    }

    #[test]
    fn never_holds_more_than_burst() {
        let t0 = Instant::now();
        let mut b = bucket(1000, 3);
        assert!(b.has_token(t0));
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(b.has_token(later));
            b.take(later);
        }
        assert!(!b.has_token(later));
    }

    #[test]
    fn a_clock_going_backwards_adds_nothing() {
        let t0 = Instant::now() + Duration::from_secs(1);
        let mut b = bucket(1, 1);
        b.take(t0);
        assert!(!b.has_token(t0 - Duration::from_secs(1)));
        assert!(b.has_token(t0 + Duration::from_secs(1)));
    }
}
