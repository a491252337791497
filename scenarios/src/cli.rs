//! `squall`: run squall's fault scripts from the command line. The
//! `squall` binary is [`main`]; a user's own `squall` binary, whose scripts
//! may name the user's worlds, is [`main_with`] given those worlds.
//!
//! - `squall run <SCRIPT|NAME> [--net sim|kernel] [--seed N] [--json] [--trace FILE] [--html FILE] [--save-case FILE]`
//! - `squall compare <SCRIPT|NAME> [--runs N] [--seed N] [--json]` (kernel mode vs the simulation)
//! - `squall kernel-cleanup` (removes what killed kernel-mode runs left)
//! - `squall check <SCRIPT>...`
//! - `squall list`
//! - `squall replay <FILE> [--html FILE]`
//! - `squall sweep [--suite faults|admission] [--cases N] [--seed S] [--shard k/n] [--jobs N] [--commit REV] [--case SEED]`
//! - `squall serve --addr 127.0.0.1:PORT` (real TCP, loopback only)
//! - `squall load --target URL --client pool|channel|channels:N ...`
//! - `squall bench-net` (the pool against tonic, one command)
//!
//! Exit status: 0 when every run passed (or every script is valid), 1 when
//! a run failed an expectation or invariant, 2 when a script is invalid or
//! cannot be read.

use std::{
    io::{IsTerminal, Write},
    path::PathBuf,
    process::ExitCode,
};

use crate::{Script, Worlds, library, replay, run_world_observed, script::LoadError};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "squall",
    version,
    about = "Deterministic chaos scenarios for gRPC connection pools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a script: print its trace and verdict; exit 0 iff all hold.
    Run {
        /// A script file, or the name of a built-in script (`squall list`).
        script: String,
        /// Simulation seed (default: the script's `seed`, else 1). The same
        /// seed replays the same run exactly.
        #[arg(long)]
        seed: Option<u64>,
        #[command(flatten)]
        output: Output,
        /// If the run fails, save the case (the script with this seed) here
        /// for `squall replay`.
        #[arg(long, value_name = "FILE")]
        save_case: Option<PathBuf>,
        /// Where to run: `sim` (turmoil, deterministic) or `kernel` (real
        /// Linux networking in network namespaces; root; not deterministic).
        #[arg(long, value_enum, default_value_t = Net::Sim)]
        net: Net,
        /// Step the simulation one tick at a time instead of jumping over
        /// idle stretches. The trace is the same either way; this is slower
        /// and exists to check that.
        #[arg(long)]
        no_skip: bool,
    },
    /// Run a script in the simulation and in kernel mode and print the
    /// two side by side; exit 0 iff every row agrees within tolerance.
    Compare {
        /// A script file, or the name of a built-in script.
        script: String,
        /// Kernel-mode runs (the kernel is not deterministic).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=100))]
        runs: u16,
        /// The simulation's seed (default: the script's, else 1).
        #[arg(long)]
        seed: Option<u64>,
        /// Print one JSON object instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Run scripts with squall's pool and with each of tonic's clients
    /// (tonic-channel, tonic-channel-keepalive, tonic-balance) and print,
    /// per client: failed RPCs, worst detection, heal to first success,
    /// dials and the invariants' verdicts.
    Peers {
        /// Script files or built-in names (default: every built-in script).
        scripts: Vec<String>,
        /// Seed (default: each script's own).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Remove network namespaces that killed kernel-mode runs left behind.
    KernelCleanup,
    /// Validate scripts without running them.
    Check {
        /// Script files or built-in names.
        #[arg(required = true)]
        scripts: Vec<String>,
    },
    /// List the built-in scripts.
    List,
    /// Rerun a saved case (a script file with a `seed`), showing the same trace.
    Replay {
        file: PathBuf,
        #[command(flatten)]
        output: Output,
    },
    /// Property sweep: random fault scripts, every invariant checked,
    /// failures shrunk and written for `squall replay`.
    Sweep(crate::prop::cli::SweepArgs),
    /// Serve the echo service and gRPC health over real TCP until Ctrl-C.
    Serve(crate::net::cli::ServeArgs),
    /// Load a real gRPC server (loopback only) and report QPS, latency,
    /// errors, peak memory and connections opened.
    Load(crate::net::cli::LoadArgs),
    /// The pool and another client take turns, one RPC each, at one in
    /// flight: their latency ratio, machine drift cancelled.
    Paired(crate::net::cli::PairedArgs),
    /// Compare squall's pool with one and with N tonic channels at several
    /// concurrencies, against `squall serve` in its own process.
    BenchNet(crate::net::cli::BenchNetArgs),
}

/// Which world runs a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Net {
    Sim,
    Kernel,
}

