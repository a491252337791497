use crate::envelope::{hex, Datagram, Protocol, Segment, Syn};
#[cfg(feature = "unstable-fs")]
use crate::fs::{Fs, FsConfig};
use crate::net::tcp::handshake::{Connecting, HalfOpen, SynExpiry, SynTimer};
use crate::net::tcp::keepalive::{Keepalive, KeepaliveExpiry};
use crate::net::tcp::rtx::{Expiry, Payload, Rtx, SocketStatus};
use crate::net::tcp::stream::BidiFlowControl;
use crate::net::tcp::forget::MAX_DROPPED_FLOWS;
use crate::net::tcp::{Forgotten, TcpKeepalive, TcpRetransmission};
use crate::net::{SocketPair, TcpListener, UdpSocket};
use crate::{Envelope, TRACING_TARGET};

use bytes::Bytes;
use indexmap::{IndexMap, IndexSet};
use std::collections::VecDeque;
use std::fmt::Display;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::Arc;
#[cfg(feature = "unstable-fs")]
use std::sync::Mutex;
use tokio::sync::{mpsc, Notify};
use tokio::time::{Duration, Instant};

const DEFAULT_BROADCAST: bool = false;
const DEFAULT_MULTICAST_LOOP: bool = true;

/// A host in the simulated network.
///
/// Hosts have [`Udp`] and [`Tcp`] software available for networking.
///
/// Both modes may be used simultaneously.
pub(crate) struct Host {
    /// Host name.
    pub(crate) nodename: String,

    /// Host ip address.
    pub(crate) addr: IpAddr,

    /// Tracks elapsed time for host and overall simulation.
    pub(crate) timer: HostTimer,

    /// L4 User Datagram Protocol (UDP).
    pub(crate) udp: Udp,

    /// L4 Transmission Control Protocol (TCP).
    pub(crate) tcp: Tcp,

    /// Simulated filesystem.
    #[cfg(feature = "unstable-fs")]
    pub(crate) fs: Arc<Mutex<Fs>>,

    next_ephemeral_port: u16,
    ephemeral_ports: RangeInclusive<u16>,
}

impl Host {
    #[cfg(feature = "unstable-fs")]
    pub(crate) fn new(
        nodename: impl Into<String>,
        addr: IpAddr,
        timer: HostTimer,
        ephemeral_ports: RangeInclusive<u16>,
        tcp_capacity: usize,
        udp_capacity: usize,
        fs_config: FsConfig,
        tcp_retransmission: Option<TcpRetransmission>,
    ) -> Host {
        Host {
            nodename: nodename.into(),
            addr,
            udp: Udp::new(udp_capacity),
            tcp: Tcp::new(tcp_capacity, tcp_retransmission),
            fs: Arc::new(Mutex::new(Fs::new(fs_config))),
            timer,
            next_ephemeral_port: *ephemeral_ports.start(),
            ephemeral_ports,
        }
    }

    #[cfg(not(feature = "unstable-fs"))]
    pub(crate) fn new(
        nodename: impl Into<String>,
        addr: IpAddr,
        timer: HostTimer,
        ephemeral_ports: RangeInclusive<u16>,
        tcp_capacity: usize,
        udp_capacity: usize,
        tcp_retransmission: Option<TcpRetransmission>,
    ) -> Host {
        Host {
            nodename: nodename.into(),
            addr,
            udp: Udp::new(udp_capacity),
            tcp: Tcp::new(tcp_capacity, tcp_retransmission),
            timer,
            next_ephemeral_port: *ephemeral_ports.start(),
            ephemeral_ports,
        }
    }

    pub(crate) fn assign_ephemeral_port(&mut self) -> u16 {
        for _ in self.ephemeral_ports.clone() {
            let ret = self.next_ephemeral_port;

            if self.next_ephemeral_port == *self.ephemeral_ports.end() {
                // re-load
                self.next_ephemeral_port = *self.ephemeral_ports.start();
            } else {
                // advance
                self.next_ephemeral_port += 1;
            }

            // Check for existing binds and connections to avoid port conflicts
            if self.udp.is_port_assigned(ret) || self.tcp.is_port_assigned(ret) {
                continue;
            }

            return ret;
        }

        panic!("Host: '{}' ports exhausted", self.nodename)
    }

    /// Receive the `envelope` from the network.
    ///
    /// Returns an Err if a message needs to be sent in response to a failed
    /// delivery, e.g. TCP RST.
    // FIXME: This funkiness is necessary due to how message sending works. The
    // key problem is that the Host doesn't actually send messages, rather the
    // World is borrowed, and it sends.
    pub(crate) fn receive_from_network(&mut self, envelope: Envelope) -> Result<(), Protocol> {
        let Envelope { src, dst, message } = envelope;

        tracing::trace!(target: TRACING_TARGET, ?src, ?dst, protocol = %message, "Delivered");

        match message {
            Protocol::Tcp(segment) => self.tcp.receive_from_network(src, dst, segment),
            Protocol::Udp(datagram) => {
                self.udp.receive_from_network(src, dst, datagram);
                Ok(())
            }
        }
    }
}

