//! The sliding windows that closed-state rates are computed over.
//!
//! Both keep running totals so that judging the rates after each call is
//! O(1) (amortised), and both are bounded: the count window by its size, the
//! time window by aggregating calls into [`TIME_BUCKETS`] buckets.

use std::collections::VecDeque;
use std::ops::{AddAssign, SubAssign};
use std::time::Duration;

use tokio::time::Instant;

use super::config::SlidingWindow;

/// How many buckets a time window is cut into.
pub(super) const TIME_BUCKETS: u32 = 10;

/// One finished call, as the window sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Sample {
    pub(super) failed: bool,
    pub(super) slow: bool,
}

/// Counts over a set of calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Totals {
    pub(super) calls: u32,
    pub(super) failures: u32,
    pub(super) slow: u32,
}

impl From<Sample> for Totals {
    fn from(s: Sample) -> Self {
        Totals {
            calls: 1,
            failures: u32::from(s.failed),
            slow: u32::from(s.slow),
        }
    }
}

impl AddAssign for Totals {
    fn add_assign(&mut self, other: Totals) {
        self.calls += other.calls;
        self.failures += other.failures;
        self.slow += other.slow;
    }
}

impl SubAssign for Totals {
    fn sub_assign(&mut self, other: Totals) {
        self.calls -= other.calls;
        self.failures -= other.failures;
        self.slow -= other.slow;
    }
}

impl Totals {
    fn debug_check(&self) {
        debug_assert!(self.failures <= self.calls && self.slow <= self.calls);
    }
}

/// The recent calls of a closed breaker.
#[derive(Debug, Clone)]
pub(super) enum Window {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Window {
    /// An empty window of the configured kind.
    pub(super) fn new(kind: SlidingWindow) -> Self {
        match kind {
            SlidingWindow::Count(size) => Window::Count(CountWindow::new(size)),
            SlidingWindow::Time(span) => Window::Time(TimeWindow::new(span)),
        }
    }

    /// Adds a call that finished at `now`.
    pub(super) fn record(&mut self, now: Instant, sample: Sample) {
        match self {
            Window::Count(w) => w.record(sample),
            Window::Time(w) => w.record(now, sample),
        }
    }

    /// Totals over the calls still inside the window at `now`.
    pub(super) fn totals(&mut self, now: Instant) -> Totals {
        let totals = match self {
            Window::Count(w) => w.totals,
            Window::Time(w) => w.totals(now),
        };
        totals.debug_check();
        totals
    }
}

/// The last `size` calls.
#[derive(Debug, Clone)]
pub(super) struct CountWindow {
    samples: VecDeque<Sample>,
    size: usize,
    totals: Totals,
}

impl CountWindow {
    fn new(size: u32) -> Self {
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        CountWindow {
            samples: VecDeque::new(),
            size,
            totals: Totals::default(),
        }
    }

    fn record(&mut self, sample: Sample) {
        if self.samples.len() == self.size
            && let Some(oldest) = self.samples.pop_front()
        {
            self.totals -= Totals::from(oldest);
        }
        self.samples.push_back(sample);
        self.totals += Totals::from(sample);
        debug_assert!(self.samples.len() <= self.size);
    }
}

/// Calls of the last `span`, in [`TIME_BUCKETS`] buckets of `span / TIME_BUCKETS`.
#[derive(Debug, Clone)]
pub(super) struct TimeWindow {
    bucket_width: Duration,
    /// Where bucket 0 starts: the first call's time, so an idle breaker
    /// needs no clock reading to be built.
    origin: Option<Instant>,
    /// `(bucket index, totals)`, oldest first, indexes strictly increasing.
    buckets: VecDeque<(u64, Totals)>,
    totals: Totals,
}

impl TimeWindow {
    fn new(span: Duration) -> Self {
        TimeWindow {
            bucket_width: span / TIME_BUCKETS,
            origin: None,
            buckets: VecDeque::new(),
            totals: Totals::default(),
        }
    }

    fn record(&mut self, now: Instant, sample: Sample) {
        let origin = *self.origin.get_or_insert(now);
        let index = self.bucket_index(origin, now);
        self.evict(index);
        match self.buckets.back_mut() {
            // A `now` older than the newest bucket (callers racing for a
            // lock) lands in the newest bucket rather than reopening an old one.
            Some((last, bucket)) if *last >= index => *bucket += Totals::from(sample),
            _ => self.buckets.push_back((index, Totals::from(sample))),
        }
        self.totals += Totals::from(sample);
        debug_assert!(self.buckets.len() <= TIME_BUCKETS as usize);
    }

    fn totals(&mut self, now: Instant) -> Totals {
        if let Some(origin) = self.origin {
            self.evict(self.bucket_index(origin, now));
        }
        self.totals
    }

    fn bucket_index(&self, origin: Instant, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(origin).as_nanos();
        let index = elapsed / self.bucket_width.as_nanos();
        u64::try_from(index).unwrap_or(u64::MAX)
    }

    /// Drops the buckets that fall out of a window whose newest bucket is `current`.
    fn evict(&mut self, current: u64) {
        while let Some(&(index, bucket)) = self.buckets.front() {
            if index + u64::from(TIME_BUCKETS) > current {
                break;
            }
            self.buckets.pop_front();
            self.totals -= bucket;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAIL: Sample = Sample {
        failed: true,
        slow: false,
    };
    const OK: Sample = Sample {
        failed: false,
        slow: false,
    };

    #[test]
    fn count_window_forgets_the_oldest_call() {
        let now = Instant::now();
        let mut w = Window::new(SlidingWindow::Count(2));
        w.record(now, FAIL);
        w.record(now, OK);
        w.record(now, OK);
        let t = w.totals(now);
        assert_eq!((t.calls, t.failures), (2, 0));
    }

    #[test]
    fn time_window_forgets_calls_older_than_its_span() {
        let t0 = Instant::now();
        let ms = Duration::from_millis(1);
        let mut w = Window::new(SlidingWindow::Time(100 * ms));
        w.record(t0, FAIL);
        w.record(t0 + 50 * ms, OK);
        assert_eq!(w.totals(t0 + 99 * ms).calls, 2);
        let t = w.totals(t0 + 100 * ms);
        assert_eq!((t.calls, t.failures), (1, 0));
        assert_eq!(w.totals(t0 + 150 * ms).calls, 0);
    }
}
