//! Choosing a ready connection: for one RPC, for a retry (elsewhere), for
//! a leased RPC (pinned), for a new lease.
//!
//! The rules, each tested below with a fake sender:
//! - a connection at its capacity (`InFlight::has_room`) is never chosen,
//!   and the RPC is counted on the chosen one before the caller's lock is
//!   released, so a capacity cannot be overshot;
//! - connections the RPC already tried (`avoid`) are skipped;
//! - endpoints out of rotation (`out`: ejected, failing health checks) are
//!   left out from the start;
//! - among the rest, the less loaded of two random ones (`p2c`); if its
//!   endpoint does not admit the call (`admit`: the breaker), that endpoint
//!   is left out and the choice made again, at most once per endpoint;
//! - when nothing is left, the error says why: only full connections
//!   (wait for room), refused by breakers, or out of rotation.
//!
//! Every random draw is made through the `rng` passed in, in the order the
//! choices are made, so a seed gives the same routes.

use rand::Rng;

use super::{
    error::RouteError,
    p2c,
    ready::{ReadyConn, ReadySet},
};
use crate::{
    endpoint::EndpointId,
    ids::{ConnId, RoutedTo},
    inflight::InFlightGuard,
};

/// A connection chosen for one RPC, the RPC already counted on it.
pub(crate) struct Picked<S, A> {
    pub(crate) conn: ConnId,
    pub(crate) endpoint: EndpointId,
    pub(crate) sender: S,
    pub(crate) guard: InFlightGuard,
    /// What `admit` returned for the chosen endpoint.
    pub(crate) admission: A,
}

impl<S: Clone> ReadySet<S> {
    /// Chooses a connection for one RPC and counts the RPC on it.
    ///
    /// Skips connections in `avoid` and endpoints in `out`. `admit` is
    /// asked about the chosen connection's endpoint: `None` refuses it
    /// (the choice is made again among the other endpoints), `Some` is
    /// handed back in [`Picked::admission`].
    pub(crate) fn pick<A>(
        &self,
        avoid: &[ConnId],
        out: Vec<EndpointId>,
        rng: &mut impl Rng,
        mut admit: impl FnMut(EndpointId) -> Option<A>,
    ) -> Result<Picked<S, A>, RouteError> {
        let ready = &self.conns;
        let has_room = |c: &ReadyConn<S>| c.in_flight.has_room();
        if !ready
            .iter()
            .any(|c| !avoid.contains(&c.conn) && has_room(c))
        {
            return Err(RouteError::NoReadyConnection);
        }
        let all_have_room = ready.iter().all(has_room);
        // Endpoints out of rotation are left out from the start; `admit`
        // may refuse more below.
        let mut refused = out;
        let excluded = refused.len();
        loop {
            let chosen = if avoid.is_empty() && refused.is_empty() && all_have_room {
                // The usual case, every ready connection a candidate: no
                // list to build (an allocation per RPC). Same draws as below.
                p2c::two_choices(ready.len(), |i| ready[i].in_flight.load(), rng)
                    .map(|at| &ready[at])
            } else {
                let candidates: Vec<&ReadyConn<S>> = ready
                    .iter()
                    .filter(|c| {
                        !avoid.contains(&c.conn) && !refused.contains(&c.endpoint) && has_room(c)
                    })
                    .collect();
                p2c::two_choices(candidates.len(), |i| candidates[i].in_flight.load(), rng)
                    .map(|at| candidates[at])
            };
            let Some(chosen) = chosen else {
                // A connection left that is neither tried nor refused is only
                // full (at its capacity): the caller may wait for room.
                let full = ready
                    .iter()
                    .any(|c| !avoid.contains(&c.conn) && !refused.contains(&c.endpoint));
                return Err(if full {
                    RouteError::NoReadyConnection
                } else if refused.len() > excluded {
                    RouteError::BreakerOpen
                } else {
                    RouteError::NoHealthyEndpoint
                });
            };
            let Some(admission) = admit(chosen.endpoint) else {
                debug_assert!(!refused.contains(&chosen.endpoint));
                refused.push(chosen.endpoint);
                continue;
            };
            // (Not `has_room`: a server's SETTINGS may lower the capacity
            // under us, on its connection's task.)
            debug_assert!(!avoid.contains(&chosen.conn) && !refused.contains(&chosen.endpoint));
            return Ok(Picked {
                conn: chosen.conn,
                endpoint: chosen.endpoint,
                sender: chosen.sender.clone(),
                guard: chosen.in_flight.acquire(),
                admission,
            });
        }
    }