pub(crate) struct HostTimer {
    /// Host elapsed time.
    elapsed: Duration,

    /// Set each time the software is run.
    now: Option<Instant>,

    /// Time from the start of the simulation until this host was initialized.
    /// Used to calculate total simulation time below.
    start_offset: Duration,

    /// Simulation duration since unix epoch. Set when the simulation is
    /// created.
    since_epoch: Duration,
}

impl HostTimer {
    pub(crate) fn new(start_offset: Duration, since_epoch: Duration) -> Self {
        Self {
            elapsed: Duration::ZERO,
            now: None,
            start_offset,
            since_epoch,
        }
    }

    pub(crate) fn tick(&mut self, duration: Duration) {
        self.elapsed += duration
    }

    /// Set a new `Instant` for each iteration of the simulation. `elapsed` is
    /// updated after each iteration via `tick()`, where as this value is
    /// necessary to accurately calculate elapsed time while the software is
    /// running.
    ///
    /// This is required to track logical time across host restarts as a single
    /// `Instant` resets when the tokio runtime is recreated.
    pub(crate) fn now(&mut self, now: Instant) {
        self.now.replace(now);
    }

    /// Returns how long the host has been executing for in virtual time.
    pub(crate) fn elapsed(&self) -> Duration {
        let run_duration = self.now.expect("host instant not set").elapsed();
        self.elapsed + run_duration
    }

    /// Returns the total simulation virtual time. If the simulation ran for
    /// some time before this host was registered then sim_elapsed > elapsed.
    pub(crate) fn sim_elapsed(&self) -> Duration {
        self.start_offset + self.elapsed()
    }

    /// The logical duration from [`UNIX_EPOCH`] until now.
    ///
    /// On creation the simulation picks a `SystemTime` and calculates the
    /// duration since the epoch. Each `run()` invocation moves logical time
    /// forward the configured tick duration.
    pub(crate) fn since_epoch(&self) -> Duration {
        self.since_epoch + self.sim_elapsed()
    }
}

/// Simulated UDP host software.
pub(crate) struct Udp {
    /// Bound udp sockets
    binds: IndexMap<u16, UdpBind>,

    /// UdpSocket channel capacity
    capacity: usize,
}

struct UdpBind {
    bind_addr: SocketAddr,
    target_addr: Option<SocketAddr>,
    broadcast: bool,
    multicast_loop: bool,
    queue: mpsc::Sender<(Datagram, SocketAddr)>,
}

impl Udp {
    fn new(capacity: usize) -> Self {
        Self {
            binds: IndexMap::new(),
            capacity,
        }
    }

    pub(crate) fn is_port_assigned(&self, port: u16) -> bool {
        self.binds.keys().any(|p| *p == port)
    }

    pub(crate) fn is_broadcast_enabled(&self, port: u16) -> bool {
        self.binds
            .get(&port)
            .map(|bind| bind.broadcast)
            .unwrap_or(DEFAULT_BROADCAST)
    }

    pub(crate) fn is_multicast_loop_enabled(&self, port: u16) -> bool {
        self.binds
            .get(&port)
            .map(|bind| bind.multicast_loop)
            .unwrap_or(DEFAULT_MULTICAST_LOOP)
    }

    pub(crate) fn set_broadcast(&mut self, port: u16, on: bool) {
        self.binds
            .entry(port)
            .and_modify(|bind| bind.broadcast = on);
    }

    pub(crate) fn set_multicast_loop(&mut self, port: u16, on: bool) {
        self.binds
            .entry(port)
            .and_modify(|bind| bind.multicast_loop = on);
    }

    pub(crate) fn bind(&mut self, addr: SocketAddr) -> io::Result<UdpSocket> {
        let (tx, rx) = mpsc::channel(self.capacity);
        let bind = UdpBind {
            bind_addr: addr,
            target_addr: None,
            broadcast: DEFAULT_BROADCAST,
            multicast_loop: DEFAULT_MULTICAST_LOOP,
            queue: tx,
        };

        match self.binds.entry(addr.port()) {
            indexmap::map::Entry::Occupied(_) => {
                return Err(io::Error::new(io::ErrorKind::AddrInUse, addr.to_string()));
            }
            indexmap::map::Entry::Vacant(entry) => entry.insert(bind),
        };

        tracing::info!(target: TRACING_TARGET, ?addr, protocol = %"UDP", "Bind");

        Ok(UdpSocket::new(addr, rx))
    }
    pub(crate) fn connect(&mut self, src: SocketAddr, dst: SocketAddr) {
        let Some(bind) = self.binds.get_mut(&src.port()) else {
            panic!("Connect failed (no matching bind) for {src}");
        };

        bind.target_addr = Some(dst);
    }

