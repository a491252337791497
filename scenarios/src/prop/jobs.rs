//! `squall sweep --jobs N`: the cases of a sweep in N worker processes.
//!
//! Processes, not threads: tokio's task ids (and so a trace's task
//! numbering) are process-wide counters, so two simulations in one process
//! would change each other's traces. The parent re-executes its own binary
//! (`squall sweep ... --worker w/N`); worker `w` runs the `j`-th case of
//! the shard for every `j % N == w` ([`worker_indices`]), in order, and
//! prints one [`CaseReport`] per case as a JSON line on stdout, shrinking
//! and writing a failure itself first. The parent reads every worker's
//! lines, checks each is the case it expects next from that worker, and
//! sorts the reports by case index: the summary is then the one `--jobs 1`
//! prints.
//!
//! Nothing waits unbounded: a worker that exits before its last case, or
//! with a failing status, or writes a line that is not its next report, is
//! an error naming it; so is a worker silent for longer than
//! `silence_max`. On any error every worker still running is killed (its
//! own child handle) and reaped.

use std::{
    collections::VecDeque,
    ffi::OsString,
    io::{BufRead, BufReader, Read},
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel},
    thread,
    time::{Duration, Instant},
};

use thiserror::Error;

use crate::prop::{shard::Shard, sweep::CaseReport};

/// How long a worker that closed its stdout may take to exit.
const EXIT_WAIT_MAX: Duration = Duration::from_secs(10);
/// Polling step while waiting for that exit.
const EXIT_POLL: Duration = Duration::from_millis(20);

/// Why a parallel sweep could not finish.
#[derive(Debug, Error)]
pub enum JobsError {
    #[error("cannot find squall's own executable to start workers: {0}")]
    Exe(#[source] std::io::Error),
    #[error("cannot start worker {worker}: {source}")]
    Spawn {
        worker: usize,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "worker {worker} ended after {received} of its {expected} case(s) ({status}); \
         its stderr is above"
    )]
    Died {
        worker: usize,
        received: usize,
        expected: usize,
        status: String,
    },
    #[error("worker {worker} sent a line that is not its next case report ({reason}): {line}")]
    Protocol {
        worker: usize,
        line: String,
        reason: String,
    },
    #[error("cannot read worker {worker}'s output: {source}")]
    Read {
        worker: usize,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "no worker reported a case for {} s (--worker-silence-max): \
         workers still running: {stalled:?}",
        silence.as_secs()
    )]
    Stalled {
        stalled: Vec<usize>,
        silence: Duration,
    },
}

/// The indices worker `worker` of `workers` runs: the `j`-th of `indices`
/// for every `j % workers == worker`. Interleaved, so that slow and fast
/// cases spread evenly.
pub fn worker_indices(
    indices: impl Iterator<Item = u64>,
    worker: Shard,
) -> impl Iterator<Item = u64> {
    indices
        .enumerate()
        .filter(move |(j, _)| worker.includes(*j as u64))
        .map(|(_, index)| index)
}

/// What a reader thread saw on a worker's stdout.
#[derive(Debug)]
pub enum Event {
    Line(usize, String),
    Eof(usize),
    ReadFailed(usize, std::io::Error),
}

/// Forwards `reader`'s lines to `events`, then its end. The thread ends
/// when the worker closes its stdout (exits or is killed).
pub fn forward_lines(worker: usize, reader: impl Read + Send + 'static, events: Sender<Event>) {
    thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            match line {
                Ok(line) => {
                    if events.send(Event::Line(worker, line)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = events.send(Event::ReadFailed(worker, e));
                    return;
                }
            }
        }
        let _ = events.send(Event::Eof(worker));
    });
}

/// The parent's bookkeeping: which case each worker owes next.
pub struct Collector {
    expected: Vec<VecDeque<u64>>,
    counts: Vec<usize>,
    done: Vec<bool>,
    reports: Vec<CaseReport>,
}

