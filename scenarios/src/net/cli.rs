//! The `squall serve`, `squall load`, `squall paired` and `squall bench-net`
//! subcommands:
//! their clap arguments and what each runs, so `main.rs` only dispatches.

use std::{io::Write, net::SocketAddr, process::ExitCode, time::Duration};

use squall_pool::PoolConfig;

use super::{
    args::{ClientSpec, Method, Target, parse_concurrencies, parse_duration, parse_loopback_addr},
    compare::{self, CompareConfig, LISTENING},
    load::{LoadConfig, run as run_load},
    paired::{PairedConfig, run as run_paired},
    serve::EchoServer,
};

/// Exit status for bad arguments, as clap uses.
const USAGE: u8 = 2;

/// `squall serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Loopback address to listen on; port 0 picks a free port. The first
    /// line printed is `listening on http://ADDR`.
    #[arg(long, default_value = "127.0.0.1:50051", value_parser = parse_loopback_addr)]
    pub addr: SocketAddr,
}

/// `squall load`.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// The server, `http://HOST:PORT` on this machine.
    #[arg(long)]
    pub target: Target,
    /// RPCs in flight: this many loops, each sending one RPC after another.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// How long to measure, e.g. `5s`, `500ms`.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub duration: Duration,
    /// How long to send before measuring.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// `pool` (squall), `pool-coalescing` (squall with
    /// `coalesce_request_writes`), `channel` (one tonic Channel),
    /// `channel-like-pool` (one Channel with the pool's default keepalive
    /// and deadline) or `channels:N` (N tonic Channels, round-robin).
    #[arg(long, default_value = "pool")]
    pub client: ClientSpec,
    /// `echo` (squall's echo service) or `health` (grpc.health.v1.Health/Check,
    /// which any gRPC server may have).
    #[arg(long, default_value = "echo")]
    pub method: Method,
    /// The pool's connections per endpoint (`--client pool` and `pool-coalescing` only).
    #[arg(long, default_value_t = PoolConfig::default().connections_per_endpoint)]
    pub connections: usize,
    /// Serve the pool's metrics in Prometheus text format on this loopback
    /// address during the run (`GET /metrics`).
    #[arg(long, value_name = "ADDR", value_parser = parse_loopback_addr)]
    pub prometheus: Option<SocketAddr>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `squall paired`.