    fn receive_from_network(&mut self, src: SocketAddr, dst: SocketAddr, datagram: Datagram) {
        if let Some(bind) = self.binds.get_mut(&dst.port()) {
            if let Some(target) = bind.target_addr {
                if !matches(target, src) {
                    tracing::trace!(target: TRACING_TARGET, ?src, ?dst, protocol = %Protocol::Udp(datagram), "Dropped (Connect Addr not matching)");
                    return;
                }
            }

            if !matches(bind.bind_addr, dst) {
                tracing::trace!(target: TRACING_TARGET, ?src, ?dst, protocol = %Protocol::Udp(datagram), "Dropped (Addr not bound)");
                return;
            }
            if let Err(err) = bind.queue.try_send((datagram, src)) {
                // drop any packets that exceed the capacity
                match err {
                    mpsc::error::TrySendError::Full((datagram, _)) => {
                        tracing::trace!(target: TRACING_TARGET, ?src, ?dst, protocol = %Protocol::Udp(datagram), "Dropped (Full buffer)");
                    }
                    mpsc::error::TrySendError::Closed((datagram, _)) => {
                        tracing::trace!(target: TRACING_TARGET, ?src, ?dst, protocol = %Protocol::Udp(datagram), "Dropped (Receiver closed)");
                    }
                }
            }
        }
    }

    pub(crate) fn unbind(&mut self, addr: SocketAddr) {
        let exists = self.binds.swap_remove(&addr.port());

        assert!(exists.is_some(), "unknown bind {addr}");

        tracing::info!(target: TRACING_TARGET, ?addr, protocol = %"UDP", "Unbind");
    }
}

pub(crate) struct Tcp {
    /// Bound server sockets
    binds: IndexMap<u16, ServerSocket>,

    /// TcpListener channel capacity
    server_socket_capacity: usize,

    /// Active stream sockets
    sockets: IndexMap<SocketPair, StreamSocket>,

    /// TcpStream channel capacity
    socket_capacity: usize,

    /// Squall fork: acknowledgement and retransmission, if turned on.
    retransmission: Option<TcpRetransmission>,

    /// Squall fork: the retransmission clock, the simulation's elapsed time
    /// at the start of the current step (`World::set_tcp_clock`).
    clock: Duration,

    /// Squall fork: connections forgotten with [`Forgotten::Dropped`], whose
    /// later segments are dropped without an answer; oldest first, at most
    /// [`MAX_DROPPED_FLOWS`].
    dropped_flows: IndexSet<SocketPair>,
}

struct ServerSocket {
    bind_addr: SocketAddr,

    /// Notify the TcpListener when SYNs are delivered
    notify: Arc<Notify>,

    /// Pending connections for the TcpListener to accept
    deque: VecDeque<(Syn, SocketAddr)>,

    /// Squall fork, handshake as packets: connections answered with a
    /// SYN-ACK and waiting for the client's ACK, by client address.
    half_open: IndexMap<SocketAddr, HalfOpen>,

    /// Squall fork, handshake as packets: connections whose handshake is
    /// complete, in the order they completed, for `accept()` to return.
    /// Their stream sockets exist already, so data may arrive before
    /// `accept()` is called, as on Linux.
    established: VecDeque<Accepted>,
}

/// Squall fork: a connection in a listener's accept queue.
pub(crate) struct Accepted {
    pub(crate) pair: SocketPair,
    pub(crate) rx: mpsc::Receiver<SequencedSegment>,
    pub(crate) flow_control: BidiFlowControl,
    pub(crate) status: Arc<SocketStatus>,
}

struct StreamSocket {
    buf: IndexMap<u64, SequencedSegment>,
    next_send_seq: u64,
    recv_seq: u64,
    sender: mpsc::Sender<SequencedSegment>,
    flow_control: BidiFlowControl,
    /// A simple reference counter for tracking read/write half drops. Once 0, the
    /// socket may be removed from the host.
    ref_ct: usize,
    /// Squall fork: what was sent and not yet acknowledged, for
    /// retransmission. `None` with retransmission off, and for loopback
    /// (which loses nothing).
    rtx: Option<Rtx>,
    /// Squall fork: the user timeout, and why the socket was aborted,
    /// shared with the stream's halves.
    status: Arc<SocketStatus>,
    /// Squall fork: set while a client socket waits for its SYN-ACK.
    connecting: Option<Connecting>,
    /// Squall fork: the keepalive timer, when the application turned it on.
    keepalive: Option<Keepalive>,
    /// Squall fork: when the socket last received anything (its creation
    /// until then), for keepalive.
    last_recv: Duration,
}

/// Stripped down version of [`Segment`] for delivery out to the application
/// layer.
#[derive(Debug)]
pub(crate) enum SequencedSegment {
    Data(Bytes),
    Fin,
}

impl Display for SequencedSegment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SequencedSegment::Data(data) => hex("TCP", data, f),
            SequencedSegment::Fin => write!(f, "TCP FIN"),
        }
    }
}

impl StreamSocket {
    fn new(
        capacity: usize,
        rtx: Option<Rtx>,
    ) -> (Self, mpsc::Receiver<SequencedSegment>, BidiFlowControl) {
        let (tx, rx) = mpsc::channel(capacity);
        let flow_control = BidiFlowControl::new(capacity);
        let sock = Self {
            buf: IndexMap::new(),
            next_send_seq: 1,
            recv_seq: 0,
            sender: tx,
            flow_control: flow_control.clone(),
            ref_ct: 2,
            status: Arc::new(SocketStatus::new(rtx.is_some())),
            rtx,
            connecting: None,
            keepalive: None,
            last_recv: Duration::ZERO,
        };

        (sock, rx, flow_control)
    }

