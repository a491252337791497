//! Admission: what every RPC goes through before a connection is chosen.
//! A pool that is shutting down refuses it; a pool with a limiter makes it
//! take a permit (its core never admits a waiter past the RPC's deadline).
//! The permit is returned by dropping it, wherever the RPC ends.

use super::Rpc;
use crate::{error::PoolError, policy::limit::LimitPermit};

/// Admits `rpc`: its limiter permit, if the pool has a limiter.
pub(crate) async fn admit(rpc: &Rpc) -> Result<Option<LimitPermit>, PoolError> {
    if rpc.shared.is_shutting_down() {
        return Err(PoolError::Shutdown);
    }
    match &rpc.shared.policies.limiter {
        Some(gate) => Ok(Some(
            gate.acquire(rpc.deadline)
                .await
                .map_err(PoolError::Limited)?,
        )),
        None => Ok(None),
    }
}
