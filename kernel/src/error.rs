//! Why a kernel-mode run could not start or was cut short, as opposed to a
//! run that ran and failed its invariants (that is the report's business).

use squall_netlab::{LabError, PreconditionError};

/// A kernel run that could not be made.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// Something this machine lacks; each piece names its Debian package.
    #[error("kernel mode cannot run here:\n{0}")]
    Preconditions(#[from] PreconditionError),
    /// The script asks for something real networking here cannot do.
    #[error("kernel mode cannot run this script: {0}")]
    Unsupported(String),
    /// Building or changing the namespaces failed.
    #[error("kernel network: {0}")]
    Lab(#[from] LabError),
    /// A host's thread could not be started.
    #[error("cannot start host `{host}`: {reason}")]
    Host { host: String, reason: String },
}