impl Collector {
    /// `expected[w]`: the case indices worker `w` must report, in order.
    pub fn new(expected: Vec<Vec<u64>>) -> Self {
        let counts = expected.iter().map(Vec::len).collect();
        let done = vec![false; expected.len()];
        Self {
            expected: expected.into_iter().map(VecDeque::from).collect(),
            counts,
            done,
            reports: Vec::new(),
        }
    }

    /// One line from worker `worker`'s stdout.
    pub fn line(&mut self, worker: usize, line: &str) -> Result<(), JobsError> {
        let protocol = |reason: String| JobsError::Protocol {
            worker,
            line: line.chars().take(200).collect(),
            reason,
        };
        let report: CaseReport = serde_json::from_str(line).map_err(|e| protocol(e.to_string()))?;
        let queue = &mut self.expected[worker];
        match queue.front() {
            Some(next) if *next == report.index => {
                queue.pop_front();
                self.reports.push(report);
                Ok(())
            }
            Some(next) => Err(protocol(format!(
                "case {} where case {next} was due",
                report.index
            ))),
            None => Err(protocol(format!(
                "case {} after its last case",
                report.index
            ))),
        }
    }

    /// Worker `worker` closed its stdout and exited with `status`.
    pub fn ended(
        &mut self,
        worker: usize,
        status: Result<ExitStatus, String>,
    ) -> Result<(), JobsError> {
        self.done[worker] = true;
        let missing = self.expected[worker].len();
        let status_ok = status.as_ref().is_ok_and(ExitStatus::success);
        if missing == 0 && status_ok {
            return Ok(());
        }
        let expected = self.counts[worker];
        Err(JobsError::Died {
            worker,
            received: expected - missing,
            expected,
            status: match status {
                Ok(status) => status.to_string(),
                Err(reason) => reason,
            },
        })
    }

    /// Workers not yet ended.
    pub fn running(&self) -> Vec<usize> {
        (0..self.done.len()).filter(|w| !self.done[*w]).collect()
    }

    /// Every report, in case order.
    pub fn into_reports(mut self) -> Vec<CaseReport> {
        self.reports.sort_by_key(|r| r.index);
        self.reports
    }
}

/// Feeds `events` to `collector` until every worker has ended, an error,
/// or `silence_max` without any event. `exit_status(w)` waits (bounded)
/// for worker `w` to exit once its stdout closed.
pub fn drain(
    events: &Receiver<Event>,
    collector: &mut Collector,
    silence_max: Duration,
    exit_status: &mut dyn FnMut(usize) -> Result<ExitStatus, String>,
) -> Result<(), JobsError> {
    while !collector.running().is_empty() {
        match events.recv_timeout(silence_max) {
            Ok(Event::Line(worker, line)) => collector.line(worker, &line)?,
            Ok(Event::Eof(worker)) => {
                let status = exit_status(worker);
                collector.ended(worker, status)?;
            }
            Ok(Event::ReadFailed(worker, source)) => {
                return Err(JobsError::Read { worker, source });
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                return Err(JobsError::Stalled {
                    stalled: collector.running(),
                    silence: silence_max,
                });
            }
        }
    }
    Ok(())
}

/// How to start the workers.
pub struct Plan {
    /// The worker executable: squall itself (`std::env::current_exe`).
    pub exe: PathBuf,
    /// `squall sweep` arguments shared by every worker (`--worker w/N` is
    /// added per worker).
    pub args: Vec<OsString>,
    /// The case indices each worker runs, in order.
    pub expected: Vec<Vec<u64>>,
    pub silence_max: Duration,
}

