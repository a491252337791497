//! Every built-in script is a test: each `scenarios/scripts/*.toml` runs
//! with its own seed, must meet its expectations, and has its trace pinned
//! by an insta snapshot named after the file (`scripts__<stem>.snap`).
//!
//! Users rely on the shipped scripts passing, and on a change to any of
//! their traces being seen in review. Adding a file adds a case; an empty
//! directory fails, so a broken glob cannot pass silently.

use std::{fs, path::PathBuf};

use squall_scenarios::{Script, library, run_script};

/// The script files, sorted by name.
fn script_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/scripts");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn stem(path: &std::path::Path) -> String {
    path.file_stem()
        .expect("a file name")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn every_builtin_script_passes_and_its_trace_is_pinned() {
    let files = script_files();
    assert!(!files.is_empty(), "no scripts in scenarios/scripts");
    for path in files {
        let name = stem(&path);
        let script = Script::load(&path).unwrap_or_else(|e| panic!("{e}"));
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
    }
}

/// A trace depends on the script and the seed alone, not on what ran
/// before it in the same process (tokio's task ids, for one, are
/// process-wide): run in reverse order, while the test above runs forward
/// on another thread, every script must give the very trace pinned above.
#[test]
fn traces_do_not_depend_on_what_ran_before_in_the_process() {
    let mut files = script_files();
    files.reverse();
    for path in files {
        let name = stem(&path);
        let script = Script::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let report = run_script(&script, script.default_seed());
        insta::assert_snapshot!(name.as_str(), report.trace.text());
    }
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
