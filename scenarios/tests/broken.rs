//! Every broken script is a test of its own: each file in `tests/broken/`
//! is the test `broken_script::<file>`, and must be rejected before running,
//! with an error that names the file, line and column, what was expected
//! there, and a hint. The rendered error is pinned by an insta snapshot
//! named after the file (`snapshots/broken__<stem>.snap`).
//!
//! Users rely on a mistake in a script being reported where it is, never
//! as a panic or a silently different run. Adding a file adds a test; an
//! empty directory fails the harness (datatest-stable finds no case and
//! panics).

use std::{fs, path::Path};

use squall_scenarios::{Script, script::LoadError};

/// The script at `path` is rejected with positioned, explained errors.
fn broken_script(path: &Path) -> datatest_stable::Result<()> {
    // Tests run in the package directory, so paths print as written in
    // the harness below (`tests/broken/<file>`).
    let name = path
        .file_stem()
        .expect("a name")
        .to_string_lossy()
        .into_owned();
    // A folder missing most of its fixtures (a partial checkout) would
    // still pass case by case.
    let fixtures = fs::read_dir(path.parent().expect("in a folder"))?
        .filter(|entry| {
            let path = entry.as_ref().expect("readable entry").path();
            path.extension().is_some_and(|e| e == "toml")
        })
        .count();
    assert!(
        fixtures >= 10,
        "fixtures missing: {fixtures} in tests/broken"
    );
    let errors = match Script::load(path) {
        Ok(_) => panic!("{name}: accepted a broken script"),
        Err(LoadError::Invalid(errors)) => errors,
        Err(other) => panic!("{name}: {other}"),
    };
    assert!(!errors.0.is_empty(), "{name}: rejected without an error");
    for error in &errors.0 {
        let at = error
            .location
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: no position"));
        // Line 1 is the description, which no fixture gets wrong; only a
        // missing top-level table has no better place than the start.
        let missing = error.message.starts_with("missing field");
        assert!(
            at.line > 1 || missing,
            "{name}: points at the description:\n{error}"
        );
        assert!(
            !error.expected.is_empty() && !error.hint.is_empty(),
            "{name}"
        );
        assert_eq!(error.file, path.display().to_string());
    }
    insta::assert_snapshot!(name.as_str(), errors.to_string());
    Ok(())
}

datatest_stable::harness! {
    { test = broken_script, root = "tests/broken", pattern = r"\.toml$" },
}
