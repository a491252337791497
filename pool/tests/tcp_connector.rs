//! The tokio connector configures the kernel's dead-peer detection to match
//! the pool's keepalive, so a real socket fails in the kernel too when the
//! peer stops acknowledging (users rely on this behind NATs and firewalls),
//! and every keepalive the builder accepts is one Linux takes.

use std::time::Duration;

use squall_pool::{Connector, Endpoint, KeepaliveConfig, SocketOptions, TcpConnector};
use tokio::net::{TcpListener, TcpStream};

async fn connect_with(keepalive: KeepaliveConfig) -> TcpStream {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let endpoint = Endpoint::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    TcpConnector
        .connect(&endpoint, &SocketOptions::for_keepalive(&keepalive))
        .await
        .expect("connect")
}

#[tokio::test]
async fn sets_nodelay_tcp_keepalive_and_user_timeout() {
    let stream = connect_with(KeepaliveConfig {
        interval: Duration::from_secs(7),
        timeout: Duration::from_secs(3),
        while_idle: true,
    })
    .await;

    let socket = socket2::SockRef::from(&stream);
    assert!(stream.nodelay().unwrap());
    assert!(socket.keepalive().unwrap());
    assert_eq!(socket.tcp_keepalive_time().unwrap(), Duration::from_secs(7));
    assert_eq!(
        socket.tcp_keepalive_interval().unwrap(),
        Duration::from_secs(3)
    );
    #[cfg(target_os = "linux")]
    assert_eq!(socket.tcp_keepalive_retries().unwrap(), 9);
    #[cfg(target_os = "linux")]
    assert_eq!(
        socket.tcp_user_timeout().unwrap(),
        Some(Duration::from_secs(3))
    );
}

/// Linux takes TCP keepalive times in whole seconds and refuses 0 with
/// `EINVAL`; a 500 ms keepalive timeout once failed every dial this way.
#[tokio::test]
async fn sub_second_keepalive_connects_with_whole_second_probes_and_a_millisecond_user_timeout() {
    let stream = connect_with(KeepaliveConfig {
        interval: Duration::from_millis(300),
        timeout: Duration::from_millis(500),
        while_idle: true,
    })
    .await;

    let socket = socket2::SockRef::from(&stream);
    assert_eq!(socket.tcp_keepalive_time().unwrap(), Duration::from_secs(1));
    assert_eq!(
        socket.tcp_keepalive_interval().unwrap(),
        Duration::from_secs(1)
    );
    #[cfg(target_os = "linux")]
    assert_eq!(
        socket.tcp_user_timeout().unwrap(),
        Some(Duration::from_millis(500))
    );
}

/// The largest keepalive the builder accepts is one Linux accepts too.
#[tokio::test]
async fn the_largest_accepted_keepalive_connects() {
    let max = Duration::from_secs(squall_pool::socket::MAX_TCP_KEEPALIVE_SECS);
    let stream = connect_with(KeepaliveConfig {
        interval: max,
        timeout: max,
        while_idle: true,
    })
    .await;
    let socket = socket2::SockRef::from(&stream);
    assert_eq!(socket.tcp_keepalive_time().unwrap(), max);
}
