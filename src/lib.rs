//! squall-suite: helpers shared by the suite-level tests in `tests/`.
//!
//! The root package exists so that every file under `tests/` is an
//! integration test of the whole workspace, run by `cargo test --workspace`,
//! without listing it in a manifest.

use std::{
    fs,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use squall_pool::{BuildError, EventKind, HealthCheckConfig, Pool, PoolConfig, PoolEvent};
use tokio::{
    task::JoinHandle,
    time::{Instant, sleep},
};

use squall_sim::{
    Recorder, SimSetup, Trace, TraceLine, TurmoilConnector, add_server, server, world::server_name,
};

/// The built-in script files (`scenarios/scripts/*.toml`), sorted by file
/// name; panics if the folder cannot be read or holds none, so a test over
/// them can never pass by checking nothing.
pub fn script_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/scripts");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no scripts in {}", dir.display());
    files
}

/// A script file's name without `.toml`: the script's name.
pub fn script_stem(path: &Path) -> String {
    path.file_stem()
        .expect("a file name")
        .to_string_lossy()
        .into_owned()
}

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

/// A turmoil simulation for tests that drive a pool by hand: seeded, a
/// fixed epoch, 1 ms on every link (so an RPC's round trip is exactly 2 ms),
/// and one echo server host, `server-1`, listening on its usual port.
/// Set up as worlds are ([`SimSetup`]), but on turmoil's own TCP
/// ([`suite_setup`]).
pub fn sim_with_one_server(seed: u64, duration: Duration) -> turmoil::Sim<'static> {
    sim_with_servers(seed, duration, &[server::ServerControl::default()])
}

/// Like [`sim_with_one_server`], with one echo server per control:
/// `server-1` driven by `controls[0]`, and so on, so a test can make a
/// server fail, stall or report NOT_SERVING.
pub fn sim_with_servers(
    seed: u64,
    duration: Duration,
    controls: &[server::ServerControl],
) -> turmoil::Sim<'static> {
    let mut sim = suite_setup(seed, duration).build();
    for (index, control) in controls.iter().enumerate() {
        add_server(&mut sim, &server_name(index), &Recorder::default(), control);
    }
    sim
}

/// How the suite's hand-driven simulations are set up: a world's setup
/// ([`SimSetup::new`]: seeded, the fixed epoch, 1 ms ticks and links,
/// turmoil failing the run past `duration`), but on turmoil's own lossless
/// TCP (no ACK segments, no retransmission), which these tests were
/// written against and pin their timings on: with Linux's TCP, nine of
/// them see other timings (endpoints, goaway, idle, max_age, pool_status,
/// scale, wait_for_ready).
pub fn suite_setup(seed: u64, duration: Duration) -> SimSetup {
    SimSetup {
        linux_tcp: false,
        ..SimSetup::new(seed, duration)
    }
}

/// A default pool with one connection to `server-1`: the setup of tests
/// about what happens on one connection.
pub fn one_connection_to_server_1() -> Result<Pool, BuildError> {
    Pool::builder()
        .endpoint("http://server-1:50051")
        .config(PoolConfig {
            connections_per_endpoint: 1,
            ..PoolConfig::default()
        })
        .build(TurmoilConnector)
}

/// Health checks every second, answered within 500 ms, one failure to turn
/// an endpoint unhealthy and one pass to bring it back: the config of the
/// tests whose timings follow single checks.
pub fn health_checks_every_second() -> HealthCheckConfig {
    HealthCheckConfig {
        interval: Duration::from_secs(1),
        timeout: Duration::from_millis(500),
        unhealthy_threshold: 1,
        healthy_threshold: 1,
        ..HealthCheckConfig::default()
    }
}

/// Samples the RPCs in flight on the first endpoint's first connection
/// every simulated millisecond, `steps` times; resolves with the most seen
/// (the "streams ≤ capacity" assertion of the tests that cap them).
pub fn peak_in_flight(pool: &Pool, steps: usize) -> JoinHandle<usize> {
    let pool = pool.clone();
    tokio::spawn(async move {
        let mut most = 0;
        for _ in 0..steps {
            let stats = pool.stats();
            let slot = &stats.endpoints[0].slots[0];
            most = most.max(slot.connection.as_ref().map_or(0, |c| c.in_flight));
            sleep(Duration::from_millis(1)).await;
        }
        most
    })
}

/// Lines recorded by [`conn_event_recorder`].
pub type EventLines = Arc<Mutex<Vec<String>>>;

/// The lines `conn_event_recorder` recorded, without those of the pool's
/// shutdown (`cause=shutdown`), which every test ends with.
pub fn lines_before_shutdown(lines: &EventLines) -> Vec<String> {
    let lines = lines.lock().expect("a test's event lines");
    lines
        .iter()
        .filter(|l| !l.contains("cause=shutdown"))
        .cloned()
        .collect()
}

/// An event sink that records every connection event as
/// `"<ms since start> <event><fields>"`, for tests that assert a pool's
/// exact sequence of connection events.
pub fn conn_event_recorder(
    start: Instant,
    lines: &EventLines,
) -> impl Fn(&PoolEvent) + Send + Sync + 'static {
    let lines = Arc::clone(lines);
    move |e: &PoolEvent| {
        if let EventKind::Conn { .. } = &e.kind {
            let at = e.at.duration_since(start).as_millis();
            lines.lock().expect("a test's event lines").push(format!(
                "{at} {}{}",
                e.kind.name(),
                e.kind
            ));
        }
    }
}