#[derive(clap::Args)]
struct Output {
    /// Print one JSON object (scenario, seed, trace_hash, rpcs, detections,
    /// invariants, expect, measured) instead of the trace.
    #[arg(long)]
    json: bool,
    /// Also write the trace text to FILE.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Also write the run's timeline to FILE: one self-contained HTML page
    /// (lanes per connection, faults, detections, RPCs; no network needed).
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

const INVALID: u8 = 2;

/// The `squall` binary: scripts run in squall's own world.
pub fn main() -> ExitCode {
    main_with(Worlds::new(), "cargo run -p squall-scenarios --")
}

/// A `squall` command line whose scripts may name the user's `worlds`
/// (`world = "..."`). `cargo_run` is how a user runs this binary from
/// source (`cargo run -p my-suite --bin squall --`): replay hints print it.
pub fn main_with(worlds: Worlds, cargo_run: &str) -> ExitCode {
    let cli = Invocation { worlds, cargo_run };
    match Cli::parse().command {
        Command::List => {
            let mut out = String::new();
            for name in library::names() {
                let line = match library::builtin(name) {
                    Ok(script) => format!("{name:<20} {}\n", script.description),
                    Err(e) => format!("{name:<20} (invalid: {})\n", first_line(&e.to_string())),
                };
                out.push_str(&line);
            }
            emit(&out);
            ExitCode::SUCCESS
        }
        Command::Check { scripts } => check(&scripts),
        Command::Sweep(args) => crate::prop::cli::run(&args, &cli.worlds),
        Command::Serve(args) => crate::net::cli::serve(&args),
        Command::Load(args) => crate::net::cli::load(&args),
        Command::Paired(args) => crate::net::cli::paired(&args),
        Command::BenchNet(args) => crate::net::cli::bench_net(&args),
        Command::Run {
            script,
            seed,
            output,
            save_case,
            net,
            no_skip,
        } => match library::resolve(&script) {
            Ok(loaded) => {
                let seed = seed.unwrap_or(loaded.default_seed());
                match net {
                    Net::Sim => match cli.worlds.world_of(&loaded, seed) {
                        Ok(mut world) => {
                            world.skip_idle = !no_skip;
                            cli.run(&loaded, &script, &world, &output, save_case.as_deref())
                        }
                        Err(e) => world_error(&e),
                    },
                    Net::Kernel => {
                        cli.run_kernel(&loaded, &script, seed, &output, save_case.as_deref())
                    }
                }
            }
            Err(e) => invalid(&e),
        },
        Command::Compare {
            script,
            runs,
            seed,
            json,
        } => match library::resolve(&script) {
            Ok(loaded) if loaded.world.is_some() => own_world_only("compare", &loaded),
            Ok(loaded) => {
                let seed = seed.unwrap_or(loaded.default_seed());
                compare(&loaded, seed, usize::from(runs), json)
            }
            Err(e) => invalid(&e),
        },
        Command::Peers { scripts, seed } => peers(&scripts, seed),
        Command::KernelCleanup => match squall_kernel::cleanup_stale() {
            Ok(removed) => {
                let mut out = String::new();
                for ns in &removed {
                    out.push_str(&format!("removed {ns}\n"));
                }
                out.push_str(&format!("{} namespace(s) removed\n", removed.len()));
                emit(&out);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Replay { file, output } => {
            let arg = file.display().to_string();
            match Script::load(&file) {
                Ok(loaded) => match loaded.seed {
                    Some(seed) => match cli.worlds.world_of(&loaded, seed) {
                        Ok(world) => cli.run(&loaded, &arg, &world, &output, None),
                        Err(e) => world_error(&e),
                    },
                    None => {
                        eprintln!(
                            "error: `{arg}` has no `seed`, so it is a script, not a saved case\n  = hint: run it with `squall run {arg} --seed N`, or save a case with `--save-case`"
                        );
                        ExitCode::from(INVALID)
                    }
                },
                Err(e) => invalid(&e),
            }
        }
    }
}

/// Writes `text` to stdout. A closed pipe (`squall run x | head`) is not an
/// error worth a panic: the reader has what it wanted.
fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("error: cannot write to stdout: {e}");
    }
}

fn invalid(error: &LoadError) -> ExitCode {
    eprintln!("{error}");
    ExitCode::from(INVALID)
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

fn check(scripts: &[String]) -> ExitCode {
    let mut all_valid = true;
    for arg in scripts {
        match library::resolve(arg) {
            Ok(script) => emit(&format!(
                "ok {arg} ({} fault(s), {:?} of load)\n",
                script.faults.len(),
                script.duration
            )),
            Err(e) => {
                all_valid = false;
                eprintln!("{e}");
            }
        }
    }
    if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(INVALID)
    }
}

/// What a run of the command line knows besides its arguments.
struct Invocation<'a> {
    worlds: Worlds,
    cargo_run: &'a str,
}

