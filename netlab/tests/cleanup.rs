//! Real-namespace tests of cleanup after killed runs and of the
//! precondition check.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};

use common::{can_run, three_hosts};
use squall_netlab::{check_preconditions, cleanup_pid, cleanup_stale, lab_namespaces};

/// The cleanup tests each make stale namespaces and run `cleanup_stale`,
/// which would remove the other's mid-test: they take turns.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Removes a hand-made namespace even if the test fails.
struct Made(String);

impl Made {
    fn new(name: String) -> Made {
        let status = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("run ip");
        assert!(status.success(), "ip netns add {name}");
        Made(name)
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        if lab_namespaces().contains(&self.0) {
            let _ = Command::new("ip")
                .args(["netns", "delete", &self.0])
                .status();
        }
    }
}

/// A pid that certainly belonged to a process and now belongs to none:
/// a child that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().expect("spawn true");
    let pid = child.id();
    child.wait().unwrap();
    assert!(
        std::fs::metadata(format!("/proc/{pid}")).is_err(),
        "pid {pid} was reused at once"
    );
    pid
}

#[test]
fn cleanup_stale_removes_dead_runs_and_keeps_live_ones() {
    if !can_run() {
        return;
    }
    let _serial = serial();
    let dead = dead_pid();
    let stale = [
        Made::new(format!("sq{dead}x0-client")),
        Made::new(format!("sq{dead}x0-net")),
    ];
    // pid 1 is always alive: a foreign live run's namespace.
    let live_foreign = Made::new(format!("sq1x{}-client", std::process::id()));
    let ours = three_hosts();

    let removed = cleanup_stale().expect("cleanup_stale");
    let after = lab_namespaces();
    for made in &stale {
        assert!(
            removed.contains(&made.0),
            "{} not reported in {removed:?}",
            made.0
        );
        assert!(!after.contains(&made.0), "{} left", made.0);
    }
    assert!(
        after.contains(&live_foreign.0),
        "a live pid's namespace was removed"
    );
    assert!(
        ours.namespaces().iter().all(|n| after.contains(n)),
        "this process's lab was removed"
    );
    assert!(
        removed
            .iter()
            .all(|n| !n.starts_with(&format!("sq{}x", std::process::id())))
    );

    // cleanup_pid removes by pid, alive or not (for a Ctrl-C handler).
    let removed = cleanup_pid(1).expect("cleanup_pid");
    assert!(removed.contains(&live_foreign.0), "{removed:?}");
    assert!(!lab_namespaces().contains(&live_foreign.0));
    ours.destroy().expect("destroy");
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const CHILD: &str = "killed_run_child";

/// Not a test of its own: the child process of
/// `cleanup_stale_removes_a_killed_runs_lab`. It creates a lab, reports its
/// namespaces and then blocks until it is killed, so it never cleans up.
#[test]
#[ignore = "helper process for cleanup_stale_removes_a_killed_runs_lab"]
fn killed_run_child() {
    if std::env::var_os("NETLAB_KILLED_RUN_CHILD").is_none() {
        return;
    }
    let lab = three_hosts();
    // Markers, because libtest's "test ... " prefix shares the first line.
    for ns in lab.namespaces() {
        println!("NETLAB-NS {ns}");
    }
    println!("NETLAB-READY");
    let mut line = String::new();
    // Returns only if the parent went away without killing us; then the
    // lab is dropped (and removed) as usual instead of leaking.
    let _ = std::io::stdin().read_line(&mut line);
}

#[test]
fn cleanup_stale_removes_a_killed_runs_lab() {
    if !can_run() {
        return;
    }
    let _serial = serial();
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            CHILD,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("NETLAB_KILLED_RUN_CHILD", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn child");
    // Kills the child if this test fails before it does.
    let mut child = KillOnDrop(child);
    let pid = child.0.id();
    let mut names = Vec::new();
    for line in BufReader::new(child.0.stdout.take().unwrap()).lines() {
        let line = line.expect("child output");
        if line.contains("NETLAB-READY") {
            break;
        }
        if let Some((_, ns)) = line.split_once("NETLAB-NS ") {
            names.push(ns.to_owned());
        }
    }
    assert_eq!(names.len(), 4, "the child reported {names:?}");
    assert!(
        names.iter().all(|n| n.starts_with(&format!("sq{pid}x"))),
        "{names:?}"
    );
    // While the child lives, its lab is not stale.
    let removed = cleanup_stale().expect("cleanup_stale");
    assert!(
        names
            .iter()
            .all(|n| !removed.contains(n) && lab_namespaces().contains(n))
    );

    child.0.kill().expect("SIGKILL the child"); // no destructor runs
    child.0.wait().unwrap();
    assert!(
        names.iter().all(|n| lab_namespaces().contains(n)),
        "a killed run leaves its lab"
    );
    let removed = cleanup_stale().expect("cleanup_stale");
    let after = lab_namespaces();
    for ns in &names {
        assert!(removed.contains(ns), "{ns} not reported in {removed:?}");
        assert!(!after.contains(ns), "{ns} left");
    }
}

#[test]
fn preconditions_hold_here() {
    match check_preconditions() {
        Ok(()) => {}
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => panic!("{e}"),
        Err(e) => {
            // Unprivileged: the failure must say what is missing.
            eprintln!("preconditions not met (expected when not root):\n{e}");
            assert!(e.to_string().contains("CAP_NET_ADMIN"), "{e}");
        }
    }
}
