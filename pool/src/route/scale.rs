//! Scaling an endpoint's connections between `connections_per_endpoint`
//! and `max_connections_per_endpoint`.
//!
//! Each endpoint has its minimum of ordinary slots, always connected, and
//! up to `max - min` extra slots that sleep ("dormant") until the pool
//! needs room. An RPC that finds every ready connection at
//! `max_streams_per_connection` asks for growth: one dormant slot is woken
//! and dials. Only one extra connection is dialled at a time, pool-wide, so
//! a burst of waiting RPCs dials one connection, not one each; once it is
//! ready (or its dial failed) the next RPC that still finds no room asks
//! again. An extra connection that has had nothing in flight for
//! `scale_down_after` drains (`cause=scale_down`) and its slot sleeps again.

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::endpoint::EndpointId;

#[derive(Default)]
pub(crate) struct Scaling {
    /// By endpoint id; grows as endpoints are added.
    endpoints: Mutex<Vec<Growth>>,
}

#[derive(Default)]
struct Growth {
    /// Woken (one at a time) to dial an extra connection.
    wake: Arc<Notify>,
    /// Extra slots asleep.
    dormant: usize,
    /// An extra slot was woken and has not connected (or failed) yet.
    growing: bool,
}

impl Scaling {
    fn with<T>(&self, endpoint: EndpointId, f: impl FnOnce(&mut Growth) -> T) -> T {
        let mut endpoints = self.endpoints.lock().expect("scaling lock poisoned");
        let at = endpoint.0 as usize;
        if endpoints.len() <= at {
            endpoints.resize_with(at + 1, Growth::default);
        }
        f(&mut endpoints[at])
    }

    /// An extra slot of `endpoint` goes to sleep; it waits on the returned
    /// `Notify` (a wake-up sent before it waits is kept as a permit).
    pub(crate) fn sleep(&self, endpoint: EndpointId) -> Arc<Notify> {
        self.with(endpoint, |g| {
            g.dormant += 1;
            Arc::clone(&g.wake)
        })
    }

    /// A sleeping extra slot left: woken to dial, or its endpoint removed.
    pub(crate) fn left(&self, endpoint: EndpointId) {
        self.with(endpoint, |g| {
            debug_assert!(g.dormant > 0);
            g.dormant = g.dormant.saturating_sub(1);
        });
    }

    /// The extra connection being dialled for `endpoint` is ready, or
    /// failed: another may be asked for.
    pub(crate) fn grown(&self, endpoint: EndpointId) {
        self.with(endpoint, |g| g.growing = false);
    }

    /// Every ready connection is full: wakes one extra slot of the first
    /// endpoint (by id, among `live` ones not `out` of rotation) that may
    /// grow, unless one is already dialling: a connection to an ejected or
    /// unhealthy endpoint would take no RPCs. Returns whether a connection
    /// is on its way.
    pub(crate) fn grow(&self, out: &[EndpointId], live: impl Fn(EndpointId) -> bool) -> bool {
        let mut endpoints = self.endpoints.lock().expect("scaling lock poisoned");
        if endpoints.iter().any(|g| g.growing) {
            return true;
        }
        let candidate = endpoints.iter_mut().enumerate().find(|(id, g)| {
            let id = EndpointId(*id as u32);
            g.dormant > 0 && !out.contains(&id) && live(id)
        });
        match candidate {
            Some((_, g)) => {
                g.growing = true;
                g.wake.notify_one();
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_one_slot_at_a_time_and_only_where_one_sleeps() {
        let scaling = Scaling::default();
        assert!(!scaling.grow(&[], |_| true), "nothing asleep: cannot grow");
        let _wake = scaling.sleep(EndpointId(1));
        assert!(
            !scaling.grow(&[], |id| id != EndpointId(1)),
            "removed endpoint"
        );
        assert!(scaling.grow(&[], |_| true));
        scaling.left(EndpointId(1));
        assert!(scaling.grow(&[], |_| true), "still dialling the first");
        scaling.grown(EndpointId(1));
        assert!(!scaling.grow(&[], |_| true), "no sleeper left");
    }

    #[test]
    fn grows_the_first_endpoint_in_rotation_only() {
        use futures_util::FutureExt;

        // Endpoint 0 is ejected: its extra connection would take no RPC,
        // so endpoint 1's sleeper is woken instead, and with only endpoint
        // 0 asleep nothing grows.
        let scaling = Scaling::default();
        let zero = scaling.sleep(EndpointId(0));
        let one = scaling.sleep(EndpointId(1));
        assert!(scaling.grow(&[EndpointId(0)], |_| true));
        // `notify_one` with no waiter stores a permit: the first poll of
        // the woken slot's wait is ready, the other's is not.
        let woken = |wake: &Notify| wake.notified().now_or_never().is_some();
        assert!(woken(&one) && !woken(&zero));
        scaling.left(EndpointId(1));
        scaling.grown(EndpointId(1));
        assert!(!scaling.grow(&[EndpointId(0)], |_| true), "only 0 asleep");
    }
}
