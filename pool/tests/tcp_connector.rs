//! The tokio connector configures the kernel's dead-peer detection to match
//! the pool's keepalive, so a real socket fails in the kernel too when the
//! peer stops acknowledging (users rely on this behind NATs and firewalls).

use std::time::Duration;

use squall_pool::{Connector, Endpoint, KeepaliveConfig, TcpConnector};
use tokio::net::TcpListener;

#[tokio::test]
async fn sets_nodelay_tcp_keepalive_and_user_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let endpoint = Endpoint::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let keepalive = KeepaliveConfig {
        interval: Duration::from_secs(7),
        timeout: Duration::from_secs(3),
        while_idle: true,
    };

    let stream = TcpConnector::new(keepalive)
        .connect(&endpoint)
        .await
        .expect("connect");

    let socket = socket2::SockRef::from(&stream);
    assert!(stream.nodelay().unwrap());
    assert!(socket.keepalive().unwrap());
    assert_eq!(socket.tcp_keepalive_time().unwrap(), Duration::from_secs(7));
    assert_eq!(
        socket.tcp_keepalive_interval().unwrap(),
        Duration::from_secs(3)
    );
    #[cfg(target_os = "linux")]
    assert_eq!(
        socket.tcp_user_timeout().unwrap(),
        Some(Duration::from_secs(3))
    );
}