    /// Chooses a connection for a retry of an RPC that already went to
    /// `tried`: preferably on another endpoint, else on another connection,
    /// else any ready connection (as [`pick`](Self::pick) each time).
    pub(crate) fn pick_elsewhere<A>(
        &self,
        tried: &[RoutedTo],
        out: Vec<EndpointId>,
        rng: &mut impl Rng,
        mut admit: impl FnMut(EndpointId) -> Option<A>,
    ) -> Result<Picked<S, A>, RouteError> {
        if let Ok(picked) = self.pick_other_endpoint(tried, out.clone(), rng, &mut admit) {
            return Ok(picked);
        }
        let tried_conns: Vec<ConnId> = tried.iter().map(|t| t.conn).collect();
        if let Ok(picked) = self.pick(&tried_conns, out.clone(), rng, &mut admit) {
            return Ok(picked);
        }
        self.pick(&[], out, rng, &mut admit)
    }

    /// Chooses a connection for a hedge of an RPC whose copies went to
    /// `tried`: on an endpoint none of them used, or none at all (a copy
    /// on a server that already has one is no hedge against that server).
    pub(crate) fn pick_other_endpoint<A>(
        &self,
        tried: &[RoutedTo],
        out: Vec<EndpointId>,
        rng: &mut impl Rng,
        admit: impl FnMut(EndpointId) -> Option<A>,
    ) -> Result<Picked<S, A>, RouteError> {
        let on_tried_endpoints: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|c| tried.iter().any(|t| t.endpoint == c.endpoint))
            .map(|c| c.conn)
            .collect();
        self.pick(&on_tried_endpoints, out, rng, admit)
    }

    /// Routes one RPC to the leased connection `conn` of `endpoint`, if it
    /// is still ready and `admit` admits the call.
    /// `Ok(None)`: the connection is at its capacity, and the RPC may wait
    /// for room.
    pub(crate) fn pinned<A>(
        &self,
        conn: ConnId,
        endpoint: EndpointId,
        admit: impl FnOnce(EndpointId) -> Option<A>,
    ) -> Result<Option<Picked<S, A>>, RouteError> {
        let Some(chosen) = self.get(conn) else {
            return Err(RouteError::LeaseLost { conn, endpoint });
        };
        debug_assert_eq!(chosen.endpoint, endpoint);
        if !chosen.in_flight.has_room() {
            return Ok(None);
        }
        let admission = admit(endpoint).ok_or(RouteError::BreakerOpen)?;
        Ok(Some(Picked {
            conn,
            endpoint,
            sender: chosen.sender.clone(),
            guard: chosen.in_flight.acquire(),
            admission,
        }))
    }

    /// A ready connection for a new lease: the less loaded of two (full
    /// ones included: a lease waits for room on its connection).
    pub(crate) fn choose_for_lease(&self, rng: &mut impl Rng) -> Option<(ConnId, EndpointId)> {
        let ready = &self.conns;
        let at = p2c::two_choices(ready.len(), |i| ready[i].in_flight.load(), rng)?;
        Some((ready[at].conn, ready[at].endpoint))
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::super::fake::{Fake, conn, load, rng, set};
    use super::*;

    /// Admits every endpoint, as a pool without breakers does.
    fn anyone(_: EndpointId) -> Option<()> {
        Some(())
    }

    fn picked<A>(result: Result<Picked<Fake, A>, RouteError>) -> u64 {
        let picked = result.expect("a connection");
        assert_eq!(picked.sender, Fake(picked.conn), "the chosen one's sender");
        picked.conn.0
    }

    #[test]
    fn the_lighter_of_two_and_the_rpc_counted_on_it() {
        // Two connections: p2c draws both, so the lighter always wins,
        // and the guard holds one more RPC on it until dropped.
        let ready = set(&[(1, 0), (2, 0)]);
        let _busy = load(&ready, 1, 3);
        let mut rng = rng(1);
        let p = ready.pick(&[], Vec::new(), &mut rng, anyone).unwrap();
        assert_eq!(p.conn, ConnId(2));
        assert_eq!(ready.get(ConnId(2)).unwrap().in_flight.load(), 1);
        drop(p);
        assert_eq!(ready.get(ConnId(2)).unwrap().in_flight.load(), 0);
    }

    #[test]
    fn the_quick_path_draws_as_the_filtered_one() {
        // With nothing avoided, refused or full the pick skips building a
        // candidate list. A list equal to the whole set (avoiding a
        // connection that is not there) must give the same picks for the
        // same seed, or a trace would change with the path taken.
        let ready = set(&[(1, 0), (2, 0), (3, 1), (4, 1), (5, 2)]);
        let (mut quick, mut listed) = (rng(7), rng(7));
        for _ in 0..200 {
            let a = picked(ready.pick(&[], Vec::new(), &mut quick, anyone));
            let b = picked(ready.pick(&[ConnId(99)], Vec::new(), &mut listed, anyone));
            assert_eq!(a, b);
        }
    }

    #[test]
    fn a_full_connection_is_never_chosen() {
        let mut ready = ReadySet::default();
        ready.insert(conn(1, 0, Some(1)));
        ready.insert(conn(2, 0, Some(1)));
        let mut rng = rng(3);
        let first = ready.pick(&[], Vec::new(), &mut rng, anyone).unwrap();
        let second = ready.pick(&[], Vec::new(), &mut rng, anyone).unwrap();
        assert_ne!(first.conn, second.conn, "the first is full");
        assert_eq!(
            ready.pick(&[], Vec::new(), &mut rng, anyone).err(),
            Some(RouteError::NoReadyConnection),
            "both full: wait for room"
        );
        drop(first);
        assert!(ready.pick(&[], Vec::new(), &mut rng, anyone).is_ok());
    }

    #[test]
    fn avoided_connections_are_skipped() {
        let ready = set(&[(1, 0), (2, 0), (3, 0)]);
        let mut rng = rng(5);
        for _ in 0..50 {
            let id = picked(ready.pick(&[ConnId(1), ConnId(3)], Vec::new(), &mut rng, anyone));
            assert_eq!(id, 2);
        }
        let all = [ConnId(1), ConnId(2), ConnId(3)];
        assert_eq!(
            ready.pick(&all, Vec::new(), &mut rng, anyone).err(),
            Some(RouteError::NoReadyConnection)
        );
        assert_eq!(
            ReadySet::<Fake>::default()
                .pick(&[], Vec::new(), &mut rng, anyone)
                .err(),
            Some(RouteError::NoReadyConnection),
            "nothing ready"
        );
    }

    #[test]
    fn endpoints_out_of_rotation_are_left_out() {
        let ready = set(&[(1, 0), (2, 1), (3, 0)]);
        let mut rng = rng(11);
        for _ in 0..50 {
            let id = picked(ready.pick(&[], vec![EndpointId(0)], &mut rng, anyone));
            assert_eq!(id, 2);
        }
        assert_eq!(
            ready
                .pick(&[], vec![EndpointId(0), EndpointId(1)], &mut rng, anyone)
                .err(),
            Some(RouteError::NoHealthyEndpoint)
        );
    }

    #[test]
    fn a_refused_endpoint_is_asked_once_and_the_choice_made_again() {
        // Endpoint 0 refuses (breaker open): every pick lands on
        // endpoint 1, and endpoint 0 is asked at most once per pick.
        let ready = set(&[(1, 0), (2, 0), (3, 1), (4, 0)]);
        let mut rng = rng(13);
        for _ in 0..50 {
            let asked = RefCell::new(Vec::new());
            let admit = |e: EndpointId| {
                asked.borrow_mut().push(e);
                (e != EndpointId(0)).then_some(e)
            };
            let p = ready.pick(&[], Vec::new(), &mut rng, admit).unwrap();
            assert_eq!((p.conn, p.admission), (ConnId(3), EndpointId(1)));
            let asked = asked.into_inner();
            assert!(asked.iter().filter(|e| e.0 == 0).count() <= 1, "{asked:?}");
        }
        let refuse = |_: EndpointId| None::<()>;
        assert_eq!(
            ready.pick(&[], Vec::new(), &mut rng, refuse).err(),
            Some(RouteError::BreakerOpen)
        );
    }

    #[test]
    fn refused_and_full_is_a_wait_not_a_breaker_error() {
        // Endpoint 1's only connection is full and endpoint 0 refuses:
        // room on endpoint 1 will come, so the caller must hear "no ready
        // connection" (and may wait), not "breaker open".
        let mut ready = ReadySet::default();
        ready.insert(conn(1, 0, None));
        ready.insert(conn(2, 1, Some(1)));
        let _full = load(&ready, 2, 1);
        let mut rng = rng(17);
        let admit = |e: EndpointId| (e != EndpointId(0)).then_some(());
        assert_eq!(
            ready.pick(&[], Vec::new(), &mut rng, admit).err(),
            Some(RouteError::NoReadyConnection)
        );
        // Out of rotation and the rest refused: the breaker is why.
        let ready = set(&[(1, 0), (2, 1)]);
        let admit = |e: EndpointId| (e != EndpointId(1)).then_some(());
        assert_eq!(
            ready.pick(&[], vec![EndpointId(0)], &mut rng, admit).err(),
            Some(RouteError::BreakerOpen)
        );
    }

    #[test]
    fn a_retry_goes_to_another_endpoint_else_another_connection_else_anywhere() {
        let ready = set(&[(1, 0), (2, 0), (3, 1)]);
        let mut rng = rng(19);
        let on = |conn: u64, endpoint: u32| RoutedTo {
            conn: ConnId(conn),
            endpoint: EndpointId(endpoint),
        };
        for _ in 0..50 {
            let id = picked(ready.pick_elsewhere(&[on(1, 0)], Vec::new(), &mut rng, anyone));
            assert_eq!(id, 3, "another endpoint first");
        }
        let both = [on(1, 0), on(3, 1)];
        for _ in 0..50 {
            let id = picked(ready.pick_elsewhere(&both, Vec::new(), &mut rng, anyone));
            assert_eq!(id, 2, "then another connection");
        }
        let ready = set(&[(1, 0)]);
        let id = picked(ready.pick_elsewhere(&[on(1, 0)], Vec::new(), &mut rng, anyone));
        assert_eq!(id, 1, "then the same one rather than none");
    }

    #[test]
    fn a_hedge_goes_only_to_an_endpoint_no_copy_went_to() {
        let ready = set(&[(1, 0), (2, 0), (3, 1), (4, 2)]);
        let mut rng = rng(23);
        let on = |conn: u64, endpoint: u32| RoutedTo {
            conn: ConnId(conn),
            endpoint: EndpointId(endpoint),
        };
        for _ in 0..50 {
            let id = picked(ready.pick_other_endpoint(&[on(1, 0)], Vec::new(), &mut rng, anyone));
            assert!(
                id == 3 || id == 4,
                "not endpoint 0's other connection: {id}"
            );
        }
        // Endpoint 2 out of rotation: only endpoint 1 is left.
        let id =
            picked(ready.pick_other_endpoint(&[on(1, 0)], vec![EndpointId(2)], &mut rng, anyone));
        assert_eq!(id, 3);
        // Every endpoint has a copy: no hedge.
        let all = [on(1, 0), on(3, 1), on(4, 2)];
        assert_eq!(
            ready
                .pick_other_endpoint(&all, Vec::new(), &mut rng, anyone)
                .err(),
            Some(RouteError::NoReadyConnection)
        );
    }

    #[test]
    fn a_leased_connection_is_lost_full_refused_or_counted() {
        let mut ready = ReadySet::default();
        ready.insert(conn(1, 0, Some(1)));
        assert_eq!(
            ready.pinned(ConnId(9), EndpointId(0), anyone).err(),
            Some(RouteError::LeaseLost {
                conn: ConnId(9),
                endpoint: EndpointId(0)
            })
        );
        let refuse = |_: EndpointId| None::<()>;
        assert_eq!(
            ready.pinned(ConnId(1), EndpointId(0), refuse).err(),
            Some(RouteError::BreakerOpen)
        );
        let held = ready.pinned(ConnId(1), EndpointId(0), anyone).unwrap();
        let held = held.expect("room for one");
        assert_eq!(held.sender, Fake(ConnId(1)));
        assert!(
            ready
                .pinned(ConnId(1), EndpointId(0), refuse)
                .unwrap()
                .is_none(),
            "full: wait for room, before asking the breaker"
        );
    }

    #[test]
    fn a_new_lease_takes_the_lighter_of_two_full_or_not() {
        let mut rng = rng(23);
        assert_eq!(ReadySet::<Fake>::default().choose_for_lease(&mut rng), None);
        let mut ready = ReadySet::default();
        ready.insert(conn(1, 0, Some(1)));
        ready.insert(conn(2, 1, None));
        let _full = load(&ready, 1, 1);
        let _busier = load(&ready, 2, 2);
        for _ in 0..20 {
            assert_eq!(
                ready.choose_for_lease(&mut rng),
                Some((ConnId(1), EndpointId(0)))
            );
        }
    }

    #[test]
    fn a_seed_gives_the_same_routes() {
        let ready = set(&[(1, 0), (2, 0), (3, 1), (4, 1), (5, 1)]);
        let run = |seed| {
            let mut rng = rng(seed);
            (0..100)
                .map(|_| picked(ready.pick(&[], Vec::new(), &mut rng, anyone)))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(29), run(29));
        assert_ne!(run(29), run(31));
    }
}
