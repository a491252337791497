//! A host's software on real networking: a thread that enters the host's
//! network namespace, and a current-thread tokio runtime on it that runs the
//! host's program. Every socket the program (and every task it spawns, such
//! as hyper's) opens is opened by that thread, so it lives in that
//! namespace.
//!
//! A crash is the program's future and its runtime dropped: every socket is
//! closed at once, as the kernel closes a killed process's sockets (FIN, or
//! RST where unread data was waiting). Threads and not processes, so the
//! server code, its control channel and the trace recorder are the very
//! objects the simulation uses (see docs/fidelity.md).

use std::{future::Future, sync::Arc, thread::JoinHandle};

use squall_netlab::Lab;
use tokio::sync::oneshot;

use crate::KernelError;

type BoxError = Box<dyn std::error::Error>;

/// How a host's program ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ended {
    /// It returned Ok.
    Finished,
    /// It was stopped (a crash, or the run's end).
    Stopped,
    /// It failed or panicked; the text says how.
    Failed(String),
}

/// A running host program.
pub(crate) struct HostThread {
    host: String,
    stop: Option<oneshot::Sender<()>>,
    join: Option<JoinHandle<Ended>>,
}

impl HostThread {
    /// Starts `program` on a new thread inside `host`'s namespace.
    pub(crate) fn spawn<F, Fut>(lab: &Arc<Lab>, host: &str, program: F) -> Result<Self, KernelError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), BoxError>>,
    {
        let (stop, stopped) = oneshot::channel::<()>();
        let (lab, name) = (Arc::clone(lab), host.to_owned());
        let join = std::thread::Builder::new()
            .name(format!("squall-{host}"))
            .spawn(move || run(&lab, &name, stopped, program))
            .map_err(|e| KernelError::Host {
                host: host.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            host: host.to_owned(),
            stop: Some(stop),
            join: Some(join),
        })
    }

    /// Whether the program has ended on its own.
    pub(crate) fn is_finished(&self) -> bool {
        self.join.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stops the program (if it still runs) and waits for its sockets to
    /// be closed.
    pub(crate) fn stop(&mut self) -> Ended {
        if let Some(stop) = self.stop.take() {
            // Err: the program has already ended and dropped its receiver.
            let _ = stop.send(());
        }
        match self.join.take() {
            Some(join) => join
                .join()
                .unwrap_or_else(|_| Ended::Failed(format!("host `{}` panicked", self.host))),
            None => Ended::Stopped,
        }
    }
}

impl Drop for HostThread {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run<F, Fut>(lab: &Lab, host: &str, stopped: oneshot::Receiver<()>, program: F) -> Ended
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(), BoxError>>,
{
    if let Err(e) = lab.enter(host) {
        return Ended::Failed(format!("cannot enter the namespace of `{host}`: {e}"));
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return Ended::Failed(format!("no runtime for `{host}`: {e}")),
    };
    let ended = runtime.block_on(async move {
        let program = program();
        tokio::select! {
            biased;
            _ = stopped => Ended::Stopped,
            result = program => match result {
                Ok(()) => Ended::Finished,
                Err(e) => Ended::Failed(e.to_string()),
            },
        }
    });
    // Dropping the runtime drops every task the program spawned, and with
    // them the last sockets.
    drop(runtime);
    ended
}
