//! Real-namespace tests of topology and cuts: hosts reach each other by
//! their lab addresses, cuts drop exactly what they name, heals restore,
//! and labs leave nothing behind.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use common::{can_run, connect, first_datagram, listen, three_hosts, udp};
use squall_netlab::{Cut, Lab, LabError, LabSpec, NatExpiry, NatSpec, lab_namespaces};

const PORT: u16 = 7000;

#[test]
fn hosts_talk_tcp_by_lab_address_and_are_isolated_from_the_root_namespace() {
    if !can_run() {
        return;
    }
    let lab = three_hosts();
    let client = lab.addr("client").unwrap();
    let server = lab.addr("server-1").unwrap();
    assert_eq!(client, Ipv4Addr::new(198, 18, 1, 2));
    assert_eq!(server, Ipv4Addr::new(198, 18, 2, 2));
    assert_eq!(lab.addr("server-2"), Some(Ipv4Addr::new(198, 18, 3, 2)));
    assert_eq!(lab.addr("nope"), None);
    assert_eq!(lab.host_of(IpAddr::V4(server)), Some("server-1"));
    assert_eq!(
        lab.host_of(IpAddr::V6(client.to_ipv6_mapped())),
        Some("client")
    );
    assert_eq!(lab.host_of(IpAddr::V6(Ipv6Addr::LOCALHOST)), None);
    assert!(lab.id().starts_with(&format!("sq{}x", std::process::id())));

    let listener = listen(&lab, "server-1", PORT);
    let mut stream = connect(
        &lab,
        "client",
        SocketAddr::from((server, PORT)),
        Duration::from_secs(5),
    )
    .expect("connect");
    let (mut accepted, peer) = listener.accept().expect("accept");
    // The router routes, it does not NAT: the server sees the client itself.
    assert_eq!(lab.host_of(peer.ip()), Some("client"));
    stream.write_all(b"hello").unwrap();
    let mut buf = [0u8; 5];
    accepted.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello");

    // A thread that entered a host really is there: only there does the
    // host's address exist, and its loopback is its own (the server's
    // listener is not on the client's 127.0.0.1).
    let std_thread = std::thread::scope(|s| {
        s.spawn(|| {
            lab.enter("client").unwrap();
            (
                UdpSocket::bind((client, 0)).is_ok(),
                std::net::TcpStream::connect(("127.0.0.1", PORT))
                    .map(drop)
                    .map_err(|e| e.kind()),
            )
        })
        .join()
        .unwrap()
    });
    assert_eq!(
        std_thread,
        (true, Err(std::io::ErrorKind::ConnectionRefused))
    );
    // ... while this (root-namespace) thread has no lab address at all.
    assert!(
        UdpSocket::bind((client, 0)).is_err(),
        "lab address leaked into the root namespace"
    );
    assert!(matches!(lab.enter("nope"), Err(LabError::UnknownHost(h)) if h == "nope"));
    lab.destroy().expect("destroy");
}

/// `ip ARGS` output, in the root namespace unless `ARGS` says `-n`.
fn ip(args: &[&str]) -> String {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn in_benchmark_range(addr: &str) -> bool {
    let ip: Ipv4Addr = addr
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap_or(Ipv4Addr::UNSPECIFIED);
    ip.octets()[0] == 198 && (ip.octets()[1] & 0xfe) == 18
}

#[test]
fn only_benchmark_addresses_inside_lab_namespaces_and_nothing_in_the_root() {
    if !can_run() {
        return;
    }
    let root = || {
        [
            ip(&["-o", "link"]),
            ip(&["-o", "addr"]),
            ip(&["route", "show", "table", "all"]),
        ]
    };
    let root_before = root();
    let lab = Lab::create(&LabSpec {
        hosts: vec!["client".into(), "server-1".into()],
        nats: vec![NatSpec {
            name: "nat-1".into(),
            forward_to: "server-1".into(),
            port: PORT,
            idle_timeout: Duration::from_secs(5),
            expiry: NatExpiry::Rst,
        }],
    })
    .expect("create lab");
    for ns in lab.namespaces() {
        // `ip -o addr`: "1: lo    inet 127.0.0.1/8 scope host lo ..."
        let addrs = ip(&["-n", &ns, "-o", "addr", "show"]);
        for line in addrs.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (dev, family, addr) = (fields[1], fields[2], fields[3]);
            assert_eq!(family, "inet", "{ns}: non-IPv4 address: {line}");
            assert!(
                in_benchmark_range(addr) || (dev == "lo" && addr == "127.0.0.1/8"),
                "{ns}: {line}"
            );
        }
        let routes = ip(&["-n", &ns, "-4", "route", "show"]);
        for line in routes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert!(
                fields[0] == "default" || in_benchmark_range(fields[0]),
                "{ns}: {line}"
            );
            if let Some(i) = fields.iter().position(|f| *f == "via") {
                assert!(in_benchmark_range(fields[i + 1]), "{ns}: {line}");
            }
        }
        assert!(
            ip(&["-n", &ns, "-6", "addr", "show"]).trim().is_empty(),
            "{ns} has IPv6 addresses"
        );
    }
    assert_eq!(root(), root_before, "the root namespace changed");
    lab.destroy().expect("destroy");
    assert_eq!(root(), root_before, "the root namespace changed");
}

