//! gRPC's connection backoff schedule, with jitter from the pool's seeded RNG.
//!
//! Follows gRPC's `connection-backoff.md`: the first retry waits `initial`;
//! each later one waits the previous (unjittered) delay times `multiplier`,
//! capped at `max`, then jittered uniformly by ±`jitter`. Jitter spreads
//! reconnects of many clients so a recovering server is not hit all at once.

use std::time::Duration;

use rand::Rng;

use crate::config::BackoffConfig;

/// Where one connection slot is in its backoff schedule.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    config: BackoffConfig,
    /// The unjittered delay of the next wait.
    current: Duration,
    /// Whether the next wait is the first of a series (it is not jittered).
    first: bool,
}

impl Backoff {
    pub(crate) fn new(config: BackoffConfig) -> Self {
        Self {
            current: config.initial,
            config,
            first: true,
        }
    }

    /// Back to the start of the schedule, after a connection proved healthy.
    pub(crate) fn reset(&mut self) {
        *self = Self::new(self.config);
    }

    /// The delay before the next attempt, counted from the start of the
    /// attempt that just failed; advances the schedule.
    pub(crate) fn next_delay(&mut self, rng: &mut impl Rng) -> Duration {
        if self.first {
            self.first = false;
            return self.current;
        }
        let grown = self.current.mul_f64(self.config.multiplier);
        self.current = grown.min(self.config.max);
        let spread = rng.random_range(-1.0..=1.0) * self.config.jitter;
        let delay = self.current.mul_f64(1.0 + spread);
        debug_assert!(delay <= self.config.max.mul_f64(1.0 + self.config.jitter));
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn config() -> BackoffConfig {
        BackoffConfig::default()
    }

    #[test]
    fn grows_by_multiplier_within_jitter_and_caps() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut b = Backoff::new(config());
        assert_eq!(b.next_delay(&mut rng), Duration::from_secs(1));
        let mut unjittered = 1.0f64;
        for _ in 0..20 {
            unjittered = (unjittered * 1.6).min(120.0);
            let d = b.next_delay(&mut rng).as_secs_f64();
            assert!(
                d >= unjittered * 0.8 - 1e-9 && d <= unjittered * 1.2 + 1e-9,
                "{d} not within ±20% of {unjittered}"
            );
        }
        assert_eq!(unjittered, 120.0, "schedule reaches the cap");
    }

    #[test]
    fn same_seed_same_schedule_and_reset_restarts() {
        let schedule = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut b = Backoff::new(config());
            (0..8).map(|_| b.next_delay(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(schedule(7), schedule(7));
        assert_ne!(schedule(7), schedule(8));

        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut b = Backoff::new(config());
        b.next_delay(&mut rng);
        b.next_delay(&mut rng);
        b.reset();
        assert_eq!(b.next_delay(&mut rng), Duration::from_secs(1));
    }
}
