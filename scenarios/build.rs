//! Embeds every `scripts/*.toml` into the binary, so `squall list` and
//! `squall run <NAME>` work from any directory. Generates a table of
//! (name, text) sorted by name; adding a file adds a built-in script.

use std::{env, fs, path::PathBuf};

fn main() {
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo")).join("scripts");
    println!("cargo::rerun-if-changed={}", dir.display());
    let mut entries: Vec<(String, PathBuf)> = fs::read_dir(&dir)
        .expect("scenarios/scripts exists")
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .map(|path| {
            let stem = path
                .file_stem()
                .expect("a file name")
                .to_string_lossy()
                .into_owned();
            (stem, path)
        })
        .collect();
    entries.sort();
    let mut out = String::from(
        "/// (name, TOML text) of every built-in script, by name.\npub(crate) static BUILTIN: &[(&str, &str)] = &[\n",
    );
    for (name, path) in &entries {
        out.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    out.push_str("];\n");
    let target =
        PathBuf::from(env::var("OUT_DIR").expect("set by cargo")).join("builtin_scripts.rs");
    fs::write(target, out).expect("OUT_DIR is writable");
}