    /// Squall fork: accept a data or FIN segment. With retransmission on, a
    /// segment already accepted (a retransmission whose first copy arrived,
    /// or whose ACK was lost) is dropped, and every arrival is answered with
    /// a cumulative ACK, returned as the reply to send.
    fn receive(&mut self, seq: u64, segment: SequencedSegment) -> Result<(), Protocol> {
        if self.rtx.is_none() {
            return self.buffer(seq, segment);
        }
        if seq > self.recv_seq && !self.buf.contains_key(&seq) {
            self.buffer(seq, segment)?;
        }
        Err(Protocol::Tcp(Segment::Ack(self.recv_seq)))
    }

    /// Squall fork: a segment arrived at `now`; the peer is alive.
    fn on_receive(&mut self, now: Duration) {
        self.last_recv = now;
        if let Some(keepalive) = &mut self.keepalive {
            keepalive.on_receive();
        }
    }

    /// Squall fork: both halves are gone and nothing waits for an ACK, so
    /// the socket can be removed.
    fn is_finished(&self) -> bool {
        self.ref_ct == 0 && self.rtx.as_ref().is_none_or(Rtx::is_idle)
    }

    fn assign_seq(&mut self) -> u64 {
        let seq = self.next_send_seq;
        self.next_send_seq += 1;
        seq
    }

    // Buffer and re-order received segments by `seq` as the network may deliver
    // them out of order.
    fn buffer(&mut self, seq: u64, segment: SequencedSegment) -> Result<(), Protocol> {
        use mpsc::error::TrySendError::*;

        let exists = self.buf.insert(seq, segment);

        assert!(exists.is_none(), "duplicate segment {seq}");

        while self.buf.contains_key(&(self.recv_seq + 1)) {
            self.recv_seq += 1;

            match self.sender.try_reserve() {
                Ok(permit) => {
                    let segment = self.buf.swap_remove(&self.recv_seq).unwrap();
                    permit.send(segment)
                }
                Err(Closed(())) => return Err(Protocol::Tcp(Segment::Rst)),
                Err(Full(())) => {
                    self.recv_seq -= 1;
                    break;
                }
            }
        }

        Ok(())
    }
}

impl Tcp {
    fn new(capacity: usize, retransmission: Option<TcpRetransmission>) -> Self {
        Self {
            binds: IndexMap::new(),
            sockets: IndexMap::new(),
            server_socket_capacity: capacity,
            socket_capacity: capacity,
            retransmission,
            clock: Duration::ZERO,
            dropped_flows: IndexSet::new(),
        }
    }

    /// Squall fork: `TcpStream::forget`. The socket goes without a word;
    /// what arrives for it later is answered with a RST (no socket), or,
    /// for [`Forgotten::Dropped`], dropped.
    pub(crate) fn forget(&mut self, pair: SocketPair, later: Forgotten) {
        self.sockets.swap_remove(&pair);
        if later == Forgotten::Dropped {
            if self.dropped_flows.len() >= MAX_DROPPED_FLOWS {
                self.dropped_flows.shift_remove_index(0);
            }
            self.dropped_flows.insert(pair);
        }
        debug_assert!(self.dropped_flows.len() <= MAX_DROPPED_FLOWS);
    }

    /// Squall fork: set the retransmission clock for this step.
    pub(crate) fn set_clock(&mut self, now: Duration) {
        debug_assert!(now >= self.clock, "the TCP clock went back");
        self.clock = now;
    }

    /// Squall fork: record the first transmission of `seq` on `pair` for
    /// retransmission (a no-op with retransmission off, or on loopback).
    pub(crate) fn sent(&mut self, pair: SocketPair, seq: u64, payload: Payload) {
        let now = self.clock;
        if let Some(sock) = self.sockets.get_mut(&pair) {
            let user_timeout = sock.status.user_timeout();
            if let Some(rtx) = &mut sock.rtx {
                rtx.on_send(seq, payload, now, user_timeout);
            }
        }
    }

