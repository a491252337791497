//! The pool on a real network: a tonic server on 127.0.0.1, real TCP, the
//! shipped `TcpConnector`, and a tonic-generated client on top of the pool.
//!
//! Users rely on the pool being a drop-in transport for generated clients:
//! unary, server-streaming and health calls work, server statuses reach the
//! caller unchanged, each response says which connection carried it, and
//! shutdown leaves nothing running.

use std::{collections::BTreeSet, net::SocketAddr, time::Duration};

use squall_pool::{Pool, PoolConfig, PoolError, RoutedTo, TcpConnector};
use squall_sim::echo::{
    self,
    proto::{EchoRequest, EchoStreamRequest, echo_client::EchoClient},
};
use tokio::net::TcpListener;
use tokio_stream::{StreamExt, wrappers::TcpListenerStream};
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

async fn start_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let address = listener.local_addr().expect("local addr");
    let routes = echo::routes("loopback").await;
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_routes(routes)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    address
}

/// A pool to `address`, once all its connections are ready (waits at most 5 s).
async fn pool_to(address: SocketAddr, config: PoolConfig) -> Pool {
    let connections = config.connections_per_endpoint;
    let pool = Pool::builder()
        .endpoint(format!("http://{address}"))
        .config(config)
        .build(TcpConnector)
        .expect("valid pool");
    for _ in 0..500 {
        if pool.ready_connections() == connections {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        pool.ready_connections(),
        connections,
        "connections ready within 5 s"
    );
    pool
}

fn connections(n: usize) -> PoolConfig {
    PoolConfig {
        connections_per_endpoint: n,
        ..PoolConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_rpcs_over_real_tcp_then_clean_shutdown() {
    let pool = pool_to(start_server().await, connections(3)).await;
    let mut client = EchoClient::new(pool.clone());

    let mut conns = BTreeSet::new();
    for i in 0..1000 {
        let response = client
            .echo(EchoRequest {
                message: format!("hello {i}"),
                ..Default::default()
            })
            .await
            .expect("echo succeeds");
        let routed = *response
            .extensions()
            .get::<RoutedTo>()
            .expect("routing info");
        conns.insert(routed.conn);
        assert_eq!(response.into_inner().message, format!("hello {i}"));
    }
    assert_eq!(
        conns.len(),
        3,
        "RPCs spread over every connection: {conns:?}"
    );

    let report = pool.shutdown().await;
    assert_eq!(report.tasks_left, 0);
    assert_eq!(pool.ready_connections(), 0);
    let status = client.echo(EchoRequest::default()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(matches!(
        PoolError::from_status(&status),
        Some(PoolError::Shutdown)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_streams_and_health_pass_through() {
    let pool = pool_to(start_server().await, connections(3)).await;
    let mut client = EchoClient::new(pool.clone());

    let status = client
        .echo(EchoRequest {
            fail_code: Code::NotFound as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        Code::NotFound,
        "the server's status, not the pool's"
    );
    assert!(PoolError::from_status(&status).is_none());

    let stream = client
        .echo_stream(EchoStreamRequest {
            message: "tick".into(),
            count: 5,
            ..Default::default()
        })
        .await
        .expect("stream starts")
        .into_inner();
    let replies: Vec<_> = stream.collect().await;
    assert_eq!(replies.len(), 5);
    assert!(
        replies
            .iter()
            .all(|r| r.as_ref().is_ok_and(|r| r.message == "tick"))
    );

    let health = HealthClient::new(pool.clone())
        .check(HealthCheckRequest {
            service: "squall.echo.v1.Echo".into(),
        })
        .await
        .expect("health check");
    assert_eq!(health.into_inner().status(), ServingStatus::Serving);

    assert_eq!(pool.shutdown().await.tasks_left, 0);
}

/// The pool's own deadline (`default_rpc_timeout`, no `grpc-timeout` header,
/// so the server does not race it with its own) fails a call the server is
/// too slow to answer, naming the connection it waited on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pools_deadline_bounds_a_slow_call() {
    let config = PoolConfig {
        default_rpc_timeout: Duration::from_millis(50),
        ..connections(1)
    };
    let pool = pool_to(start_server().await, config).await;
    let status = EchoClient::new(pool.clone())
        .echo(EchoRequest {
            delay_ms: 5_000,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    let error = PoolError::from_status(&status).expect("the pool's own deadline");
    assert!(error.routed().is_some());
    assert_eq!(pool.shutdown().await.tasks_left, 0);
}

/// Sub-second keepalive once failed every dial on Linux
/// (`ConnectFailed(Io(InvalidInput))`: 500 ms handed to TCP_KEEPINTVL, which
/// takes whole seconds). Now the pool connects, PINGs every 300 ms and keeps
/// serving across several keepalive rounds without losing a connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_second_keepalive_connects_and_serves() {
    let config = PoolConfig {
        connections_per_endpoint: 2,
        keepalive: squall_pool::KeepaliveConfig {
            interval: Duration::from_millis(300),
            timeout: Duration::from_millis(500),
            while_idle: true,
        },
        ..PoolConfig::default()
    };
    let pool = pool_to(start_server().await, config).await;
    let mut client = EchoClient::new(pool.clone());
    let mut conns = BTreeSet::new();
    // 1.5 s of RPCs with 100 ms gaps: several keepalive intervals.
    for i in 0..15 {
        let response = client
            .echo(EchoRequest {
                message: format!("ping-paced {i}"),
                ..Default::default()
            })
            .await
            .expect("echo succeeds under sub-second keepalive");
        let routed = *response.extensions().get::<RoutedTo>().expect("RoutedTo");
        conns.insert(routed.conn);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(pool.ready_connections(), 2);
    assert!(conns.len() <= 2, "no connection was replaced: {conns:?}");
    let report = pool.shutdown().await;
    assert_eq!(report.tasks_left, 0);
}

/// A caller's huge timeout means "no deadline", never a panic (issue 18):
/// the pool clamps it to gRPC's largest, `deadline::MAX_GRPC_TIMEOUT`.
/// Before the clamp, `default_rpc_timeout: Duration::MAX` overflowed
/// `Instant + Duration` on the first RPC, and a `max_connection_age` of
/// `Duration::MAX` overflowed its jitter as the first connection became
/// ready. The RPCs below carry the default, the largest header a peer can
/// send, and tonic's own `set_timeout` at the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_timeouts_are_clamped_and_rpcs_succeed() {
    use squall_pool::deadline::MAX_GRPC_TIMEOUT;

    let config = PoolConfig {
        connections_per_endpoint: 1,
        default_rpc_timeout: Duration::MAX,
        max_connection_age: Some(Duration::MAX),
        max_connection_age_grace: Duration::MAX,
        shutdown_grace: Duration::MAX,
        ..PoolConfig::default()
    };
    let pool = pool_to(start_server().await, config).await;
    let mut client = EchoClient::new(pool.clone());
    let echo = || EchoRequest {
        message: "far future".into(),
        ..Default::default()
    };

    let no_header = client.echo(echo()).await.expect("default timeout");
    assert_eq!(no_header.get_ref().message, "far future");

    let mut largest_header = tonic::Request::new(echo());
    largest_header
        .metadata_mut()
        .insert("grpc-timeout", "99999999H".parse().expect("ascii"));
    client.echo(largest_header).await.expect("99999999H");

    let mut at_limit = tonic::Request::new(echo());
    at_limit.set_timeout(MAX_GRPC_TIMEOUT);
    client
        .echo(at_limit)
        .await
        .expect("set_timeout at the limit");

    // Nothing in flight, so the unbounded grace is not waited for.
    assert_eq!(pool.shutdown().await.tasks_left, 0);
}

/// gRPC's CONNECTING semantics: an RPC sent the moment the pool is built,
/// before any connection is ready, waits for the first dial (within its
/// deadline) and succeeds; it does not fail with "no ready connection".
/// And a pool whose every dial is refused fails a fail-fast RPC with
/// UNAVAILABLE once that dial has failed, long before the RPC's deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_rpc_after_build_waits_for_the_first_dial() {
    let address = start_server().await;
    let pool = Pool::builder()
        .endpoint(format!("http://{address}"))
        .config(connections(2))
        .build(TcpConnector)
        .expect("valid pool");
    let mut client = EchoClient::new(pool.clone());
    let mut request = tonic::Request::new(EchoRequest {
        message: "first".into(),
        delay_ms: 0,
        fail_code: 0,
    });
    request.set_timeout(Duration::from_secs(10));
    let reply = client.echo(request).await.expect("the first RPC succeeds");
    assert_eq!(reply.get_ref().message, "first");
    assert_eq!(pool.shutdown().await.tasks_left, 0);

    // Nothing listens here any more: every dial is refused at once.
    let refused = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("local addr")
    };
    let pool = Pool::builder()
        .endpoint(format!("http://{refused}"))
        .build(TcpConnector)
        .expect("valid pool");
    let mut client = EchoClient::new(pool.clone());
    let mut request = tonic::Request::new(EchoRequest::default());
    request.set_timeout(Duration::from_secs(30));
    let sent = std::time::Instant::now();
    let status = client.echo(request).await.expect_err("nothing listens");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        sent.elapsed() < Duration::from_secs(10),
        "failed fast once the dial failed, not at the deadline: {:?}",
        sent.elapsed()
    );
    assert_eq!(pool.shutdown().await.tasks_left, 0);
}