/// A command that runs squall's own world only, given a script that
/// names a user's.
fn own_world_only(command: &str, script: &Script) -> ExitCode {
    eprintln!(
        "error: script {}: `squall {command}` runs squall's own world (its echo service and load), not a user's world (`world = \"{}\"`); run, replay and sweep take users' worlds",
        script.name,
        script.world.as_deref().unwrap_or_default()
    );
    ExitCode::from(INVALID)
}

fn world_error(error: &crate::WorldError) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(INVALID)
}

impl Invocation<'_> {
    fn run(
        &self,
        script: &Script,
        arg: &str,
        world: &squall_sim::WorldConfig,
        output: &Output,
        save_case: Option<&std::path::Path>,
    ) -> ExitCode {
        let seed = world.seed;
        // A progress line on stderr, only when a person is watching.
        let progress = !output.json && std::io::stdout().is_terminal();
        let limit = script.time_limit();
        let mut show = |reached: std::time::Duration| {
            if progress {
                eprint!(
                    "\rsquall: simulating {} (seed {seed}): {}s of {}s simulated",
                    script.name,
                    reached.as_secs(),
                    limit.as_secs()
                );
                let _ = std::io::stderr().flush();
            }
        };
        let report = run_world_observed(script, seed, world, &mut show);
        if progress {
            eprint!("\r\x1b[2K");
        }
        let rerun_hint = format!(
            "replay: squall run {arg} --seed {seed}   (or: {} run {arg} --seed {seed})\n",
            self.cargo_run
        );
        finish(&report, arg, seed, output, save_case, &rerun_hint)
    }

    /// `squall run --net kernel`: the same report from real sockets.
    fn run_kernel(
        &self,
        script: &Script,
        arg: &str,
        seed: u64,
        output: &Output,
        save_case: Option<&std::path::Path>,
    ) -> ExitCode {
        remove_namespaces_on_ctrl_c();
        if !output.json && std::io::stderr().is_terminal() {
            eprintln!(
                "squall: running {} on real Linux networking for about {}s",
                script.name,
                script.time_limit().as_secs()
            );
        }
        match crate::report::run_script_kernel_in(script, seed, &self.worlds) {
            Ok(report) => {
                let rerun = format!(
                    "rerun: squall run {arg} --net kernel   (kernel mode is not deterministic: timings differ between runs; compare with the simulation: squall compare {arg})\n"
                );
                finish(&report, arg, seed, output, save_case, &rerun)
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(INVALID)
            }
        }
    }
}