    /// Squall fork: fire every TCP timer due at `now` (SYN, SYN-ACK,
    /// keepalive, retransmission); returns the segments to send, as `(src,
    /// dst, segment)`, in socket order, then listener order. A socket whose
    /// peer has not answered within its budget is removed: a connect fails
    /// with `TimedOut`, and an established socket's halves fail with
    /// `TimedOut`, sending nothing on a retransmission abort (as Linux does)
    /// and a RST on a keepalive abort (as Linux's `tcp_keepalive_timer`).
    pub(crate) fn fire_timers(&mut self, now: Duration) -> Vec<(SocketAddr, SocketAddr, Segment)> {
        let mut send = Vec::new();
        let mut aborted = Vec::new();
        for (pair, sock) in self.sockets.iter_mut() {
            if let Some(connecting) = &mut sock.connecting {
                // A socket in SYN-SENT has nothing sent but its SYN.
                if connecting.timer.is_due(now) {
                    match connecting.timer.on_expiry(now) {
                        SynExpiry::Resend => send.push((
                            pair.local,
                            pair.remote,
                            Segment::Syn(Syn {
                                ack: None,
                                flow_control: Some(sock.flow_control.clone()),
                            }),
                        )),
                        SynExpiry::GiveUp => aborted.push((*pair, Abort::Connect)),
                    }
                }
                continue;
            }
            let user_timeout = sock.status.user_timeout();
            let Some(rtx) = &mut sock.rtx else { continue };
            if let Some(keepalive) = &mut sock.keepalive {
                if keepalive.deadline() <= now {
                    match keepalive.on_expiry(now, sock.last_recv, !rtx.is_idle(), user_timeout) {
                        KeepaliveExpiry::Wait => {}
                        KeepaliveExpiry::Probe => {
                            send.push((pair.local, pair.remote, Segment::Data(0, Bytes::new())))
                        }
                        KeepaliveExpiry::Abort => {
                            send.push((pair.local, pair.remote, Segment::Rst));
                            aborted.push((*pair, Abort::Keepalive));
                            continue;
                        }
                    }
                }
            }
            if rtx.deadline().is_none_or(|at| at > now) {
                continue;
            }
            match rtx.on_expiry(now, user_timeout) {
                Expiry::Retransmit(segments) => {
                    send.extend(segments.into_iter().map(|s| (pair.local, pair.remote, s)))
                }
                Expiry::Abort => aborted.push((*pair, Abort::Retransmission)),
            }
        }
        for (pair, why) in aborted {
            let Some(mut sock) = self.sockets.swap_remove(&pair) else {
                continue;
            };
            tracing::trace!(target: TRACING_TARGET, src = ?pair.local, dst = ?pair.remote, protocol = %"TCP", ?why, "Timed out");
            match sock.connecting.take() {
                Some(connecting) => connecting.finish(Err(io::ErrorKind::TimedOut)),
                None => sock.status.abort(io::ErrorKind::TimedOut),
            }
            // Dropping `sock` drops the receive channel's sender: a reader
            // waiting on it wakes and sees the abort.
        }
        for bind in self.binds.values_mut() {
            bind.half_open.retain(|remote, half| {
                if !half.timer.is_due(now) {
                    return true;
                }
                match half.timer.on_expiry(now) {
                    SynExpiry::Resend => {
                        send.push((half.local, *remote, Segment::SynAck));
                        true
                    }
                    SynExpiry::GiveUp => {
                        tracing::trace!(target: TRACING_TARGET, src = ?half.local, dst = ?remote, protocol = %"TCP SYN-ACK", "Gave up");
                        false
                    }
                }
            });
        }
        send
    }

    /// Squall fork: the earliest TCP timer of this host (SYN, SYN-ACK,
    /// keepalive or retransmission), for a driver that skips idle steps.
    pub(crate) fn next_deadline(&self) -> Option<Duration> {
        let sockets = self.sockets.values().flat_map(|s| {
            [
                s.connecting.as_ref().map(|c| c.timer.deadline()),
                s.keepalive.as_ref().map(Keepalive::deadline),
                s.rtx.as_ref().and_then(Rtx::deadline),
            ]
        });
        let half_open = self
            .binds
            .values()
            .flat_map(|b| b.half_open.values().map(|h| Some(h.timer.deadline())));
        sockets.chain(half_open).flatten().min()
    }

    /// Squall fork: whether a connect on `pair` makes its handshake of
    /// packets (retransmission on, and not loopback, which loses nothing).
    pub(crate) fn handshake_as_packets(&self, pair: SocketPair) -> bool {
        self.retransmission.is_some() && !is_same(pair.local, pair.remote)
    }

    /// Squall fork: put the new socket `pair` in SYN-SENT, its SYN timer
    /// armed; returns the SYN to send. `done` is told how the handshake
    /// ends.
    pub(crate) fn start_connect(
        &mut self,
        pair: SocketPair,
        done: tokio::sync::oneshot::Sender<Result<(), io::ErrorKind>>,
    ) -> Segment {
        let now = self.clock;
        let config = self
            .retransmission
            .expect("handshake_as_packets checked the switch");
        let sock = self.sockets.get_mut(&pair).expect("missing stream socket");
        debug_assert!(sock.connecting.is_none(), "{pair:?} connects twice");
        sock.connecting = Some(Connecting::new(done, now, &config));
        Segment::Syn(Syn {
            ack: None,
            flow_control: Some(sock.flow_control.clone()),
        })
    }

    /// Squall fork: the connect on `pair` was dropped before it returned
    /// (its caller's timeout, or a crash): forget the socket. Returns
    /// whether the peer must be reset, the handshake having completed with
    /// no stream left to use it.
    pub(crate) fn cancel_connect(&mut self, pair: SocketPair) -> bool {
        match self.sockets.swap_remove(&pair) {
            Some(sock) => sock.connecting.is_none(),
            None => false,
        }
    }

