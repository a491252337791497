//! Small waiting helpers shared by the pool's tasks.

use tokio::{
    sync::watch,
    time::{Instant, sleep_until},
};

/// Resolves once the pool's shutdown signal is set.
pub(crate) async fn for_shutdown(signal: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, which only happens with the pool.
    let _ = signal.wait_for(|shutting_down| *shutting_down).await;
}

/// Sleeps until `at`, or forever when there is nothing to wake up for.
pub(crate) async fn until_some(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}
