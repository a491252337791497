//! `squall`: squall's command line ([`squall_scenarios::cli`]).

fn main() -> std::process::ExitCode {
    squall_scenarios::cli::main()
}
