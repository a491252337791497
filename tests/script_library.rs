//! The built-in scripts as a whole: what no single script's test
//! (`tests/scripts.rs`, one test per file) can show.
//!
//! Users rely on a script's trace depending on the script and its seed
//! alone, and on `squall run <NAME>` running exactly the file the tests
//! ran.

use std::fs;

use squall_scenarios::{Script, library, run_script};
use squall_suite::{script_files, script_stem as stem};

/// A trace depends on the script and the seed alone, not on what ran
/// before it in the same process (tokio's task ids, for one, are
/// process-wide): run one after another in reverse order here, every
/// script must give the very trace `tests/scripts.rs` pins (the same
/// snapshot files, `scripts__<stem>.snap`), where the scripts run in name
/// order, several at a time.
#[test]
fn traces_do_not_depend_on_what_ran_before_in_the_process() {
    let mut files = script_files();
    files.reverse();
    let mut settings = insta::Settings::clone_current();
    // The snapshots are `tests/scripts.rs`'s, named after that module.
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        for path in files {
            let name = stem(&path);
            let script = Script::load(&path).unwrap_or_else(|e| panic!("{e}"));
            let report = run_script(&script, script.default_seed());
            insta::assert_snapshot!(format!("scripts__{name}"), report.trace.text());
        }
    });
}

/// The binary embeds exactly the files in the directory, byte for byte, so
/// `squall list` and `squall run <NAME>` run what the tests ran.
#[test]
fn the_embedded_library_is_the_directory() {
    let files = script_files();
    // Sorted by name, not file name: `black-hole-plus-crash.toml` sorts
    // before `black-hole.toml`, but `black-hole` before `black-hole-plus-crash`.
    let mut stems: Vec<String> = files.iter().map(|p| stem(p)).collect();
    stems.sort();
    assert_eq!(library::names(), stems);
    for path in &files {
        let text = fs::read_to_string(path).expect("readable script");
        assert_eq!(
            library::text(&stem(path)),
            Some(text.as_str()),
            "{}",
            path.display()
        );
    }
}

/// `[pool] coalesce_request_writes` changes how a request is written and
/// where the socket is driven (hyper's dispatcher's task, handed to a task
/// of its own when the dispatcher ends), not what the pool does: with it
/// on, every built-in script for the pool still holds every invariant it
/// expects (detection bounds, no leaks, GOAWAY drains, limiter, breaker,
/// hedging). Its traces differ where timing does (docs/upstream.md).
#[test]
fn every_pool_script_holds_with_coalesced_request_writes() {
    let mut ran = 0;
    for path in script_files() {
        let mut script = Script::load(&path).unwrap_or_else(|e| panic!("{e}"));
        if script.client.kind.is_tonic() {
            continue;
        }
        script.pool.coalesce_request_writes = Some(true);
        let report = run_script(&script, script.default_seed());
        assert!(
            report.passed(),
            "{} with coalesce_request_writes:\n{}",
            stem(&path),
            report.verdict()
        );
        ran += 1;
    }
    assert!(ran >= 20, "only {ran} pool scripts");
}
