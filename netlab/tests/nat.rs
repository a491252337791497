//! Real-namespace tests of the NAT model: flows through it work and look
//! like they come from the NAT, an idle flow is forgotten after the idle
//! timeout (reset or silence, as configured), and an active one is not.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{can_run, connect, listen};
use squall_netlab::{Lab, LabSpec, NatExpiry, NatSpec};

const PORT: u16 = 7000;
const IDLE: Duration = Duration::from_secs(2);
/// Idle this long to be sure conntrack (1 s resolution) has forgotten.
const IDLE_WAIT: Duration = Duration::from_secs(3);

fn nat_lab(expiry: NatExpiry) -> Lab {
    Lab::create(&LabSpec {
        hosts: vec!["client".into(), "server-1".into()],
        nats: vec![NatSpec {
            name: "nat-1".into(),
            forward_to: "server-1".into(),
            port: PORT,
            idle_timeout: IDLE,
            expiry,
        }],
    })
    .expect("create lab")
}

/// An echo server in server-1; reports each accepted peer address.
fn echo_server(lab: &Lab) -> mpsc::Receiver<SocketAddr> {
    let listener = listen(lab, "server-1", PORT);
    let (peers, peers_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().filter_map(Result::ok) {
            let Ok(peer) = stream.peer_addr() else {
                continue;
            };
            if peers.send(peer).is_err() {
                return;
            }
            std::thread::spawn(move || {
                let mut buf = [0u8; 64];
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    if stream.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    peers_rx
}

fn echo(stream: &mut TcpStream, message: &[u8]) -> std::io::Result<()> {
    stream.write_all(message)?;
    let mut buf = vec![0u8; message.len()];
    stream.read_exact(&mut buf)?;
    assert_eq!(buf, message);
    Ok(())
}

/// Two flows through the NAT: one idles past the timeout, one keeps
/// talking. Returns the idle one after the wait, and checks the NAT's
/// setup (masquerade, conntrack sysctls in its own namespace only).
fn idle_past_timeout(lab: &Lab) -> TcpStream {
    let root_timeout =
        std::fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established")
            .unwrap();
    let peers = echo_server(lab);
    let nat = SocketAddr::from((lab.addr("nat-1").unwrap(), PORT));
    let mut idle =
        connect(lab, "client", nat, Duration::from_secs(5)).expect("connect through the NAT");
    let mut busy =
        connect(lab, "client", nat, Duration::from_secs(5)).expect("connect through the NAT");
    for stream in [&idle, &busy] {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
    }
    echo(&mut idle, b"hello").expect("echo through the NAT");
    echo(&mut busy, b"hello").expect("echo through the NAT");
    // MASQUERADE: the server sees the NAT, not the client.
    for _ in 0..2 {
        let peer = peers.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(lab.host_of(peer.ip()), Some("nat-1"));
    }
    assert_eq!(
        lab.sysctl(
            "nat-1",
            "net.netfilter.nf_conntrack_tcp_timeout_established"
        )
        .unwrap(),
        "2"
    );
    assert_eq!(
        lab.sysctl("nat-1", "net.netfilter.nf_conntrack_tcp_loose")
            .unwrap(),
        "0"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established")
            .unwrap(),
        root_timeout,
        "the root namespace's conntrack must not change"
    );

    // The idle wait is spent keeping the other flow busy, which also shows
    // that only *idle* flows are forgotten.
    let start = Instant::now();
    while start.elapsed() < IDLE_WAIT {
        echo(&mut busy, b"tick").expect("a busy flow survives the idle timeout");
        std::thread::sleep(Duration::from_millis(250));
    }
    echo(&mut busy, b"still here").expect("a busy flow survives the idle timeout");
    idle
}

#[test]
fn rst_nat_resets_a_forgotten_flow() {
    if !can_run() {
        return;
    }
    let lab = nat_lab(NatExpiry::Rst);
    let mut idle = idle_past_timeout(&lab);
    let outcome = echo(&mut idle, b"again").map_err(|e| e.kind());
    assert_eq!(
        outcome,
        Err(ErrorKind::ConnectionReset),
        "a forgotten flow must be reset"
    );
    lab.destroy().expect("destroy");
}

#[test]
fn silent_nat_drops_a_forgotten_flow() {
    if !can_run() {
        return;
    }
    let lab = nat_lab(NatExpiry::Silent);
    let mut idle = idle_past_timeout(&lab);
    idle.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let outcome = echo(&mut idle, b"again").map_err(|e| e.kind());
    // No echo and no reset: the retransmissions vanish.
    assert!(
        matches!(outcome, Err(ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "{outcome:?}"
    );
    lab.destroy().expect("destroy");
}
