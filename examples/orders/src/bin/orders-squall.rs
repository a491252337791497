//! The suite's own `squall`: squall's command line, with this suite's
//! world registered, so its scripts (`world = "orders"`) run, replay and
//! draw timelines like squall's own:
//!
//!     cargo run -p squall-example-orders --bin orders-squall -- run scripts/nat-expiry.toml

fn main() -> std::process::ExitCode {
    squall_scenarios::cli::main_with(
        squall_scenarios::Worlds::new().with(squall_example_orders::world()),
        "cargo run -p squall-example-orders --bin orders-squall --",
    )
}
