//! squall-suite: helpers shared by the suite-level tests in `tests/`.
//!
//! The root package exists so that every file under `tests/` is an
//! integration test of the whole workspace, run by `cargo test --workspace`,
//! without listing it in a manifest.

use std::time::Duration;

use squall_sim::{Trace, TraceLine};

/// RPC outcomes sent in `[from, to)` of simulated time.
pub fn rpcs_sent_between(
    trace: &Trace,
    from: Duration,
    to: Duration,
) -> Vec<(&TraceLine, &squall_sim::RpcOutcome)> {
    trace
        .rpcs()
        .filter(|(_, rpc)| rpc.sent_at >= from && rpc.sent_at < to)
        .collect()
}