/// A kernel-mode run interrupted by Ctrl-C removes its namespaces before
/// the process exits (a panic unwinds through the lab's `Drop`; a SIGKILL
/// is for `squall kernel-cleanup`).
fn remove_namespaces_on_ctrl_c() {
    let installed = ctrlc::set_handler(|| {
        let _ = squall_kernel::cleanup_pid(std::process::id());
        eprintln!("\nsquall: interrupted; the run's network namespaces were removed");
        std::process::exit(130);
    });
    if let Err(e) = installed {
        eprintln!(
            "warning: no Ctrl-C handler ({e}); after an interrupt run `squall kernel-cleanup`"
        );
    }
}

/// `squall compare`.
fn compare(script: &Script, seed: u64, runs: usize, json: bool) -> ExitCode {
    remove_namespaces_on_ctrl_c();
    let verbose = std::io::stderr().is_terminal();
    let mut on_run = |run: usize| {
        if verbose {
            eprintln!(
                "squall: kernel run {} of {runs} of {} (about {}s)",
                run + 1,
                script.name,
                script.time_limit().as_secs()
            );
        }
    };
    match crate::compare::compare(script, seed, runs, &mut on_run) {
        Ok(comparison) => {
            if json {
                emit(&format!("{}\n", comparison.json()));
            } else {
                emit(&comparison.text());
            }
            if comparison.agree() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(INVALID)
        }
    }
}

/// Writes a run's trace, timeline and verdict, and saves a failing case.
fn finish(
    report: &crate::Report,
    arg: &str,
    seed: u64,
    output: &Output,
    save_case: Option<&std::path::Path>,
    rerun_hint: &str,
) -> ExitCode {
    if let Some(path) = &output.trace
        && let Err(e) = std::fs::write(path, report.trace.text())
    {
        eprintln!("error: cannot write the trace to `{}`: {e}", path.display());
        return ExitCode::from(INVALID);
    }
    if let Some(path) = &output.html
        && let Err(e) = crate::timeline::write_html(report, path)
    {
        eprintln!("error: {e}");
        return ExitCode::from(INVALID);
    }
    if output.json {
        emit(&format!("{}\n", report.json()));
    } else {
        emit(&format!(
            "{}\n{}{rerun_hint}",
            report.trace.text(),
            report.verdict()
        ));
    }
    if report.passed() {
        return ExitCode::SUCCESS;
    }
    if let Some(path) = save_case {
        let text = match library::text(arg) {
            Some(text) => Ok(text.to_owned()),
            None => std::fs::read_to_string(arg),
        };
        match text.and_then(|t| std::fs::write(path, replay::case_text(&t, seed))) {
            Ok(()) => eprintln!("saved the failing case: squall replay {}", path.display()),
            Err(e) => eprintln!("error: cannot save the case to `{}`: {e}", path.display()),
        }
    }
    ExitCode::FAILURE
}

/// `squall peers`: each script's table, in order; exit 2 if one is invalid.
fn peers(scripts: &[String], seed: Option<u64>) -> ExitCode {
    let names: Vec<String> = if scripts.is_empty() {
        library::names().iter().map(|n| (*n).to_owned()).collect()
    } else {
        scripts.to_vec()
    };
    for name in &names {
        match library::resolve(name) {
            Ok(script) if script.world.is_some() => return own_world_only("peers", &script),
            Ok(script) => {
                let seed = seed.unwrap_or(script.default_seed());
                let rows = crate::peers::peers(&script, seed);
                emit(&format!(
                    "{}\n",
                    crate::peers::table(&script.name, seed, &rows)
                ));
            }
            Err(e) => return invalid(&e),
        }
    }
    ExitCode::SUCCESS
}