    /// Squall fork: turn keepalive on, off, or change it, on `pair`. No
    /// effect without retransmission, or on loopback (no `Rtx` then).
    pub(crate) fn set_keepalive(&mut self, pair: SocketPair, value: Option<TcpKeepalive>) {
        let now = self.clock;
        let wheel = self
            .retransmission
            .map_or(super::net::tcp::TimerWheel::Exact, |c| c.timer_wheel);
        let Some(sock) = self.sockets.get_mut(&pair) else {
            return;
        };
        if sock.rtx.is_none() {
            return;
        }
        sock.keepalive = match (sock.keepalive.take(), value) {
            (_, None) => None,
            (None, Some(config)) => Some(Keepalive::new(config, now, wheel)),
            (Some(mut keepalive), Some(config)) => {
                keepalive.reconfigure(config, now, sock.last_recv);
                Some(keepalive)
            }
        };
    }

    /// Squall fork: the next connection whose handshake completed on the
    /// listener at `addr`.
    pub(crate) fn accept_established(&mut self, addr: SocketAddr) -> Option<Accepted> {
        self.binds.get_mut(&addr.port())?.established.pop_front()
    }

    /// Squall fork: the host crashed; sockets its software had closed but
    /// that were still retransmitting die with it.
    pub(crate) fn drop_closed(&mut self) {
        self.sockets.retain(|_, s| s.ref_ct > 0);
    }

    pub(crate) fn status(&self, pair: SocketPair) -> Arc<SocketStatus> {
        self.sockets
            .get(&pair)
            .expect("missing stream socket")
            .status
            .clone()
    }

    fn is_port_assigned(&self, port: u16) -> bool {
        self.binds.keys().any(|p| *p == port) || self.sockets.keys().any(|a| a.local.port() == port)
    }

    pub(crate) fn bind(&mut self, addr: SocketAddr) -> io::Result<TcpListener> {
        let notify = Arc::new(Notify::new());
        let sock = ServerSocket {
            bind_addr: addr,
            notify: notify.clone(),
            deque: VecDeque::new(),
            half_open: IndexMap::new(),
            established: VecDeque::new(),
        };

        match self.binds.entry(addr.port()) {
            indexmap::map::Entry::Occupied(_) => {
                return Err(io::Error::new(io::ErrorKind::AddrInUse, addr.to_string()));
            }
            indexmap::map::Entry::Vacant(entry) => entry.insert(sock),
        };

        tracing::info!(target: TRACING_TARGET, ?addr, protocol = %"TCP", "Bind");

        Ok(TcpListener::new(addr, notify))
    }

    pub(crate) fn new_stream(
        &mut self,
        pair: SocketPair,
    ) -> (mpsc::Receiver<SequencedSegment>, BidiFlowControl) {
        let rtx = match self.retransmission {
            Some(config) if !is_same(pair.local, pair.remote) => Some(Rtx::new(config)),
            _ => None,
        };
        let (mut sock, rx, bidi) = StreamSocket::new(self.socket_capacity, rtx);
        sock.last_recv = self.clock;

        let exists = self.sockets.insert(pair, sock);

        assert!(exists.is_none(), "{pair:?} is already connected");

        (rx, bidi)
    }

    pub(crate) fn flow_control(&self, pair: SocketPair) -> BidiFlowControl {
        self.sockets
            .get(&pair)
            .expect("missing stream socket")
            .flow_control
            .clone()
    }

    pub(crate) fn stream_count(&self) -> usize {
        self.sockets.len()
    }

    pub(crate) fn accept(&mut self, addr: SocketAddr) -> Option<(Syn, SocketAddr)> {
        self.binds[&addr.port()].deque.pop_front()
    }

    // Ideally, we could "write through" the tcp software, but this is necessary
    // due to borrowing the world to access the mut host and for sending.
    pub(crate) fn assign_send_seq(&mut self, pair: SocketPair) -> Option<u64> {
        let sock = self.sockets.get_mut(&pair)?;
        Some(sock.assign_seq())
    }

