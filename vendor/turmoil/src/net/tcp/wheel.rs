//! When a Linux TCP timer really fires (squall fork).
//!
//! Linux arms TCP's timers (retransmission, loss probe, SYN retries,
//! keepalive) on the kernel's timer wheel, in jiffies, and the wheel does
//! not fire a timer at its expiry but at the end of the bucket holding it:
//! a delay of up to 63 jiffies lands in a bucket one jiffy wide, up to 503
//! in one 8 jiffies wide, up to 4,031 in one 64 wide, and so on by eights
//! (`kernel/time/timer.c`, `calc_wheel_index`). At `CONFIG_HZ=250`
//! (Debian's kernels) a jiffy is 4 ms, so a 1 s SYN timeout fires up to
//! 32 ms late and a 4 s one up to 256 ms late: a connect into a black hole
//! has sent its ninth SYN about 19.45 s after the first, not at 19 s. The
//! lateness depends only on the jiffies clock at arming, so it is as
//! deterministic here as the simulation's clock, whose zero is jiffy zero.
//!
//! [`TimerWheel::Exact`] keeps turmoil's behaviour: a timer fires at its
//! expiry.

use std::time::Duration;

/// How TCP timers are rounded: exactly, or as Linux's timer wheel at a
/// given `CONFIG_HZ`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TimerWheel {
    /// A timer fires at the instant it was armed for.
    #[default]
    Exact,
    /// As Linux's timer wheel with this many jiffies a second (`CONFIG_HZ`:
    /// 100, 250, 300 or 1000; Debian's kernels use 250).
    Linux { hz: u32 },
}

/// Bucket widths grow by `2^LVL_CLK_SHIFT` per level (Linux: 3).
const LVL_CLK_SHIFT: u32 = 3;
/// Buckets per level (Linux `LVL_SIZE`: 64).
const LVL_SIZE: u64 = 64;
/// Linux's levels: 8 at `HZ > 100`, 9 at `HZ=100`; the last level's
/// granularity caps the rounding either way.
const LVL_DEPTH: u32 = 9;

impl TimerWheel {
    /// Linux's timer wheel at `CONFIG_HZ=250`, Debian's default.
    pub const LINUX_250: TimerWheel = TimerWheel::Linux { hz: 250 };

    /// When a timer armed at `now` for `delay` fires.
    ///
    /// Linux converts the delay to jiffies rounding up (`msecs_to_jiffies`),
    /// adds it to the current jiffy, and files the timer one bucket past
    /// its expiry at the granularity of the level the delay falls in
    /// (`calc_index`: "round up with level granularity to prevent" early
    /// expiry). Never earlier than `now + delay`.
    pub fn fires_at(self, now: Duration, delay: Duration) -> Duration {
        let TimerWheel::Linux { hz } = self else {
            return now.saturating_add(delay);
        };
        debug_assert!(hz > 0, "validated by TimerWheel::validate");
        let jiffy_ns = 1_000_000_000u128 / u128::from(hz.max(1));
        let now_j = now.as_nanos() / jiffy_ns;
        let delay_j = delay.as_nanos().div_ceil(jiffy_ns);
        let expires = now_j.saturating_add(delay_j);
        let level = level_of(delay_j);
        let shift = LVL_CLK_SHIFT * level;
        let bucket = ((expires >> shift) + 1) << shift;
        let at_ns = bucket.saturating_mul(jiffy_ns);
        let at = Duration::new(
            u64::try_from(at_ns / 1_000_000_000).unwrap_or(u64::MAX),
            (at_ns % 1_000_000_000) as u32,
        );
        debug_assert!(at >= now.saturating_add(delay) || delay_j > u128::from(u64::MAX));
        at
    }

    /// One jiffy (1 ms when exact, turmoil's usual tick).
    pub fn jiffy(self) -> Duration {
        match self {
            TimerWheel::Exact => Duration::from_millis(1),
            TimerWheel::Linux { hz } => Duration::from_nanos(1_000_000_000 / u64::from(hz.max(1))),
        }
    }

    /// `hz` must be positive and at most 1000 (a jiffy of 1 ms or more, as
    /// in every Linux configuration).
    pub(crate) fn validate(self) -> Result<(), &'static str> {
        match self {
            TimerWheel::Exact => Ok(()),
            TimerWheel::Linux { hz } if (1..=1000).contains(&hz) => Ok(()),
            TimerWheel::Linux { .. } => Err("timer wheel hz must be within 1..=1000"),
        }
    }
}

/// The wheel level a delay of `delta` jiffies is filed in: level `n` holds
/// delays below `LVL_START(n + 1) = 63 << (3 n)` (Linux
/// `calc_wheel_index`); longer ones go to the last level.
fn level_of(delta: u128) -> u32 {
    (0..LVL_DEPTH - 1)
        .find(|&n| delta < u128::from(LVL_SIZE - 1) << (LVL_CLK_SHIFT * n))
        .unwrap_or(LVL_DEPTH - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn exact_fires_at_the_expiry() {
        assert_eq!(TimerWheel::Exact.fires_at(ms(7), ms(1000)), ms(1007));
    }

    #[test]
    fn short_delays_land_one_jiffy_late_at_most() {
        let wheel = TimerWheel::LINUX_250;
        // 200 ms = 50 jiffies, level 0: the bucket after the expiry.
        assert_eq!(wheel.fires_at(ms(0), ms(200)), ms(204));
        // Mid-jiffy: now is jiffy 0, 1 ms rounds up to one jiffy.
        assert_eq!(wheel.fires_at(ms(3), ms(1)), ms(8));
    }

    #[test]
    fn a_second_lands_on_a_32_ms_boundary() {
        let wheel = TimerWheel::LINUX_250;
        // 250 jiffies: level 1, 8 jiffies (32 ms) wide.
        assert_eq!(wheel.fires_at(ms(0), ms(1000)), ms(1024));
        assert_eq!(wheel.fires_at(ms(6404), ms(1000)), ms(7424));
    }

    #[test]
    fn four_seconds_land_on_a_256_ms_boundary() {
        let wheel = TimerWheel::LINUX_250;
        // 1000 jiffies: level 2, 64 jiffies (256 ms) wide.
        assert_eq!(wheel.fires_at(ms(0), ms(4000)), ms(4096));
        assert_eq!(wheel.fires_at(ms(100), ms(4000)), ms(4352));
    }

    #[test]
    fn never_early_and_never_a_bucket_late() {
        let wheel = TimerWheel::LINUX_250;
        for now in (0..5000).step_by(7) {
            for delay in [1, 4, 199, 200, 255, 256, 1000, 2016, 2048, 8000, 70_000] {
                let (now, delay) = (ms(now), ms(delay));
                let at = wheel.fires_at(now, delay);
                assert!(at >= now + delay);
                let level = level_of(delay.as_millis().div_ceil(4));
                let width = ms(4 << (3 * level));
                assert!(at <= now + delay + width + ms(4), "{now:?} {delay:?} {at:?}");
            }
        }
    }

    #[test]
    fn levels_match_linux_lvl_start() {
        assert_eq!(level_of(0), 0);
        assert_eq!(level_of(62), 0);
        assert_eq!(level_of(63), 1);
        assert_eq!(level_of(503), 1);
        assert_eq!(level_of(504), 2);
        assert_eq!(level_of(4031), 2);
        assert_eq!(level_of(4032), 3);
        assert_eq!(level_of(u128::MAX), LVL_DEPTH - 1);
    }
}
