//! Passive outlier ejection: endpoints whose calls keep failing are taken
//! out of rotation for a growing time, never more than a set share at once
//! (Envoy's outlier detection).
//!
//! `detector.rs` is the synchronous core. Here: the pool's handle on it
//! (`Outliers`), the per-call record that feeds it (`OutlierCall`), and
//! the task that returns endpoints to rotation when their time is up, so
//! the `outlier_returned` event is stamped with the exact time. The task
//! holds only the detector, the shutdown signal and `ReadyChanges`.

mod config;
mod detector;
mod window;

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::{
    sync::{Notify, watch},
    time::Instant,
};

pub use config::{FailureRateConfig, OutlierConfig};
pub use detector::{EjectReason, OutlierChange, OutlierDetector};

use crate::{
    endpoint::EndpointId,
    event::{EventKind, Events, PoolEvent},
    policy::breaker::CallResult,
    wait::{self, ReadyChanges},
};

/// The pool's outlier detector, its events, and the returner's alarm.
pub(crate) struct Outliers {
    detector: Mutex<OutlierDetector>,
    events: Events,
    /// Rung when an ejection may have moved the next wake-up earlier.
    rearm: Notify,
}

impl Outliers {
    pub(crate) fn new(config: OutlierConfig, endpoints: usize, events: Events) -> Self {
        debug_assert!(config.validate().is_ok());
        Self {
            detector: Mutex::new(OutlierDetector::new(config, endpoints)),
            events,
            rearm: Notify::new(),
        }
    }

    /// Endpoints out of rotation at `now`, appended to `out`.
    pub(crate) fn ejected(&self, now: Instant, out: &mut Vec<EndpointId>) {
        let detector = self.lock();
        for index in 0..detector.len() {
            if detector.is_ejected(index, now) {
                out.push(EndpointId(index as u32));
            }
        }
    }

    /// Whether `endpoint` is out of rotation at `now`.
    pub(crate) fn is_ejected(&self, endpoint: EndpointId, now: Instant) -> bool {
        let detector = self.lock();
        // An endpoint being added may be seen before the detector has it.
        (endpoint.0 as usize) < detector.len() && detector.is_ejected(endpoint.0 as usize, now)
    }

    /// Watches an endpoint added at runtime.
    pub(crate) fn add_endpoint(&self, endpoint: EndpointId) {
        self.lock().grow_to(endpoint.0 as usize + 1);
    }

    /// A record for one call routed to `endpoint`.
    pub(crate) fn call(self: &Arc<Self>, endpoint: EndpointId) -> OutlierCall {
        OutlierCall {
            outliers: Arc::clone(self),
            endpoint,
        }
    }

    fn record(&self, endpoint: EndpointId, result: CallResult) {
        let now = Instant::now();
        let mut detector = self.lock();
        let outcome = detector.config().failure_predicate.classify(result);
        let change = detector.record(now, endpoint.0 as usize, outcome);
        drop(detector);
        if let Some(change) = change {
            self.publish(now, endpoint, change);
            self.rearm.notify_one();
        }
    }

    fn publish(&self, at: Instant, endpoint: EndpointId, change: OutlierChange) {
        self.events.emit(PoolEvent {
            at,
            kind: EventKind::Outlier { endpoint, change },
        });
    }

    fn lock(&self) -> MutexGuard<'_, OutlierDetector> {
        self.detector.lock().expect("outlier lock poisoned")
    }
}

/// One call's outcome, on its way to the detector. Dropped without an
/// outcome (the caller gave up), it records nothing.
pub(crate) struct OutlierCall {
    outliers: Arc<Outliers>,
    endpoint: EndpointId,
}

impl OutlierCall {
    pub(crate) fn finish(self, result: CallResult) {
        self.outliers.record(self.endpoint, result);
    }
}

/// Returns ejected endpoints to rotation at the end of their time, until
/// the pool shuts down.
pub(crate) async fn return_ejected(
    outliers: Arc<Outliers>,
    mut shutdown: watch::Receiver<bool>,
    ready_changes: ReadyChanges,
) {
    loop {
        let next = outliers.lock().next_wakeup();
        tokio::select! {
            biased;
            () = wait::for_shutdown(&mut shutdown) => return,
            () = outliers.rearm.notified() => {}
            () = wait::until_some(next) => {
                let now = Instant::now();
                let returned = outliers.lock().poll(now);
                let any = !returned.is_empty();
                for (index, change) in returned {
                    outliers.publish(now, EndpointId(index as u32), change);
                }
                if any {
                    // Wait-for-ready calls that found every endpoint
                    // ejected look again.
                    ready_changes.bump();
                }
            }
        }
    }
}