    fn receive_from_network(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        segment: Segment,
    ) -> Result<(), Protocol> {
        // Squall fork: anything that arrives shows the peer is alive (for
        // keepalive); an ACK or data for a half-open connection completes
        // its handshake.
        let pair = SocketPair::new(dst, src);
        // A new connection's SYN starts a new flow, as at a NAT.
        if matches!(&segment, Segment::Syn(_)) {
            self.dropped_flows.shift_remove(&pair);
        }
        if self.dropped_flows.contains(&pair) {
            tracing::trace!(target: TRACING_TARGET, ?src, ?dst, protocol = %"TCP", "Dropped (forgotten flow)");
            return Ok(());
        }
        if let Some(sock) = self.sockets.get_mut(&pair) {
            sock.on_receive(self.clock);
        }
        if matches!(
            segment,
            Segment::Ack(_) | Segment::Data(..) | Segment::Fin(_)
        ) {
            self.complete_handshake(pair);
        }

        match segment {
            // Squall fork: the handshake as packets.
            Segment::Syn(syn) if syn.flow_control.is_some() => return self.receive_syn(pair, syn),
            Segment::SynAck => return self.receive_synack(pair),
            Segment::Syn(syn) => {
                // If bound, queue the syn; else we drop the syn triggering
                // connection refused on the client.
                if let Some(b) = self.binds.get_mut(&dst.port()) {
                    if b.deque.len() == self.server_socket_capacity {
                        panic!("{dst} server socket buffer full");
                    }

                    if matches(b.bind_addr, dst) {
                        b.deque.push_back((syn, src));
                        b.notify.notify_one();
                    }
                }
            }
            Segment::Data(seq, data) => match self.sockets.get_mut(&SocketPair::new(dst, src)) {
                Some(sock) => sock.receive(seq, SequencedSegment::Data(data))?,
                None => return Err(Protocol::Tcp(Segment::Rst)),
            },
            Segment::Fin(seq) => match self.sockets.get_mut(&SocketPair::new(dst, src)) {
                Some(sock) => sock.receive(seq, SequencedSegment::Fin)?,
                None => return Err(Protocol::Tcp(Segment::Rst)),
            },
            // Squall fork. An ACK for a socket that is gone is dropped: a
            // RST in answer could only reset a peer that is closing too.
            Segment::Ack(ack) => {
                let pair = SocketPair::new(dst, src);
                let now = self.clock;
                if let Some(sock) = self.sockets.get_mut(&pair) {
                    let user_timeout = sock.status.user_timeout();
                    if let Some(rtx) = &mut sock.rtx {
                        rtx.on_ack(ack, now, user_timeout);
                    }
                    if sock.is_finished() {
                        self.sockets.swap_remove(&pair);
                    }
                }
            }
            Segment::Rst => {
                if let Some(mut sock) = self.sockets.swap_remove(&pair) {
                    // Squall fork: a RST answering a SYN refuses the connect.
                    if let Some(connecting) = sock.connecting.take() {
                        connecting.finish(Err(io::ErrorKind::ConnectionRefused));
                    }
                } else if let Some(b) = self.binds.get_mut(&dst.port()) {
                    // Squall fork: the client gave a half-open connection up.
                    b.half_open.shift_remove(&src);
                }
            }
        };

        Ok(())
    }

    /// Squall fork: a SYN sent as a packet arrived for `pair` (local is the
    /// listener's side). Returns the answer: a SYN-ACK (again, for a
    /// duplicate), an ACK if the connection is established already (its
    /// SYN crossed our SYN-ACK's ACK), or a RST if nothing listens. A SYN
    /// that finds the backlog full is dropped, to be sent again.
    fn receive_syn(&mut self, pair: SocketPair, syn: Syn) -> Result<(), Protocol> {
        let (Some(config), Some(flow_control)) = (self.retransmission, syn.flow_control) else {
            return Ok(());
        };
        if let Some(sock) = self.sockets.get(&pair) {
            return Err(Protocol::Tcp(Segment::Ack(sock.recv_seq)));
        }
        let Some(b) = self
            .binds
            .get_mut(&pair.local.port())
            .filter(|b| matches(b.bind_addr, pair.local))
        else {
            return Err(Protocol::Tcp(Segment::Rst));
        };
        if b.half_open.contains_key(&pair.remote) {
            return Err(Protocol::Tcp(Segment::SynAck));
        }
        if b.half_open.len() + b.established.len() >= self.server_socket_capacity {
            tracing::trace!(target: TRACING_TARGET, src = ?pair.remote, dst = ?pair.local, protocol = %"TCP SYN", "Dropped (backlog full)");
            return Ok(());
        }
        b.half_open.insert(
            pair.remote,
            HalfOpen {
                local: pair.local,
                flow_control,
                timer: SynTimer::synack(self.clock, &config),
            },
        );
        Err(Protocol::Tcp(Segment::SynAck))
    }

    /// Squall fork: a SYN-ACK arrived for `pair`. Completes a connect in
    /// SYN-SENT and answers with the ACK that completes the listener's
    /// side (again, for a duplicate); a SYN-ACK nobody waits for is reset.
    fn receive_synack(&mut self, pair: SocketPair) -> Result<(), Protocol> {
        let Some(sock) = self.sockets.get_mut(&pair) else {
            return Err(Protocol::Tcp(Segment::Rst));
        };
        if let Some(connecting) = sock.connecting.take() {
            tracing::trace!(target: TRACING_TARGET, src = ?pair.remote, dst = ?pair.local, protocol = %"TCP SYN-ACK", sent_at = ?connecting.timer.sent_at(), "Connected");
            if let (Some(rtt), Some(rtx)) = (connecting.timer.rtt_sample(self.clock), &mut sock.rtx) {
                rtx.sample(rtt);
            }
            connecting.finish(Ok(()));
        }
        Err(Protocol::Tcp(Segment::Ack(sock.recv_seq)))
    }

