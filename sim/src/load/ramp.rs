//! A rate that changes over the run: the open loop's pace for a diurnal
//! ramp (night to peak and back) or a step up at a deploy.
//!
//! A ramp is a list of points (simulated time, RPCs per second); between
//! two points the rate moves linearly, before the first it is the first's,
//! after the last the last's. The time to the next RPC is `1 / rate`, the
//! rate read at the send. All arithmetic is in integers (milli-RPCs per
//! second, nanoseconds), so a ramp paces the same on every machine.

use std::time::Duration;

/// One point of a [`Ramp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RampPoint {
    /// Simulated time since the run's start.
    pub at: Duration,
    /// RPCs per second at `at`, at least 1.
    pub rate: u32,
}

/// A piecewise-linear rate over simulated time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ramp {
    points: Vec<RampPoint>,
}

/// Why a list of points is not a ramp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RampError {
    #[error("a ramp needs at least one point")]
    Empty,
    #[error("a ramp has at most {max} points, this one {found}")]
    TooManyPoints { max: usize, found: usize },
    #[error("point {index}'s rate is 0; a rate is at least 1 RPC per second")]
    ZeroRate { index: usize },
    #[error("point {index} is not after point {}: times must increase", index - 1)]
    NotIncreasing { index: usize },
}

impl Ramp {
    /// Most points in a ramp: a day in 5-minute steps fits many times over.
    pub const MAX_POINTS: usize = 1024;

    /// A ramp through `points`, which must be in increasing time order,
    /// each with a rate of at least 1.
    pub fn new(points: Vec<RampPoint>) -> Result<Self, RampError> {
        if points.is_empty() {
            return Err(RampError::Empty);
        }
        if points.len() > Self::MAX_POINTS {
            return Err(RampError::TooManyPoints {
                max: Self::MAX_POINTS,
                found: points.len(),
            });
        }
        if let Some(index) = points.iter().position(|p| p.rate == 0) {
            return Err(RampError::ZeroRate { index });
        }
        if let Some(index) = (1..points.len()).find(|&i| points[i].at <= points[i - 1].at) {
            return Err(RampError::NotIncreasing { index });
        }
        Ok(Self { points })
    }

    /// The points, in time order.
    pub fn points(&self) -> &[RampPoint] {
        &self.points
    }

    /// The rate at `t`, in thousandths of an RPC per second.
    pub fn millirate_at(&self, t: Duration) -> u64 {
        let milli = |p: &RampPoint| u64::from(p.rate) * 1000;
        // The first point after `t`; the one before it, if any, starts the
        // segment `t` is in.
        let after = self.points.partition_point(|p| p.at <= t);
        match (
            after.checked_sub(1).map(|i| &self.points[i]),
            self.points.get(after),
        ) {
            (None, Some(first)) => milli(first),
            (Some(last), None) => milli(last),
            (Some(a), Some(b)) => {
                let span = (b.at - a.at).as_nanos();
                let into = (t - a.at).as_nanos();
                let (ra, rb) = (u128::from(milli(a)), u128::from(milli(b)));
                // ra + (rb - ra) * into / span, in either direction.
                let rate = if rb >= ra {
                    ra + (rb - ra) * into / span
                } else {
                    ra - (ra - rb) * into / span
                };
                u64::try_from(rate).expect("between two u32 rates")
            }
            (None, None) => unreachable!("a ramp has at least one point"),
        }
    }

    /// The time from an RPC sent at `t` to the next: `1 / rate(t)`.
    pub fn interval_at(&self, t: Duration) -> Duration {
        let millirate = self.millirate_at(t);
        debug_assert!(millirate >= 1000, "rates are at least 1 per second");
        Duration::from_nanos(1_000_000_000_000 / millirate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn ramp(points: &[(u64, u32)]) -> Ramp {
        Ramp::new(
            points
                .iter()
                .map(|&(at, rate)| RampPoint { at: secs(at), rate })
                .collect(),
        )
        .expect("a valid ramp")
    }

    #[test]
    fn the_rate_is_flat_outside_the_points_and_linear_between() {
        let r = ramp(&[(10, 2), (20, 12), (30, 2)]);
        assert_eq!(r.millirate_at(secs(0)), 2000);
        assert_eq!(r.millirate_at(secs(10)), 2000);
        assert_eq!(r.millirate_at(secs(15)), 7000);
        assert_eq!(r.millirate_at(secs(20)), 12000);
        assert_eq!(r.millirate_at(Duration::from_millis(27_500)), 4500);
        assert_eq!(r.millirate_at(secs(30)), 2000);
        assert_eq!(r.millirate_at(secs(3600)), 2000);
    }

    #[test]
    fn the_interval_is_one_over_the_rate() {
        let r = ramp(&[(0, 1), (100, 101)]);
        assert_eq!(r.interval_at(secs(0)), secs(1));
        assert_eq!(
            r.interval_at(secs(50)),
            Duration::from_nanos(1_000_000_000 / 51)
        );
        assert_eq!(
            r.interval_at(secs(100)),
            Duration::from_nanos(1_000_000_000 / 101)
        );
    }

    #[test]
    fn a_single_point_is_a_constant_rate() {
        let r = ramp(&[(5, 4)]);
        assert_eq!(r.interval_at(secs(0)), Duration::from_millis(250));
        assert_eq!(r.interval_at(secs(1000)), Duration::from_millis(250));
    }

    #[test]
    fn bad_points_are_named() {
        let point = |at, rate| RampPoint { at: secs(at), rate };
        assert_eq!(Ramp::new(vec![]), Err(RampError::Empty));
        assert_eq!(
            Ramp::new(vec![point(0, 1), point(1, 0)]),
            Err(RampError::ZeroRate { index: 1 })
        );
        assert_eq!(
            Ramp::new(vec![point(0, 1), point(5, 2), point(5, 3)]),
            Err(RampError::NotIncreasing { index: 2 })
        );
        assert_eq!(
            Ramp::new(vec![point(0, 1); Ramp::MAX_POINTS + 1]),
            Err(RampError::TooManyPoints {
                max: Ramp::MAX_POINTS,
                found: Ramp::MAX_POINTS + 1
            })
        );
    }
}
