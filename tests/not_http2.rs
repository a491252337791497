//! A peer that does not speak HTTP/2, on real loopback TCP.
//!
//! Users pointing the pool at the wrong port (an HTTP/1.1 server, a TLS
//! port) rely on being told so: the RPC fails with UNAVAILABLE whose
//! `PoolError` is `NotHttp2`, carrying the first bytes the peer sent, and
//! the connection closes with `cause=not_http2`, rather than a generic
//! transport error.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use squall_pool::{
    BackoffConfig, CloseCause, ConnEvent, EventKind, Pool, PoolConfig, PoolError, PoolEvent,
    TcpConnector, WaitForReady,
};
use squall_sim::echo::proto::{EchoRequest, echo_client::EchoClient};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};
use tonic::Code;

/// A server on 127.0.0.1 that reads the client's first bytes, answers
/// every connection with `reply`, and keeps it open until the client
/// closes it (closing with unread data would reset the connection and
/// could discard the reply).
async fn wrong_server(reply: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                if socket.read(&mut buf).await.unwrap_or(0) == 0 {
                    return;
                }
                let _ = socket.write_all(reply).await;
                while socket.read(&mut buf).await.is_ok_and(|n| n > 0) {}
            });
        }
    });
    address
}

/// One wait-for-ready RPC to a server answering `reply`; returns its
/// error and the close causes the pool recorded.
async fn call(reply: &'static [u8]) -> (tonic::Status, Vec<CloseCause>) {
    let address = wrong_server(reply).await;
    let closed: Arc<Mutex<Vec<CloseCause>>> = Arc::default();
    let sink = Arc::clone(&closed);
    let config = PoolConfig {
        connections_per_endpoint: 1,
        // Quick redials, so the RPC's attempts on new connections are fast.
        backoff: BackoffConfig {
            initial: Duration::from_millis(10),
            ..BackoffConfig::default()
        },
        ..PoolConfig::default()
    };
    let pool = Pool::builder()
        .endpoint(format!("http://{address}"))
        .config(config)
        .on_event(move |e: &PoolEvent| {
            if let EventKind::Conn {
                event: ConnEvent::Closed { cause },
                ..
            } = &e.kind
            {
                sink.lock().unwrap().push(cause.clone());
            }
        })
        .build(TcpConnector)
        .expect("valid pool");
    let mut request = tonic::Request::new(EchoRequest::default());
    request.set_timeout(Duration::from_secs(10));
    request.extensions_mut().insert(WaitForReady);
    let status = EchoClient::new(pool.clone())
        .echo(request)
        .await
        .expect_err("the peer is not an HTTP/2 server");
    assert_eq!(pool.shutdown().await.tasks_left, 0);
    let closed = closed.lock().unwrap().clone();
    (status, closed)
}

#[tokio::test]
async fn an_http1_server_is_reported_as_not_http2() {
    let (status, closed) =
        call(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status.code(), Code::Unavailable);
    let Some(PoolError::NotHttp2 { first_bytes, .. }) = PoolError::from_status(&status) else {
        panic!("expected NotHttp2, got {status:?}");
    };
    assert_eq!(first_bytes.as_slice(), b"HTTP/1.1 400 Bad");
    assert!(
        status.message().contains("does not speak HTTP/2"),
        "{}",
        status.message()
    );
    assert!(closed.contains(&CloseCause::NotHttp2 {
        first_bytes: b"HTTP/1.1 400 Bad".to_vec()
    }));
    assert_eq!(
        closed[0].to_string(),
        r#"not_http2 first_bytes="HTTP/1.1 400 Bad""#
    );
}

#[tokio::test]
async fn a_tls_port_is_reported_as_not_http2() {
    // A TLS ServerHello record's start: handshake (0x16), TLS 1.2 (0x0303).
    let (status, closed) = call(&[0x16, 0x03, 0x03, 0x00, 0x5a, 0x02, 0x00, 0x00, 0x56]).await;
    assert_eq!(status.code(), Code::Unavailable);
    let Some(PoolError::NotHttp2 { first_bytes, .. }) = PoolError::from_status(&status) else {
        panic!("expected NotHttp2, got {status:?}");
    };
    assert_eq!(first_bytes[..2], [0x16, 0x03]);
    assert!(
        closed
            .iter()
            .all(|c| matches!(c, CloseCause::NotHttp2 { .. } | CloseCause::Shutdown)),
        "{closed:?}"
    );
}
