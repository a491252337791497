//! Stream capacity: the pool never puts more RPCs on a connection than it
//! may carry (`max_streams_per_connection`, or the server's
//! SETTINGS_MAX_CONCURRENT_STREAMS if lower).
//!
//! The trace does not say when an RPC was routed (it may wait in the pool
//! for room), so this is checked on live state instead: the world samples
//! `Pool::loads` after every simulation step ([`CapacityWatch::observe`]).
//!
//! A capacity can legitimately fall under the load: a server may lower
//! its limit after the pool filled a connection. What must never
//! happen is the load *growing* past the capacity that held when the RPCs
//! were routed. A sample sees the end of a step, not its inside: a
//! connection that became ready, took RPCs and read the server's SETTINGS
//! within one step shows them all at once. So growth since a sample where
//! the server's limit was not yet known (or since before the connection
//! was first seen) is judged against the provisional capacity.

use std::{collections::BTreeMap, time::Duration};

use squall_pool::{ConnId, ConnLoad, PROVISIONAL_PEER_LIMIT};

use crate::check::Invariant;

/// What the samples of one run showed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapacityWatch {
    /// The pool's `max_streams_per_connection`.
    cap: Option<usize>,
    /// Steps sampled.
    pub samples: u64,
    /// The most RPCs seen in flight on one connection, with its capacity
    /// then (`None`: unlimited).
    pub peak: Option<(usize, Option<usize>)>,
    /// The first sample where a connection had grown past the capacity it
    /// had when the RPCs were routed.
    pub violation: Option<String>,
    /// Each connection at the previous sample.
    previous: BTreeMap<ConnId, ConnLoad>,
}

impl CapacityWatch {
    /// A watch over a pool configured with `max_streams_per_connection`.
    pub fn new(cap: Option<usize>) -> Self {
        Self {
            cap,
            ..Self::default()
        }
    }

    /// Looks at the pool's connections as they are at `now`, after `steps`
    /// ticks in which nothing ran but the last (an idle stretch skipped in
    /// one step): the loads were the same after each, so one look counts
    /// for all of them.
    pub fn observe_steps(&mut self, now: Duration, loads: &[ConnLoad], steps: u64) {
        debug_assert!(steps >= 1);
        self.samples += steps - 1;
        self.observe(now, loads);
    }

    /// Looks at the pool's connections as they are at `now`.
    pub fn observe(&mut self, now: Duration, loads: &[ConnLoad]) {
        self.samples += 1;
        let provisional = self.cap.map_or(PROVISIONAL_PEER_LIMIT, |cap| {
            cap.min(PROVISIONAL_PEER_LIMIT)
        });
        for load in loads {
            let before = self.previous.insert(load.conn, *load);
            if self.peak.is_none_or(|(most, _)| load.in_flight > most) {
                self.peak = Some((load.in_flight, load.capacity));
            }
            let grew_from = before.map_or(0, |b| b.in_flight);
            let allowed = match before {
                Some(b) if b.settled => load.capacity,
                // Routed, at least partly, before the server said its limit.
                _ => Some(load.capacity.map_or(provisional, |c| c.max(provisional))),
            };
            let over = allowed.is_some_and(|allowed| load.in_flight > allowed);
            if over && load.in_flight > grew_from && self.violation.is_none() {
                self.violation = Some(format!(
                    "at {} ms conn {} went from {grew_from} to {} RPCs in flight, over its capacity of {}",
                    now.as_millis(),
                    load.conn.0,
                    load.in_flight,
                    allowed.unwrap_or(usize::MAX),
                ));
            }
        }
        // Forget connections that are gone, so the map stays bounded.
        if self.previous.len() > loads.len() {
            self.previous
                .retain(|conn, _| loads.iter().any(|load| load.conn == *conn));
        }
    }
}

/// Holds if no RPC was ever routed onto a connection at its capacity.
pub fn streams_within_capacity(watch: &CapacityWatch) -> Invariant {
    let name = "streams_within_capacity";
    match &watch.violation {
        Some(violation) => Invariant {
            name,
            ok: false,
            detail: violation.clone(),
        },
        None => Invariant {
            name,
            ok: true,
            detail: match watch.peak {
                Some((most, capacity)) => format!(
                    "{} steps sampled; peak {most} in flight on one connection (capacity {})",
                    watch.samples,
                    capacity.map_or("unlimited".to_owned(), |c| c.to_string())
                ),
                None => format!("{} steps sampled; no connection", watch.samples),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(conn: u64, in_flight: usize, capacity: usize, settled: bool) -> ConnLoad {
        ConnLoad {
            conn: ConnId(conn),
            in_flight,
            capacity: Some(capacity),
            settled,
        }
    }

    #[test]
    fn a_capacity_falling_under_the_load_is_not_a_violation_but_growth_over_it_is() {
        let ms = Duration::from_millis;
        let mut watch = CapacityWatch::new(None);
        // Six routed under the server's limit of 8; it then lowers it to 2.
        watch.observe(ms(1), &[load(1, 6, 8, true)]);
        watch.observe(ms(2), &[load(1, 6, 2, true)]);
        watch.observe(ms(3), &[load(1, 2, 2, true)]);
        assert!(streams_within_capacity(&watch).ok);
        // One more routed onto the full connection.
        watch.observe(ms(4), &[load(1, 3, 2, true)]);
        let verdict = streams_within_capacity(&watch);
        assert!(!verdict.ok);
        assert_eq!(
            verdict.detail,
            "at 4 ms conn 1 went from 2 to 3 RPCs in flight, over its capacity of 2"
        );
    }

    #[test]
    fn growth_within_one_step_is_judged_by_the_provisional_capacity() {
        let ms = Duration::from_millis;
        // Ready with one RPC routed, then the server's limit of 8 read and
        // more routed, in one step: judged by the larger of the two.
        let mut watch = CapacityWatch::new(None);
        watch.observe(ms(1), &[load(1, 8, 8, true)]);
        assert!(streams_within_capacity(&watch).ok);
        // The server says 2 but the pool routed a third: over both.
        let mut over = CapacityWatch::new(None);
        over.observe(ms(1), &[load(1, 3, 2, true)]);
        assert_eq!(
            streams_within_capacity(&over).detail,
            "at 1 ms conn 1 went from 0 to 3 RPCs in flight, over its capacity of 2"
        );
        // Before the server's SETTINGS a connection carries one stream.
        let mut unsettled = CapacityWatch::new(None);
        unsettled.observe(ms(1), &[load(1, 2, PROVISIONAL_PEER_LIMIT, false)]);
        assert_eq!(
            streams_within_capacity(&unsettled).detail,
            "at 1 ms conn 1 went from 0 to 2 RPCs in flight, over its capacity of 1"
        );
    }

    #[test]
    fn the_peak_is_reported_and_gone_connections_forgotten() {
        let mut watch = CapacityWatch::new(None);
        watch.observe(Duration::ZERO, &[load(1, 3, 4, true), load(2, 1, 4, true)]);
        watch.observe(Duration::from_millis(1), &[load(2, 0, 4, true)]);
        assert_eq!(watch.previous.len(), 1);
        let verdict = streams_within_capacity(&watch);
        assert!(verdict.ok);
        assert_eq!(
            verdict.detail,
            "2 steps sampled; peak 3 in flight on one connection (capacity 4)"
        );
    }
}