#[test]
fn partition_drops_both_ways_and_heal_restores() {
    if !can_run() {
        return;
    }
    let lab = three_hosts();
    let server = lab.addr("server-1").unwrap();
    let listener = listen(&lab, "server-1", PORT);
    let mut before = connect(
        &lab,
        "client",
        SocketAddr::from((server, PORT)),
        Duration::from_secs(5),
    )
    .expect("connect");
    let (mut before_server, _) = listener.accept().unwrap();
    let (c, s1, s2) = (
        udp(&lab, "client"),
        udp(&lab, "server-1"),
        udp(&lab, "server-2"),
    );

    let id = lab
        .cut(&Cut::partition(&["client"], &["server-1"]))
        .expect("cut");
    assert_eq!(lab.active_cuts(), vec![id]);
    // The SYN is dropped, so the handshake cannot finish.
    let refused = connect(
        &lab,
        "client",
        SocketAddr::from((server, PORT)),
        Duration::from_millis(300),
    );
    assert_eq!(
        refused.map(drop).map_err(|e| e.kind()),
        Err(std::io::ErrorKind::TimedOut)
    );
    c.send_to(b"lost", s1.local_addr().unwrap()).unwrap();
    s1.send_to(b"lost", c.local_addr().unwrap()).unwrap();
    before.write_all(b"during").unwrap();
    // The cut names server-1 only: server-2 is reachable meanwhile.
    c.send_to(b"ok", s2.local_addr().unwrap()).unwrap();
    assert_eq!(first_datagram(&s2), b"ok");

    lab.heal(id).expect("heal");
    assert!(lab.active_cuts().is_empty());
    c.send_to(b"marker", s1.local_addr().unwrap()).unwrap();
    s1.send_to(b"marker", c.local_addr().unwrap()).unwrap();
    assert_eq!(
        first_datagram(&s1),
        b"marker",
        "client -> server-1 was not dropped"
    );
    assert_eq!(
        first_datagram(&c),
        b"marker",
        "server-1 -> client was not dropped"
    );
    // After the heal new connections work and the established one delivers
    // what was sent during the cut (TCP retransmitted it).
    connect(
        &lab,
        "client",
        SocketAddr::from((server, PORT)),
        Duration::from_secs(5),
    )
    .expect("connect after heal");
    before_server
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 6];
    before_server
        .read_exact(&mut buf)
        .expect("retransmitted data");
    assert_eq!(&buf, b"during");
    assert!(
        matches!(lab.heal(id), Err(LabError::UnknownCut(_))),
        "healing twice"
    );
    lab.destroy().expect("destroy");
}

#[test]
fn one_way_cut_drops_one_direction_only() {
    if !can_run() {
        return;
    }
    let lab = three_hosts();
    let (c, s1) = (udp(&lab, "client"), udp(&lab, "server-1"));
    let id = lab
        .cut(&Cut::one_way(&["client"], &["server-1"]))
        .expect("cut");
    s1.send_to(b"back", c.local_addr().unwrap()).unwrap();
    assert_eq!(
        first_datagram(&c),
        b"back",
        "the reverse direction must pass"
    );
    c.send_to(b"lost", s1.local_addr().unwrap()).unwrap();
    lab.heal(id).unwrap();
    c.send_to(b"marker", s1.local_addr().unwrap()).unwrap();
    assert_eq!(first_datagram(&s1), b"marker");
    lab.destroy().expect("destroy");
}

