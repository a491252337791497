//! Every built-in script is a test of its own: each file in
//! `scenarios/scripts/` is the test `script::<file>` (run one with
//! `cargo test --test scripts -- black-hole.toml`). It runs with its own
//! seed, must meet its expectations, and has its trace pinned by an insta
//! snapshot named after the file (`snapshots/scripts__<stem>.snap`).
//!
//! Users rely on the shipped scripts passing, and on a change to any of
//! their traces being seen in review. Adding a file adds a test; an empty
//! directory fails the harness (datatest-stable finds no case and panics),
//! so a broken pattern cannot pass silently. The checks over the whole
//! directory (the order scripts run in, the embedded library) are in
//! `tests/script_library.rs`.

use std::path::Path;

use squall_scenarios::{Script, run_script};

/// The script at `path` passes its expectations, and its trace is the
/// pinned one.
fn script(path: &Path) -> datatest_stable::Result<()> {
    let name = path
        .file_stem()
        .expect("a file name")
        .to_string_lossy()
        .into_owned();
    let script = Script::load(path).unwrap_or_else(|e| panic!("{e}"));
    let seed = script.default_seed();
    let report = run_script(&script, seed);
    assert!(
        report.passed(),
        "{name} seed {seed}:\n{}\nreplay: squall run {} --seed {seed}",
        report.verdict(),
        path.display()
    );
    // Structural checks before the snapshot: a trace that is empty or
    // lost lines is wrong whatever the snapshot says.
    assert!(report.trace.lines.len() > 10, "{name}: trace too short");
    assert_eq!(report.trace.dropped, 0, "{name}: trace lines dropped");
    insta::assert_snapshot!(name.as_str(), report.trace.text());
    Ok(())
}

datatest_stable::harness! {
    { test = script, root = "scenarios/scripts", pattern = r"\.toml$" },
}