/// Starts the workers, collects their reports in case order, and reaps
/// them all, whatever happens.
pub fn run_workers(plan: Plan) -> Result<Vec<CaseReport>, JobsError> {
    let exe = &plan.exe;
    let workers = plan.expected.len();
    let (tx, rx) = channel();
    let mut children: Vec<Child> = Vec::with_capacity(workers);
    let mut result = Ok(());
    for worker in 0..workers {
        let spawned = Command::new(exe)
            .args(&plan.args)
            .arg("--worker")
            .arg(format!("{worker}/{workers}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn();
        match spawned {
            Ok(mut child) => {
                if let Some(stdout) = child.stdout.take() {
                    forward_lines(worker, stdout, tx.clone());
                }
                children.push(child);
            }
            Err(source) => {
                result = Err(JobsError::Spawn { worker, source });
                break;
            }
        }
    }
    // Only the reader threads hold senders now: when every worker's stdout
    // is closed, the channel disconnects instead of blocking.
    drop(tx);
    let mut collector = Collector::new(plan.expected);
    if result.is_ok() {
        result = drain(&rx, &mut collector, plan.silence_max, &mut |w| {
            wait_bounded(&mut children[w])
        });
    }
    if result.is_err() {
        for child in &mut children {
            // Already-exited children make kill fail harmlessly.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
    result.map(|()| collector.into_reports())
}

/// Waits up to [`EXIT_WAIT_MAX`] for `child` to exit; kills it after.
fn wait_bounded(child: &mut Child) -> Result<ExitStatus, String> {
    let deadline = Instant::now() + EXIT_WAIT_MAX;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(EXIT_POLL),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "closed its output but had not exited after {} s; killed",
                    EXIT_WAIT_MAX.as_secs()
                ));
            }
            Err(e) => return Err(format!("cannot wait for it: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    fn report(index: u64) -> String {
        serde_json::to_string(&CaseReport {
            index,
            case_seed: index * 7,
            determinism_checked: index == 0,
            probes: vec!["breaker_opened"],
            failure: None,
        })
        .unwrap()
    }

    fn ok() -> Result<ExitStatus, String> {
        Ok(ExitStatus::from_raw(0))
    }

    /// The split is a partition of the shard's cases, so N workers run
    /// exactly the cases one process would.
    #[test]
    fn workers_split_the_shard_exactly() {
        let shard = Shard { index: 1, count: 3 };
        let all: Vec<u64> = (0..40).filter(|i| shard.includes(*i)).collect();
        let mut union: Vec<u64> = (0..4)
            .flat_map(|w| {
                worker_indices(all.iter().copied(), Shard { index: w, count: 4 })
                    .collect::<Vec<_>>()
            })
            .collect();
        union.sort_unstable();
        assert_eq!(union, all);
    }

    /// Reports arrive interleaved across workers; the result is in case
    /// order, as one process would have produced them.
    #[test]
    fn reports_come_out_in_case_order() {
        let mut c = Collector::new(vec![vec![0, 2, 4], vec![1, 3]]);
        for (w, i) in [(1, 1), (0, 0), (1, 3), (0, 2), (0, 4)] {
            c.line(w, &report(i)).unwrap();
        }
        c.ended(1, ok()).unwrap();
        c.ended(0, ok()).unwrap();
        let indices: Vec<u64> = c.into_reports().iter().map(|r| r.index).collect();
        assert_eq!(indices, [0, 1, 2, 3, 4]);
    }

    /// A report parses back into exactly what the worker had, failures
    /// included (they carry the shrink's runs and time to the summary).
    #[test]
    fn a_report_round_trips_through_json() {
        let original = CaseReport {
            index: 9,
            case_seed: u64::MAX,
            determinism_checked: true,
            probes: vec!["reconnect_backoff", "breaker_opened"],
            failure: Some(crate::prop::Failure {
                case_seed: u64::MAX,
                failed: vec![crate::prop::FailedCheck {
                    name: "live_after_faults".to_owned(),
                    detail: "rpc 3 failed\n  at 4 s".to_owned(),
                }],
                replay_file: "target/squall/failures/faults-x.toml".into(),
                timeline_file: None,
                replay_line: "replay: squall replay x".to_owned(),
                shrink_runs: 37,
                shrink_seconds: 1.25,
            }),
        };
        let line = serde_json::to_string(&original).unwrap();
        assert!(!line.contains('\n'), "one report, one line");
        let back: CaseReport = serde_json::from_str(&line).unwrap();
        assert_eq!(back, original);
    }

    /// A worker that dies mid-way is an error that says which one and how
    /// far it got, not a summary that quietly counts fewer cases.
    #[test]
    fn a_worker_that_ends_early_is_an_error() {
        let mut c = Collector::new(vec![vec![0, 2], vec![1]]);
        c.line(0, &report(0)).unwrap();
        let err = c
            .ended(0, Err("signal: 9 (SIGKILL)".to_owned()))
            .unwrap_err();
        assert!(
            matches!(
                err,
                JobsError::Died {
                    worker: 0,
                    received: 1,
                    expected: 2,
                    ..
                }
            ),
            "{err}"
        );
        // All cases sent but a failing status is still a death.
        let mut c = Collector::new(vec![vec![1]]);
        c.line(0, &report(1)).unwrap();
        assert!(c.ended(0, Ok(ExitStatus::from_raw(1 << 8))).is_err());
    }

    #[test]
    fn stray_or_out_of_order_lines_are_protocol_errors() {
        let mut c = Collector::new(vec![vec![0, 2]]);
        for bad in ["panicked at src/x.rs", "{}", &report(2), &report(5)] {
            let err = c.line(0, bad).unwrap_err();
            assert!(
                matches!(err, JobsError::Protocol { worker: 0, .. }),
                "{err}"
            );
        }
        let unknown = report(0).replace("breaker_opened", "no_such_probe");
        assert!(c.line(0, &unknown).is_err());
    }

    /// Real processes (`sh` standing in for squall): reports from two
    /// workers are merged; a worker that exits early is `Died`; one that
    /// never reports is `Stalled` and killed (the call returns although
    /// the "worker" would sleep for a minute).
    #[test]
    fn run_workers_reports_death_and_silence_of_real_processes() {
        let plan = |scripts: &[&str], expected: Vec<Vec<u64>>| Plan {
            exe: "/bin/sh".into(),
            // `sh -c SCRIPT` takes `--worker w/N` as $0 and $1.
            args: vec!["-c".into(), scripts.join("; ").into()],
            expected,
            silence_max: Duration::from_millis(300),
        };
        let two = format!(
            "case $1 in 0/2) echo '{}';; 1/2) echo '{}';; esac",
            report(0),
            report(1)
        );
        let reports = run_workers(plan(&[&two], vec![vec![0], vec![1]])).unwrap();
        assert_eq!(reports.iter().map(|r| r.index).collect::<Vec<_>>(), [0, 1]);

        let dies = format!("echo '{}'", report(0));
        let err = run_workers(plan(&[&dies, "exit 3"], vec![vec![0, 1]])).unwrap_err();
        assert!(
            matches!(&err, JobsError::Died { worker: 0, received: 1, expected: 2, status }
                if status.contains('3')),
            "{err}"
        );

        let err = run_workers(plan(&["exec sleep 60"], vec![vec![0]])).unwrap_err();
        assert!(matches!(err, JobsError::Stalled { .. }), "{err}");
    }

    /// drain ends on its own: when every worker has ended, and with
    /// `Stalled` when nothing arrives within the bound (here no sender
    /// ever sends), never by blocking.
    #[test]
    fn drain_is_bounded() {
        let (tx, rx) = channel();
        tx.send(Event::Line(0, report(0))).unwrap();
        tx.send(Event::Eof(0)).unwrap();
        let mut c = Collector::new(vec![vec![0], vec![1]]);
        let err = drain(&rx, &mut c, Duration::from_millis(1), &mut |_| ok()).unwrap_err();
        assert!(
            matches!(&err, JobsError::Stalled { stalled, .. } if *stalled == [1]),
            "{err}"
        );
        drop(tx);

        let (tx, rx) = channel();
        forward_lines(0, std::io::Cursor::new(format!("{}\n", report(0))), tx);
        let mut c = Collector::new(vec![vec![0]]);
        drain(&rx, &mut c, Duration::from_secs(60), &mut |_| ok()).unwrap();
        assert_eq!(c.into_reports().len(), 1);
    }
}