#[test]
fn cuts_heal_independently() {
    if !can_run() {
        return;
    }
    let lab = three_hosts();
    let (c, s1, s2) = (
        udp(&lab, "client"),
        udp(&lab, "server-1"),
        udp(&lab, "server-2"),
    );
    let to_s1 = lab.cut(&Cut::one_way(&["client"], &["server-1"])).unwrap();
    let to_s2 = lab.cut(&Cut::one_way(&["client"], &["server-2"])).unwrap();
    lab.heal(to_s1).unwrap();
    assert_eq!(lab.active_cuts(), vec![to_s2]);
    c.send_to(b"ok", s1.local_addr().unwrap()).unwrap();
    assert_eq!(first_datagram(&s1), b"ok", "healed cut still drops");
    c.send_to(b"lost", s2.local_addr().unwrap()).unwrap();
    lab.heal(to_s2).unwrap();
    c.send_to(b"marker", s2.local_addr().unwrap()).unwrap();
    assert_eq!(
        first_datagram(&s2),
        b"marker",
        "the other cut stopped dropping when the first was healed"
    );

    // Bad cuts are errors, not panics, and leave no rule behind.
    assert!(
        matches!(lab.cut(&Cut::one_way(&["client"], &["ghost"])), Err(LabError::UnknownHost(h)) if h == "ghost")
    );
    assert!(matches!(
        lab.cut(&Cut::one_way(&[], &["client"])),
        Err(LabError::InvalidCut(_))
    ));
    let too_lossy = Cut {
        loss_permille: 1001,
        ..Cut::one_way(&["client"], &["server-1"])
    };
    assert!(matches!(lab.cut(&too_lossy), Err(LabError::InvalidCut(_))));
    assert!(lab.active_cuts().is_empty());
    lab.destroy().expect("destroy");
}

#[test]
fn lossy_cut_drops_some_but_not_all() {
    if !can_run() {
        return;
    }
    const SENT: u32 = 200;
    let lab = three_hosts();
    let (c, s1) = (udp(&lab, "client"), udp(&lab, "server-1"));
    let id = lab
        .cut(&Cut {
            loss_permille: 500,
            ..Cut::one_way(&["client"], &["server-1"])
        })
        .unwrap();
    let to = s1.local_addr().unwrap();
    let received = std::thread::scope(|scope| {
        // Drain concurrently so the receive buffer never overflows (which
        // would be loss the cut did not cause).
        let reader = scope.spawn(|| {
            let mut count = 0u32;
            while first_datagram(&s1) != b"marker" {
                count += 1;
            }
            count
        });
        for i in 0..SENT {
            c.send_to(&i.to_be_bytes(), to).unwrap();
        }
        lab.heal(id).unwrap();
        c.send_to(b"marker", to).unwrap();
        reader.join().unwrap()
    });
    // Binomial(200, 0.5): mean 100, sd ~7; 40..=160 is over 8 sd either way.
    assert!(
        (40..=160).contains(&received),
        "{received} of {SENT} arrived through a 50% loss cut"
    );
    lab.destroy().expect("destroy");
}

#[test]
fn destroy_removes_every_namespace() {
    if !can_run() {
        return;
    }
    let lab = three_hosts();
    let names = lab.namespaces();
    assert_eq!(names.len(), 4, "router + 3 hosts: {names:?}");
    assert!(
        names
            .iter()
            .all(|n| n.starts_with(&format!("{}-", lab.id())))
    );
    let before = lab_namespaces();
    assert!(
        names.iter().all(|n| before.contains(n)),
        "{names:?} not all in {before:?}"
    );
    lab.cut(&Cut::partition(&["client"], &["server-1"]))
        .unwrap();
    lab.destroy().expect("destroy");
    let after = lab_namespaces();
    assert!(
        names.iter().all(|n| !after.contains(n)),
        "left behind: {after:?}"
    );
}

#[test]
fn a_lab_dropped_while_panicking_leaves_nothing() {
    if !can_run() {
        return;
    }
    let names = std::sync::Mutex::new(Vec::new());
    let result = std::panic::catch_unwind(|| {
        let lab = three_hosts();
        *names.lock().unwrap() = lab.namespaces();
        panic!("a test failing mid-run");
    });
    assert!(result.is_err());
    let names = names.into_inner().unwrap();
    assert_eq!(names.len(), 4);
    let after = lab_namespaces();
    assert!(
        names.iter().all(|n| !after.contains(n)),
        "left behind: {after:?}"
    );
}

#[test]
fn bad_specs_are_errors() {
    if !can_run() {
        return;
    }
    for hosts in [&["client", "client"][..], &["net"], &["a/b"], &[""]] {
        let result = Lab::create(&common::spec(hosts));
        assert!(
            matches!(result, Err(LabError::InvalidSpec(_))),
            "{hosts:?}: {result:?}"
        );
    }
}
