//! The failure-rate window of one endpoint: calls and failures of the last
//! `window`, in ten buckets so memory stays bounded at any call rate.

use std::{collections::VecDeque, time::Duration};

use tokio::time::Instant;

/// How many buckets a window is cut into.
const BUCKETS: u32 = 10;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// When the bucket's first call was recorded; it takes calls until
    /// `start + window / 10` and is forgotten at `start + window`.
    start: Instant,
    calls: u32,
    failures: u32,
}

/// Calls and failures over a sliding time window.
#[derive(Debug, Clone)]
pub(super) struct RateWindow {
    window: Duration,
    buckets: VecDeque<Bucket>,
    calls: u32,
    failures: u32,
}

impl RateWindow {
    pub(super) fn new(window: Duration) -> Self {
        Self {
            window,
            buckets: VecDeque::with_capacity(BUCKETS as usize + 1),
            calls: 0,
            failures: 0,
        }
    }

    /// Records one call at `now`; returns (failures, calls) in the window.
    pub(super) fn record(&mut self, now: Instant, failed: bool) -> (u32, u32) {
        self.expire(now);
        let width = self.window / BUCKETS;
        match self.buckets.back_mut() {
            Some(last) if now < last.start + width => {
                last.calls += 1;
                last.failures += u32::from(failed);
            }
            _ => self.buckets.push_back(Bucket {
                start: now,
                calls: 1,
                failures: u32::from(failed),
            }),
        }
        self.calls += 1;
        self.failures += u32::from(failed);
        debug_assert!(self.buckets.len() <= BUCKETS as usize + 1);
        (self.failures, self.calls)
    }

    /// Forgets every call.
    pub(super) fn clear(&mut self) {
        self.buckets.clear();
        self.calls = 0;
        self.failures = 0;
    }

    fn expire(&mut self, now: Instant) {
        while let Some(first) = self.buckets.front()
            && first.start + self.window <= now
        {
            self.calls -= first.calls;
            self.failures -= first.failures;
            self.buckets.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn calls_are_forgotten_after_the_window() {
        let start = Instant::now();
        let mut w = RateWindow::new(Duration::from_secs(1));
        assert_eq!(w.record(start, true), (1, 1));
        assert_eq!(w.record(start + Duration::from_millis(50), false), (1, 2));
        assert_eq!(w.record(start + Duration::from_millis(500), true), (2, 3));
        // The first bucket (0 and 50 ms) goes at 1 s; the 500 ms one stays.
        assert_eq!(w.record(start + Duration::from_secs(1), false), (1, 2));
        w.clear();
        assert_eq!(w.record(start + Duration::from_secs(1), true), (1, 1));
    }
}
