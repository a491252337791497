//! Every regression case is a test of its own: each file in
//! `tests/regressions/` (a case a property suite once found failing,
//! shrunk and fixed; see its README) is the test `regression::<file>`,
//! run as an ordinary script with its seed and expectations, and must
//! pass.
//!
//! Users rely on a fixed bug staying fixed, even after the generator
//! changes and never produces that case again. An empty directory fails
//! the harness (datatest-stable finds no case and panics).

use std::path::Path;

use squall_scenarios::{Script, run_script};

/// The case at `path` passes again.
fn regression(path: &Path) -> datatest_stable::Result<()> {
    let script = Script::load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let report = run_script(&script, script.default_seed());
    assert!(
        report.passed(),
        "{} fails again:\n{}",
        path.display(),
        report.verdict()
    );
    Ok(())
}

datatest_stable::harness! {
    { test = regression, root = "tests/regressions", pattern = r"\.toml$" },
}
