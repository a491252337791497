//! Every broken script is a test: each `tests/broken/*.toml` must be
//! rejected before running, with an error that names the file, line and
//! column, what was expected there, and a hint. The rendered error is
//! pinned by an insta snapshot named after the file.
//!
//! Users rely on a mistake in a script being reported where it is, never
//! as a panic or a silently different run. Adding a file adds a case.

use std::{fs, path::PathBuf};

use squall_scenarios::{Script, script::LoadError};

#[test]
fn every_broken_script_is_rejected_with_a_positioned_error() {
    // Tests run in the package directory, so paths print as written here.
    let mut files: Vec<PathBuf> = fs::read_dir("tests/broken")
        .expect("tests/broken exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "fixtures missing: {files:?}");
    for path in files {
        let name = path
            .file_stem()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        let errors = match Script::load(&path) {
            Ok(_) => panic!("{name}: accepted a broken script"),
            Err(LoadError::Invalid(errors)) => errors,
            Err(other) => panic!("{name}: {other}"),
        };
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
    }
}
