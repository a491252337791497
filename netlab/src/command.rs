//! Running `ip` and `nft`: locating the binaries, feeding scripts on stdin,
//! and turning a failure into a [`LabError::Command`] that carries the
//! command line and its stderr (the tools' messages are the only useful
//! diagnosis when the kernel refuses something).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::LabError;

/// Where to look besides `$PATH`: under `sudo` or a minimal service
/// environment `$PATH` often lacks the sbin directories iproute2 and
/// nftables install into.
const FALLBACK_DIRS: &[&str] = &["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

/// The path of an executable named `program`, from `$PATH` or the sbin
/// fallbacks; `None` if it is nowhere.
pub(crate) fn locate(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(FALLBACK_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs `program args...`, writing `stdin` to it if given, and returns its
/// stdout. A non-zero exit is an error carrying stderr.
pub(crate) fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Result<String, LabError> {
    let command_line = {
        let mut line = std::iter::once(program)
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        if stdin.is_some() {
            line.push_str(" <script>");
        }
        line
    };
    let Some(binary) = locate(program) else {
        return Err(LabError::Spawn {
            command: command_line,
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("`{program}` not found"),
            ),
        });
    };
    let mut child = Command::new(binary)
        .args(args)
        // Error messages are matched on (e.g. "No such file"), so no translations.
        .env("LC_ALL", "C")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| LabError::Spawn {
            command: command_line.clone(),
            source,
        })?;
    if let (Some(script), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // Scripts are small and both tools read all of stdin before writing
        // much, so writing before collecting output cannot deadlock. A write
        // error (the tool exited early) shows up as its exit status below.
        let _ = pipe.write_all(script.as_bytes());
    }
    let output = child.wait_with_output().map_err(|source| LabError::Spawn {
        command: command_line.clone(),
        source,
    })?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        let mut stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        if let Some(script) = stdin.filter(|_| stderr.is_empty()) {
            stderr = format!("(no stderr; script was:\n{script})");
        }
        Err(LabError::Command {
            command: command_line,
            status: output.status,
            stderr,
        })
    }
}

/// Runs an `ip -batch` script inside namespace `ns` (`ip -n NS -b -`): one
/// process for many commands; it stops at the first failing line and names it.
pub(crate) fn ip_batch(ns: Option<&str>, script: &str) -> Result<(), LabError> {
    let mut args = Vec::new();
    if let Some(ns) = ns {
        args.extend(["-n", ns]);
    }
    args.extend(["-b", "-"]);
    run("ip", &args, Some(script)).map(drop)
}

/// Applies an nft script inside namespace `ns` as one atomic transaction.
pub(crate) fn nft_script(ns: &str, script: &str) -> Result<(), LabError> {
    run("ip", &["netns", "exec", ns, "nft", "-f", "-"], Some(script)).map(drop)
}

/// Runs one nft command inside namespace `ns` and returns its stdout.
pub(crate) fn nft(ns: &str, args: &[&str]) -> Result<String, LabError> {
    let mut full = vec!["netns", "exec", ns, "nft"];
    full.extend_from_slice(args);
    run("ip", &full, None)
}
