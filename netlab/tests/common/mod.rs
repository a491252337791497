//! Shared helpers for the real-namespace tests: the root-or-skip gate, lab
//! specs, and sockets made inside a host's namespace.
#![allow(dead_code)] // each test binary uses a different subset

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use squall_netlab::{Lab, LabSpec};

/// Whether the machine can run labs. Without privilege a test prints why
/// and returns early, except under `CI=true`, where skipping would hide a
/// broken runner, so it fails instead.
pub fn can_run() -> bool {
    match squall_netlab::check_preconditions() {
        Ok(()) => true,
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true, but network labs cannot run here:\n{e}")
        }
        Err(e) => {
            eprintln!("skipping: network labs cannot run here:\n{e}");
            false
        }
    }
}

/// Hosts only, no NATs.
pub fn spec(hosts: &[&str]) -> LabSpec {
    LabSpec {
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        nats: vec![],
    }
}

/// A lab with client, server-1 and server-2.
pub fn three_hosts() -> Lab {
    Lab::create(&spec(&["client", "server-1", "server-2"])).expect("create lab")
}

/// A UDP socket bound in `host`'s namespace on its own address.
pub fn udp(lab: &Lab, host: &str) -> UdpSocket {
    let addr = lab.addr(host).expect("known host");
    let socket = lab
        .run_in(host, || UdpSocket::bind((addr, 0)))
        .expect("enter")
        .expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    socket
}

/// A TCP listener in `host`'s namespace on all its addresses.
pub fn listen(lab: &Lab, host: &str, port: u16) -> TcpListener {
    lab.run_in(host, || TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)))
        .expect("enter")
        .expect("listen")
}

/// A TCP connection attempt from `host`'s namespace.
pub fn connect(
    lab: &Lab,
    host: &str,
    to: SocketAddr,
    timeout: Duration,
) -> std::io::Result<TcpStream> {
    lab.run_in(host, || TcpStream::connect_timeout(&to, timeout))
        .expect("enter")
}

/// Proves that a datagram sent while a cut was in force was dropped,
/// without waiting for a timeout: `send_lost` runs under the cut, then
/// `heal` removes it, then a marker follows on the same path. Delivery over
/// veths is in order, so if the first datagram to arrive is the marker,
/// the earlier one never will.
pub fn first_datagram(receiver: &UdpSocket) -> Vec<u8> {
    let mut buf = [0u8; 64];
    let (n, _) = receiver.recv_from(&mut buf).expect("a datagram arrives");
    buf[..n].to_vec()
}
