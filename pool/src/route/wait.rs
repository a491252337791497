//! Waiting for room: whether an RPC whose pick chose nothing may look
//! again later (until its deadline) rather than fail now. A pure rule; the
//! wait itself, on the ready set's change signal, is `rpc/wait_for_ready.rs`.

use super::{error::RouteError, saturation::Saturated};

/// Whether a pick that failed with `error` may succeed later for this RPC:
/// nothing had room (none ready, or every one full), or, for a call that
/// asked to wait, every endpoint with a ready connection was out of
/// rotation (as in gRPC, that is no ready connection to such a call, and
/// an endpoint's return wakes it). A breaker's refusal is final.
pub(crate) fn worth_another_look(error: RouteError, wait_for_ready: bool) -> bool {
    match error {
        RouteError::NoReadyConnection => true,
        RouteError::NoHealthyEndpoint => wait_for_ready,
        RouteError::BreakerOpen | RouteError::LeaseLost { .. } => false,
    }
}

impl Saturated {
    /// Whether an RPC that found every connection full asks for an extra
    /// one: not while a server has yet to say how many streams it takes
    /// (it will most likely take more, a round trip away).
    pub(crate) fn asks_to_grow(self) -> bool {
        self == Saturated::Settled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{endpoint::EndpointId, ids::ConnId};

    #[test]
    fn only_a_lack_of_room_is_worth_waiting_for_unless_the_call_asked() {
        for wait_for_ready in [false, true] {
            assert!(worth_another_look(
                RouteError::NoReadyConnection,
                wait_for_ready
            ));
            assert!(!worth_another_look(RouteError::BreakerOpen, wait_for_ready));
        }
        let lost = RouteError::LeaseLost {
            conn: ConnId(1),
            endpoint: EndpointId(0),
        };
        assert!(!worth_another_look(lost, true));
        // Every endpoint ejected or unhealthy: a fail-fast call fails, a
        // wait-for-ready call waits for one to return.
        assert!(!worth_another_look(RouteError::NoHealthyEndpoint, false));
        assert!(worth_another_look(RouteError::NoHealthyEndpoint, true));
    }

    #[test]
    fn only_settled_fullness_asks_for_a_connection() {
        assert!(Saturated::Settled.asks_to_grow());
        assert!(!Saturated::Provisional.asks_to_grow());
    }
}
