//! Which checks a run of a script gets, and with what bounds: the
//! script's `[expect]` and its pool mapped onto the checkers of
//! `squall_sim::check`, which own every invariant, plus the checks every
//! run gets. The only place a script meets the checkers.

use std::time::Duration;

use squall_sim::{
    RunOutput, UserWorld,
    check::{self, Invariant},
    world::servers_trace_rpcs_for,
};

use crate::{
    report::{Report, World},
    script::{ClientKind, Script, TICK},
};

/// Checks every invariant that applies to a run of `script`.
/// `user`: the user's world the run was in, whose invariants are checked
/// after squall's.
pub fn judge(
    script: &Script,
    seed: u64,
    output: RunOutput,
    world: World,
    user: Option<&UserWorld>,
) -> Report {
    let detections = check::detections(&output.trace);
    let mut invariants = vec![Invariant {
        name: "run_completed",
        ok: output.outcome.is_ok(),
        detail: match &output.outcome {
            Ok(()) => "the client finished within the time limit".to_owned(),
            Err(e) => e.to_string(),
        },
    }];
    let expect = &script.expect;
    if let Some(bound) = expect.detection_within {
        invariants.push(check::check_detection(
            &detections,
            bound + world.timing_slack(),
        ));
    }
    if let Some(max) = expect.max_failed_rpcs {
        invariants.push(check::failed_rpcs_at_most(&output.trace, max));
    }
    if expect.no_leaks {
        invariants.push(check::no_leaks(&output.trace));
    }
    if expect.breaker_opens_within.is_some() || expect.breaker_closes_within.is_some() {
        invariants.push(check::breaker_follows_failing_server(
            &output.trace,
            &script.faults,
            expect.breaker_opens_within,
            expect.breaker_closes_within,
        ));
    }
    // The checks every pool run gets, and the admission checks of a run
    // with a limiter or breaker.
    if let ClientKind::Pool = script.client.kind {
        let config = script.pool.apply(seed);
        invariants.extend(check::pool_invariants(
            &output.trace,
            &config,
            TICK,
            world.timing_slack(),
        ));
        invariants.push(check::streams_within_capacity(&output.capacity));
        if let Some(within) = expect.live_within {
            invariants.push(check::live_after_faults(
                &output.trace,
                &config,
                &script.client.targets,
                script.last_fault_end(),
                script.topology.max_concurrent_streams.is_some(),
                within,
            ));
        }
        if let Some(limiter) = &config.limiter {
            invariants.push(check::limiter_inflight_within_limit(&output.trace, limiter));
        }
        if servers_trace_rpcs_for(&config) {
            invariants.push(check::server_streams_end_with_their_rpc(
                &output.trace,
                reset_crossing(&world),
            ));
        }
        if config.breaker.is_some() {
            invariants.push(check::breaker_transitions_legal(&output.trace));
            invariants.push(check::no_rpc_reaches_server_while_breaker_open(
                &output.trace,
                world.link_latency(),
            ));
        }
    }
    invariants.push(check::check_no_rpc_on_dead_conn(&output.trace));
    invariants.push(check::rpcs_end_within_deadline(
        &output.trace,
        world.timing_slack(),
    ));
    if let Some(user) = user {
        invariants.extend(user.check(&output.trace));
    }
    Report {
        scenario: script.name.clone(),
        seed,
        trace: output.trace,
        detections,
        invariants,
        expect: expect.clone(),
        world,
    }
}

/// How long after an RPC's outcome a server may still hold its stream: the
/// client's reset crosses the network once, through a middlebox at most
/// (two links), and each side's task is woken within a tick.
fn reset_crossing(world: &World) -> Duration {
    2 * world.link_latency() + 2 * TICK + world.timing_slack()
}