#[derive(Debug, clap::Args)]
pub struct PairedArgs {
    /// The server, `http://HOST:PORT` on this machine.
    #[arg(long)]
    pub target: Target,
    /// The client the pool takes turns with: `channel`,
    /// `channel-like-pool` or `channels:N`.
    #[arg(long, default_value = "channel")]
    pub against: ClientSpec,
    /// Pairs of RPCs measured (one RPC of each client per pair).
    #[arg(long, default_value_t = 20_000)]
    pub pairs: usize,
    /// Pairs sent before measuring.
    #[arg(long, default_value_t = 2_000)]
    pub warmup_pairs: usize,
    /// RPCs of one client in a row before the other's turn: 1 alternates
    /// every RPC; e.g. 100 has each RPC follow its own client's last, as
    /// when it runs alone.
    #[arg(long, default_value_t = 1)]
    pub run_length: usize,
    /// `echo` or `health`.
    #[arg(long, default_value = "echo")]
    pub method: Method,
    /// The pool's connections per endpoint.
    #[arg(long, default_value_t = PoolConfig::default().connections_per_endpoint)]
    pub connections: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `squall bench-net`.
#[derive(Debug, clap::Args)]
pub struct BenchNetArgs {
    /// Concurrencies to measure, e.g. `1,16,256,1024`.
    #[arg(long, default_value = "1,16,256,1024")]
    pub concurrency: String,
    /// Measured time per cell.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Unmeasured time per cell before that.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// The pool's connections, and N for `channels:N`.
    #[arg(long, default_value_t = PoolConfig::default().connections_per_endpoint)]
    pub connections: usize,
    #[arg(long, default_value = "echo")]
    pub method: Method,
    /// Print every cell's report as JSON instead of markdown tables.
    #[arg(long)]
    pub json: bool,
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// Runs `squall serve` until Ctrl-C.
pub fn serve(args: &ServeArgs) -> ExitCode {
    let result = runtime().and_then(|rt| {
        rt.block_on(async {
            let mut server = EchoServer::start(args.addr).await?;
            println!("{LISTENING} {}", server.url());
            let _ = std::io::stdout().flush();
            tokio::select! {
                biased;
                _ = tokio::signal::ctrl_c() => {}
                failed = server.failed() => return Err(std::io::Error::other(failed)),
            }
            server.stop().await.map_err(std::io::Error::other)
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: squall serve: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `squall load` and prints its report.
pub fn load(args: &LoadArgs) -> ExitCode {
    let config = LoadConfig {
        target: args.target.clone(),
        client: args.client,
        method: args.method,
        concurrency: args.concurrency,
        duration: args.duration,
        warmup: args.warmup,
        connections: args.connections,
        prometheus: args.prometheus,
    };
    let report = block_on(run_load(&config));
    print_report("load", report, args.json, |r| r.json(), |r| r.table())
}

/// Runs `squall paired` and prints its report.
pub fn paired(args: &PairedArgs) -> ExitCode {
    let config = PairedConfig {
        target: args.target.clone(),
        against: args.against,
        method: args.method,
        pairs: args.pairs,
        warmup_pairs: args.warmup_pairs,
        run_length: args.run_length,
        connections: args.connections,
    };
    let report = block_on(run_paired(&config));
    print_report("paired", report, args.json, |r| r.json(), |r| r.table())
}

/// Runs `future` on a fresh multi-threaded runtime; `None` (said on
/// stderr) when the runtime cannot start.
fn block_on<T>(future: impl Future<Output = T>) -> Option<T> {
    match runtime() {
        Ok(rt) => Some(rt.block_on(future)),
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            None
        }
    }
}

/// Prints a run's report as JSON or as a table, or its error, and says
/// how `squall COMMAND` exits.
fn print_report<R, E: std::fmt::Display>(
    command: &str,
    report: Option<Result<R, E>>,
    json: bool,
    as_json: impl Fn(&R) -> String,
    as_table: impl Fn(&R) -> String,
) -> ExitCode {
    match report {
        None => ExitCode::FAILURE,
        Some(Ok(report)) if json => {
            println!("{}", as_json(&report));
            ExitCode::SUCCESS
        }
        Some(Ok(report)) => {
            print!("{}", as_table(&report));
            ExitCode::SUCCESS
        }
        Some(Err(e)) => {
            eprintln!("error: squall {command}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `squall bench-net` and prints markdown tables (or JSON).
pub fn bench_net(args: &BenchNetArgs) -> ExitCode {
    let concurrencies = match parse_concurrencies(&args.concurrency) {
        Ok(list) => list,
        Err(e) => {
            eprintln!("error: --concurrency: {e}");
            return ExitCode::from(USAGE);
        }
    };
    if let Err(e) = format!("channels:{}", args.connections).parse::<ClientSpec>() {
        eprintln!("error: --connections: {e}");
        return ExitCode::from(USAGE);
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("error: cannot find the squall binary: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = CompareConfig {
        exe,
        concurrencies,
        duration: args.duration,
        warmup: args.warmup,
        connections: args.connections,
        method: args.method,
    };
    let cells = config.concurrencies.len() * 3;
    let mut done = 0;
    let result = compare::run(&config, |cell| {
        done += 1;
        eprintln!("squall bench-net: [{done}/{cells}] {cell}");
    });
    match result {
        Ok(comparison) if args.json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&comparison).expect("a comparison serializes")
            );
            ExitCode::SUCCESS
        }
        Ok(comparison) => {
            print!("{}", comparison.markdown());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: squall bench-net: {e}");
            ExitCode::FAILURE
        }
    }
}