    /// Squall fork: an ACK or data arrived for `pair`, which may be a
    /// listener's half-open connection: if so, its handshake is complete.
    /// The stream socket is made now, so that the data is accepted, and
    /// the connection is queued for `accept()`.
    fn complete_handshake(&mut self, pair: SocketPair) {
        if self.sockets.contains_key(&pair) {
            return;
        }
        let Some(half) = self
            .binds
            .get_mut(&pair.local.port())
            .and_then(|b| b.half_open.shift_remove(&pair.remote))
        else {
            return;
        };
        debug_assert_eq!(half.local, pair.local);
        let flow_control = half.flow_control.invert();
        let (rx, _) = self.new_stream(pair);
        let sock = self.sockets.get_mut(&pair).expect("just made");
        sock.flow_control = flow_control.clone();
        if let (Some(rtt), Some(rtx)) = (half.timer.rtt_sample(self.clock), &mut sock.rtx) {
            rtx.sample(rtt);
        }
        let status = sock.status.clone();
        let b = self
            .binds
            .get_mut(&pair.local.port())
            .expect("the half-open connection's listener");
        b.established.push_back(Accepted {
            pair,
            rx,
            flow_control,
            status,
        });
        b.notify.notify_one();
        tracing::trace!(target: TRACING_TARGET, src = ?pair.remote, dst = ?pair.local, protocol = %"TCP", "Established");
    }

    /// Returns true if the given stream has any Data segments waiting in the
    /// out-of-order reorder buffer that have not yet been delivered to the
    /// receive mpsc channel.
    pub(crate) fn has_buffered_data(&self, pair: SocketPair) -> bool {
        self.sockets
            .get(&pair)
            .map(|s| {
                s.buf
                    .values()
                    .any(|seg| matches!(seg, SequencedSegment::Data(_)))
            })
            .unwrap_or(false)
    }

    /// Remove the stream socket without decrementing the half-close refcount.
    /// Used when sending RST: the connection is torn down immediately.
    pub(crate) fn reset_stream(&mut self, pair: SocketPair) {
        self.sockets.swap_remove(&pair);
    }

    pub(crate) fn close_stream_half(&mut self, pair: SocketPair) {
        // Receiving a RST removes the socket, so it's possible that has occurred
        // when halves of the stream drop.
        if let Some(sock) = self.sockets.get_mut(&pair) {
            sock.ref_ct -= 1;

            // Squall fork: with retransmission on, a closed socket stays
            // until its peer has acknowledged everything (its FIN included),
            // as a Linux socket does in FIN-WAIT.
            if sock.is_finished() {
                self.sockets.swap_remove(&pair).unwrap();
            }
        }
    }

    pub(crate) fn unbind(&mut self, addr: SocketAddr) {
        let exists = self.binds.swap_remove(&addr.port());

        assert!(exists.is_some(), "unknown bind {addr}");

        // Squall fork: connections established but never accepted go with
        // their listener, silently (Linux resets them); the peer's next
        // segment is answered with a RST.
        if let Some(b) = exists {
            for accepted in b.established {
                self.sockets.swap_remove(&accepted.pair);
            }
        }

        tracing::info!(target: TRACING_TARGET, ?addr, protocol = %"TCP", "Unbind");
    }
}

/// Squall fork: why a socket was aborted, for the trace.
#[derive(Debug)]
enum Abort {
    /// The SYN retries are spent.
    Connect,
    /// Keepalive probes went unanswered.
    Keepalive,
    /// The user timeout or the retry budget passed.
    Retransmission,
}

/// Returns whether the given bind addr can accept a packet routed to the given dst
pub fn matches(bind: SocketAddr, dst: SocketAddr) -> bool {
    if bind.ip().is_unspecified() && bind.port() == dst.port() {
        return true;
    }

    bind == dst
}

/// Returns true if loopback is supported between two addresses, or
/// if the IPs are the same (in which case turmoil treats it like loopback)
pub(crate) fn is_same(src: SocketAddr, dst: SocketAddr) -> bool {
    dst.ip().is_loopback() || src.ip() == dst.ip()
}

#[cfg(test)]
mod test {
    use std::time::Duration;

    #[cfg(feature = "unstable-fs")]
    use crate::fs::FsConfig;
    use crate::{host::HostTimer, Host, Result};

    #[test]
    fn recycle_ports() -> Result {
        #[cfg(feature = "unstable-fs")]
        let mut host = Host::new(
            "host",
            std::net::Ipv4Addr::UNSPECIFIED.into(),
            HostTimer::new(Duration::ZERO, Duration::ZERO),
            49152..=49162,
            1,
            1,
            FsConfig::default(),
            None,
        );
        #[cfg(not(feature = "unstable-fs"))]
        let mut host = Host::new(
            "host",
            std::net::Ipv4Addr::UNSPECIFIED.into(),
            HostTimer::new(Duration::ZERO, Duration::ZERO),
            49152..=49162,
            1,
            1,
            None,
        );

        host.udp.bind((host.addr, 49161).into())?;
        host.udp.bind((host.addr, 49162).into())?;

        for _ in 49152..49161 {
            host.assign_ephemeral_port();
        }

        assert_eq!(49152, host.assign_ephemeral_port());

        Ok(())
    }
}
