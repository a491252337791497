//! The server's `grpc.health.v1` service, following the health status the
//! driver sets on the server's control channel ([`Behaviour::not_serving`]).

use tokio::sync::watch;
use tonic::service::Routes;
use tonic_health::{ServingStatus, server::HealthReporter};

use super::Behaviour;
use crate::echo::{EchoService, proto::echo_server::EchoServer};

/// The echo service and a health service that reports what `behaviour`
/// says, for the whole server (`""`) and for the echo service.
pub(super) async fn echo_with_health(
    echo: EchoService,
    behaviour: watch::Receiver<Behaviour>,
) -> Routes {
    add_health(Routes::new(EchoServer::new(echo)), behaviour).await
}

/// `routes` and a health service that reports what `behaviour` says, for
/// the whole server (`""`) and for the echo service's name (a user's
/// service is asked about as the whole server).
pub(super) async fn add_health(routes: Routes, behaviour: watch::Receiver<Behaviour>) -> Routes {
    let (reporter, health) = tonic_health::server::health_reporter();
    publish(&reporter, behaviour.borrow().not_serving).await;
    tokio::spawn(follow(reporter, behaviour));
    routes.add_service(health)
}

/// Republishes the status on every change, until the driver is gone or the
/// host crashes (which drops this task with the others).
async fn follow(reporter: HealthReporter, mut behaviour: watch::Receiver<Behaviour>) {
    let mut last = behaviour.borrow_and_update().not_serving;
    while behaviour.changed().await.is_ok() {
        let now = behaviour.borrow_and_update().not_serving;
        if now != last {
            publish(&reporter, now).await;
            last = now;
        }
    }
}

async fn publish(reporter: &HealthReporter, not_serving: bool) {
    let status = if not_serving {
        ServingStatus::NotServing
    } else {
        ServingStatus::Serving
    };
    reporter.set_service_status("", status).await;
    reporter
        .set_service_status(
            <EchoServer<EchoService> as tonic::server::NamedService>::NAME,
            status,
        )
        .await;
}
