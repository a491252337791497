//! Latency and outcome counting for a load run, shared by every RPC loop.
//!
//! One HDR histogram per loop would cost ~70 KiB each (1 µs to 60 s at three
//! significant digits), 70 MiB at 1024 loops, which would swamp the peak
//! RSS the run reports. Loops share a few shards instead, each behind a
//! mutex held only to add one value.

use std::{collections::BTreeMap, sync::Mutex, time::Duration};

use hdrhistogram::Histogram;
use tonic::Code;

use super::report::Latency;

/// Shards: enough that two cores rarely wait on one lock.
const SHARDS: usize = 16;

/// Longest latency recorded exactly; longer ones count as this.
const MAX_LATENCY_US: u64 = 60_000_000;

struct Shard {
    latency_us: Histogram<u64>,
    ok: u64,
    errors: BTreeMap<&'static str, u64>,
}

/// What the loops record.
pub(crate) struct Stats {
    shards: Vec<Mutex<Shard>>,
}

impl Stats {
    pub(crate) fn new() -> Self {
        let shard = || {
            Mutex::new(Shard {
                latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                    .expect("static histogram bounds are valid"),
                ok: 0,
                errors: BTreeMap::new(),
            })
        };
        Self {
            shards: (0..SHARDS).map(|_| shard()).collect(),
        }
    }

    /// Records one RPC of loop `worker`: how long it took and how it ended.
    pub(crate) fn record(&self, worker: usize, latency: Duration, outcome: Result<(), Code>) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let mut shard = self.shards[worker % SHARDS]
            .lock()
            .expect("stats lock poisoned");
        shard.latency_us.saturating_record(us.max(1));
        match outcome {
            Ok(()) => shard.ok += 1,
            Err(code) => *shard.errors.entry(code_name(code)).or_default() += 1,
        }
    }

    /// Successful RPCs, latency percentiles, and failures by code.
    pub(crate) fn finish(self) -> (u64, Latency, BTreeMap<String, u64>) {
        let mut all = Histogram::<u64>::new_with_bounds(1, MAX_LATENCY_US, 3)
            .expect("static histogram bounds are valid");
        let mut ok = 0;
        let mut errors = BTreeMap::new();
        for shard in self.shards {
            let shard = shard.into_inner().expect("stats lock poisoned");
            all.add(&shard.latency_us)
                .expect("shards share the same bounds");
            ok += shard.ok;
            for (code, n) in shard.errors {
                *errors.entry(code.to_owned()).or_default() += n;
            }
        }
        let ms = |us: u64| us as f64 / 1000.0;
        let latency = if all.is_empty() {
            Latency::default()
        } else {
            Latency {
                p50: ms(all.value_at_quantile(0.50)),
                p90: ms(all.value_at_quantile(0.90)),
                p99: ms(all.value_at_quantile(0.99)),
                p999: ms(all.value_at_quantile(0.999)),
                max: ms(all.max()),
            }
        };
        (ok, latency, errors)
    }
}

/// A status code's name as the gRPC spec writes it.
pub(crate) fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_shards_into_percentiles_and_counts() {
        let stats = Stats::new();
        // 100 RPCs of 1..=100 ms spread over loops that land in different shards.
        for i in 1..=100u64 {
            stats.record(i as usize, Duration::from_millis(i), Ok(()));
        }
        stats.record(3, Duration::from_millis(1), Err(Code::Unavailable));
        stats.record(40, Duration::from_millis(1), Err(Code::Unavailable));
        stats.record(5, Duration::from_millis(1), Err(Code::DeadlineExceeded));
        let (ok, latency, errors) = stats.finish();
        assert_eq!(ok, 100);
        assert_eq!(
            errors,
            BTreeMap::from([
                ("DEADLINE_EXCEEDED".to_owned(), 1),
                ("UNAVAILABLE".to_owned(), 2)
            ])
        );
        // Three significant digits: within 0.1 % of the exact value.
        assert!((latency.max - 100.0).abs() < 0.1, "{latency:?}");
        // Rank 93 of 103: four 1 ms values come first, so 90 ms.
        assert!((latency.p90 - 90.0).abs() < 0.1, "{latency:?}");
    }

    #[test]
    fn no_rpcs_give_zero_latency() {
        let (ok, latency, errors) = Stats::new().finish();
        assert_eq!((ok, latency, errors.len()), (0, Latency::default(), 0));
    }
}
