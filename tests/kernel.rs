//! Kernel mode: short fault scripts on real Linux networking, judged by the
//! same invariants as in the simulation, leaving nothing behind.
//!
//! Each file in `tests/kernel/` is run once in kernel mode (its comments
//! say what a real kernel does there) and must pass every invariant it
//! gets. The runs take real time (8–13 s each), so they go one at a time:
//! two at once would share the machine's two cores and skew each other's
//! timings.
//!
//! They need root (or CAP_NET_ADMIN and CAP_SYS_ADMIN), `ip` and `nft`.
//! Without them each test says why and passes, except with `CI=true`,
//! where a missing piece fails the test: CI installs what they need.

use std::{path::Path, sync::Mutex};

use squall_scenarios::{Report, Script, compare, run_script_kernel};

/// One kernel run at a time in this binary.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn script(name: &str) -> Script {
    Script::load(&Path::new("tests/kernel").join(format!("{name}.toml")))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// This process's lab namespaces still on the machine.
fn our_namespaces() -> Vec<String> {
    let prefix = format!("sq{}x", std::process::id());
    squall_kernel::lab_namespaces()
        .into_iter()
        .filter(|ns| ns.starts_with(&prefix))
        .collect()
}

fn run(name: &str) -> Report {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let script = script(name);
    let report = run_script_kernel(&script, script.default_seed())
        .unwrap_or_else(|e| panic!("kernel mode could not run {name}: {e}"));
    assert!(
        our_namespaces().is_empty(),
        "{name} left namespaces behind: {:?}",
        our_namespaces()
    );
    assert!(
        report.passed(),
        "{name} in kernel mode:\n{}\n{}",
        report.trace.text(),
        report.verdict()
    );
    assert_eq!(report.world.net(), "kernel");
    report
}

/// A short black hole heals on a real kernel: TCP retransmits what was
/// lost, every connection outlives it, and no RPC fails.
#[test]
fn a_600_ms_black_hole_heals_on_a_real_kernel() {
    if !squall_kernel::kernel_mode_for_tests() {
        return;
    }
    let report = run("black-hole-600ms");
    assert_eq!(report.rpc_counts().1, 0, "{}", report.verdict());
    assert_eq!(
        report.detections.len(),
        2,
        "both connections to server-2 were cut"
    );
    for d in &report.detections {
        assert_eq!(d.detected_at, None, "conn {} was closed: {d:?}", d.conn);
        assert!(
            d.survived_heal.is_some(),
            "conn {} outlived the fault: {d:?}",
            d.conn
        );
    }
}

/// Under load, a long black hole is found within interval + timeout by
/// whichever comes first: the kernel's TCP_USER_TIMEOUT (the connector
/// sets it to the keepalive timeout) or the HTTP/2 PING.
#[test]
fn a_long_black_hole_is_detected_within_keepalive() {
    if !squall_kernel::kernel_mode_for_tests() {
        return;
    }
    let report = run("black-hole-8s");
    assert_eq!(report.detections.len(), 2);
    for d in &report.detections {
        assert!(
            d.detected_at.is_some(),
            "conn {} was never closed: {d:?}",
            d.conn
        );
    }
}

/// A process crash closes the server's sockets at once; the pool redials
/// after the restart.
#[test]
fn a_crashed_server_is_redialled_after_its_restart() {
    if !squall_kernel::kernel_mode_for_tests() {
        return;
    }
    let report = run("server-crash");
    let text = report.trace.text();
    assert!(text.contains("server-2 host_crash"), "{text}");
    assert!(text.contains("server-2 host_restart"), "{text}");
    // After the restart the pool is back on server-2.
    let restart = report
        .trace
        .lines
        .iter()
        .find(|l| l.host == "server-2" && l.event == squall_sim::TraceEvent::HostRestart)
        .map(|l| l.at)
        .expect("a restart line");
    assert!(
        report.trace.rpcs().any(|(line, rpc)| line.at > restart
            && rpc.result.is_ok()
            && rpc.endpoint.as_deref() == Some("server-2")),
        "no RPC answered by server-2 after its restart:\n{text}"
    );
}

/// A NAT that resets forgotten flows: on a real network the reset comes
/// when the flow's next packet arrives, and ends the connection then.
///
/// Linux reports the reset (`ECONNRESET`) once, to the first read or write
/// that finds it: to a read, the pool records `io=ConnectionReset`; to one
/// of h2's writes, h2's next read sees EOF, which it reports as a broken
/// pipe (`io=BrokenPipe`). Which comes first is a race on a real network
/// (a request's HEADERS and DATA are two writes); both are the reset.
#[test]
fn a_nat_resets_a_forgotten_flow_when_its_next_packet_arrives() {
    if !squall_kernel::kernel_mode_for_tests() {
        return;
    }
    let report = run("nat-rst-expiry");
    let closed_by_reset = report.trace.lines.iter().any(|l| {
        matches!(
            &l.event,
            squall_sim::TraceEvent::Pool {
                kind: squall_pool::ConnEvent::Closed {
                    cause: squall_pool::CloseCause::Transport {
                        io: Some(
                            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                        ),
                        ..
                    }
                },
                ..
            }
        )
    });
    assert!(closed_by_reset, "{}", report.trace.text());
}

/// `squall compare`'s table: one row per cut connection, per phase and per
/// endpoint, each with the simulation's value, the kernel's and a verdict;
/// the comparison agrees iff every row does.
#[test]
fn compare_sets_both_worlds_side_by_side() {
    if !squall_kernel::kernel_mode_for_tests() {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let script = script("black-hole-600ms");
    let comparison = compare::compare(&script, 1, 1, &mut |_| {}).expect("compare runs");
    assert!(our_namespaces().is_empty());
    let metrics: Vec<&str> = comparison.rows.iter().map(|r| r.metric.as_str()).collect();
    for expected in [
        "cut fault 1 black_hole server-2 #1",
        "cut fault 1 black_hole server-2 #2",
        "rpcs sent before",
        "rpcs failed during",
        "rpcs failed after",
        "dials server-1",
        "backoffs server-2",
        "heal to first ok fault 1 black_hole",
        "latency p50 during",
        "latency p99 after",
    ] {
        assert!(
            metrics.contains(&expected),
            "no row {expected:?} in {metrics:?}"
        );
    }
    for row in &comparison.rows {
        assert_eq!(row.kernel.len(), 1, "{row:?}");
    }
    assert_eq!(comparison.agree(), comparison.rows.iter().all(|r| r.agree));
    let text = comparison.text();
    assert!(
        text.starts_with("compare black-hole-600ms: sim (seed 1"),
        "{text}"
    );
    assert!(text.contains("metric"), "{text}");
    assert!(text.contains("kernel (min–max)"), "{text}");
    let json = comparison.json();
    assert_eq!(
        json["rows"].as_array().map(Vec::len),
        Some(comparison.rows.len())
    );
    assert_eq!(json["agree"], comparison.agree());
    // The simulation wedges the connections this black hole cuts (no
    // retransmission): the disagreement kernel mode exists to measure.
    let cut = &comparison.rows[0];
    assert!(cut.metric.starts_with("cut "), "{cut:?}");
    assert_eq!(
        cut.kernel,
        vec![squall_scenarios::compare::table::Value::Cut(
            squall_scenarios::compare::measure::CutEnd::Survived
        )]
    );
}
