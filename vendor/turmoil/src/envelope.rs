use std::{fmt::Display, net::SocketAddr};

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::net::tcp::stream::BidiFlowControl;

#[derive(Debug)]
pub(crate) struct Envelope {
    pub(crate) src: SocketAddr,
    pub(crate) dst: SocketAddr,
    pub(crate) message: Protocol,
}

/// Supported network protocols.
#[derive(Debug)]
pub enum Protocol {
    Tcp(Segment),
    Udp(Datagram),
}

/// UDP datagram.
#[derive(Clone, Debug)]
pub struct Datagram(pub Bytes);

/// This is a simplification of real TCP.
///
/// We implement just enough to ensure fidelity and provide knobs for real world
/// scenarios, but we skip a ton of complexity (e.g. checksums, flow control,
/// etc) because said complexity isn't useful in tests.
#[derive(Debug)]
pub enum Segment {
    Syn(Syn),
    Data(u64, Bytes),
    Fin(u64),
    Rst,
    /// Cumulative acknowledgement of every segment up to and including the
    /// sequence number. Sent only with [`crate::Builder::tcp_retransmission`]
    /// (squall fork).
    Ack(u64),
    /// The listener's answer to a SYN, completing a connect once it arrives.
    /// Sent only with [`crate::Builder::tcp_retransmission`] (squall fork),
    /// where the handshake is made of packets; without it the listener
    /// answers on a channel carried by the SYN.
    SynAck,
}

#[derive(Debug)]
pub struct Syn {
    /// turmoil 0.7.2's handshake: the listener answers on this channel,
    /// which a lost SYN drops (so the connect is refused at once).
    pub(crate) ack: Option<oneshot::Sender<()>>,
    /// Squall fork, with [`crate::Builder::tcp_retransmission`]: the SYN is
    /// a packet answered by [`Segment::SynAck`], and carries the client's
    /// flow control, which the accepted stream shares (turmoil 0.7.2's
    /// listener looks it up on the client host instead). Exactly one of
    /// `ack` and `flow_control` is set.
    pub(crate) flow_control: Option<BidiFlowControl>,
}

impl Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Protocol::Tcp(segment) => Display::fmt(segment, f),
            Protocol::Udp(datagram) => Display::fmt(&datagram, f),
        }
    }
}

impl Display for Datagram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        hex("UDP", &self.0, f)
    }
}

impl Display for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Segment::Syn(_) => write!(f, "TCP SYN"),
            Segment::Data(_, data) => hex("TCP", data, f),
            Segment::Fin(_) => write!(f, "TCP FIN"),
            Segment::Rst => write!(f, "TCP RST"),
            Segment::Ack(seq) => write!(f, "TCP ACK {seq}"),
            Segment::SynAck => write!(f, "TCP SYN-ACK"),
        }
    }
}

pub(crate) fn hex(
    protocol: &str,
    bytes: &Bytes,
    f: &mut std::fmt::Formatter<'_>,
) -> std::fmt::Result {
    write!(f, "{protocol} [")?;

    for (i, &b) in bytes.iter().enumerate() {
        if i < bytes.len() - 1 {
            write!(f, "{b:#2X}, ")?;
        } else {
            write!(f, "{b:#2X}")?;
        }
    }

    write!(f, "]")
}
