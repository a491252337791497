//! The built-in scripts: every `scenarios/scripts/*.toml`, embedded at build
//! time (see `build.rs`) and named by the file's stem.

use std::path::Path;

use crate::script::{LoadError, Script};

include!(concat!(env!("OUT_DIR"), "/builtin_scripts.rs"));

/// Names of the built-in scripts, sorted.
pub fn names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(name, _)| *name).collect()
}

/// The TOML text of built-in script `name`.
pub fn text(name: &str) -> Option<&'static str> {
    BUILTIN
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

/// Built-in script `name`, parsed. Errors name `scenarios/scripts/<name>.toml`.
pub fn builtin(name: &str) -> Result<Script, LoadError> {
    let text = text(name).ok_or_else(|| LoadError::UnknownName {
        name: name.to_owned(),
        known: names().join(", "),
    })?;
    Ok(Script::parse(
        name,
        &format!("scenarios/scripts/{name}.toml"),
        text,
    )?)
}

/// A script file if `arg` is an existing file or ends in `.toml`, else the
/// built-in script of that name.
pub fn resolve(arg: &str) -> Result<Script, LoadError> {
    let path = Path::new(arg);
    if path.is_file() || arg.ends_with(".toml") {
        Script::load(path)
    } else {
        builtin(arg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses_and_names_are_sorted() {
        let names = names();
        assert!(!names.is_empty());
        assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
        for name in names {
            builtin(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        assert!(matches!(
            builtin("no-such"),
            Err(LoadError::UnknownName { .. })
        ));
    }
}
