//! The wait before each retry: exponential, capped, jittered with the
//! pool's seeded RNG.
//!
//! Retry `n` (from 1) waits `min(initial · multiplierⁿ⁻¹, max)`, spread
//! uniformly by ±`jitter`. gRPC's retry design draws the whole wait at
//! random (`jitter` = 1 comes closest); a partial jitter keeps waits
//! predictable while still spreading the retries of many callers.

use std::time::Duration;

use rand::Rng;

use super::RetryConfig;

/// The wait before retry number `retry` (1 for the first retry).
pub(crate) fn delay(config: &RetryConfig, retry: u32, rng: &mut impl Rng) -> Duration {
    debug_assert!(retry >= 1, "retries are numbered from 1");
    let exponent = i32::try_from(retry - 1).unwrap_or(i32::MAX);
    let grown = config.initial_backoff.as_secs_f64() * config.backoff_multiplier.powi(exponent);
    let base = if grown.is_finite() && grown < config.max_backoff.as_secs_f64() {
        Duration::from_secs_f64(grown)
    } else {
        config.max_backoff
    };
    // No draw without jitter, so an exact schedule spends nothing of the RNG.
    if config.jitter == 0.0 {
        return base;
    }
    let spread = rng.random_range(-1.0..=1.0) * config.jitter;
    let delay = base.mul_f64(1.0 + spread);
    debug_assert!(delay <= config.max_backoff.mul_f64(1.0 + config.jitter));
    delay
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn config(jitter: f64) -> RetryConfig {
        RetryConfig {
            initial_backoff: Duration::from_millis(100),
            backoff_multiplier: 2.0,
            max_backoff: Duration::from_millis(500),
            jitter,
            ..RetryConfig::default()
        }
    }

    #[test]
    fn without_jitter_grows_by_the_multiplier_and_caps() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let waits: Vec<u128> = (1..=5)
            .map(|n| delay(&config(0.0), n, &mut rng).as_millis())
            .collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
    }

    #[test]
    fn a_huge_retry_number_is_capped_not_overflowed() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(
            delay(&config(0.0), u32::MAX, &mut rng),
            Duration::from_millis(500)
        );
    }

    #[test]
    fn jitter_stays_within_bounds_spreads_and_is_seeded() {
        let draw = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..200)
                .map(|_| delay(&config(0.2), 2, &mut rng))
                .collect::<Vec<_>>()
        };
        let waits = draw(7);
        assert!(
            waits
                .iter()
                .all(|w| (Duration::from_millis(160)..=Duration::from_millis(240)).contains(w))
        );
        let below = waits
            .iter()
            .filter(|w| **w < Duration::from_millis(200))
            .count();
        assert!((60..140).contains(&below), "{below} of 200 below the mean");
        assert_eq!(waits, draw(7), "same seed, same waits");
        assert_ne!(waits, draw(8));
    }
}
