//! NAT / load-balancer middlebox: forwards TCP per flow and expires a flow
//! after an idle timeout.
//!
//! **Real-world event.** Every cloud NAT gateway, stateful firewall and L4
//! load balancer keeps a table of flows and forgets the ones that were idle
//! too long (AWS NLB 350 s, GCP Cloud NAT established-TCP 1200 s, Azure LB
//! 4 min by default, conntrack 5 days but often tuned down). With
//! `expiry = "silent"` later packets of a forgotten flow vanish (conntrack
//! without loose mode, GCP Cloud NAT): both ends keep a zombie connection
//! until a keepalive or a write timeout notices. With `expiry = "rst"` the
//! box answers them with a RST (AWS NAT gateway, NLB): each end learns
//! when it next sends. A keepalive shorter than the idle timeout keeps the flow alive; a
//! longer one does not.
//!
//! **Turmoil mechanism.** None: this is ours. The middlebox is a turmoil
//! host that listens on the echo port; for each accepted client flow it
//! dials `forward_to` and relays bytes both ways, restarting an idle timer
//! (tokio's clock) on every byte. On expiry it forgets both of the flow's
//! connections with squall's turmoil fork's `TcpStream::forget`: nothing
//! is sent to either end, and the next segment either end sends is
//! answered with a RST (`rst`) or dropped without an answer (`silent`), so
//! an idle end learns of the expiry on its next write, PING or keepalive
//! probe, as behind a real NAT. Trace lines: `nat_flow_open`,
//! `nat_flow_expired`, `nat_flow_closed`.
//!
//! **What a real network does differently.** A real NAT rewrites ports,
//! and a later SYN from the client gets a new mapping. The relay here also
//! terminates TCP (it is a proxy, like an L4 load balancer in proxy mode),
//! so each side's TCP state (acknowledgements, retransmission) is its own:
//! a segment the relay acknowledged has not yet reached the server.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    time::{Instant, sleep_until},
};
use turmoil::{
    Forgotten,
    net::{TcpListener, TcpStream},
};

use super::Middlebox;
use crate::{
    server::ECHO_PORT,
    trace::{Recorder, TraceEvent},
};

/// What happens to a flow that was idle for the timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expiry {
    /// Later packets vanish; both ends keep a zombie connection.
    Silent,
    /// Later packets are answered with a RST.
    Rst,
}

impl Expiry {
    pub fn name(self) -> &'static str {
        match self {
            Expiry::Silent => "silent",
            Expiry::Rst => "rst",
        }
    }
}

/// Most flows one NAT relays at once; more are closed on accept.
pub const MAX_FLOWS: usize = 1024;
/// Bytes read per direction per step. A write completes before the next
/// read, so this bounds what the relay holds.
const RELAY_BUFFER: usize = 16 * 1024;

/// The middlebox host's program.
pub async fn run(config: Middlebox, recorder: Recorder) -> turmoil::Result {
    let listener = TcpListener::bind(("0.0.0.0", ECHO_PORT)).await?;
    let mut flows = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            biased;
            Some(_) = flows.join_next() => {}
            accepted = listener.accept() => {
                let (client, peer) = accepted?;
                let flow = match turmoil::reverse_lookup(peer.ip()) {
                    Some(host) => format!("{host}:{}", peer.port()),
                    None => peer.to_string(),
                };
                if flows.len() >= MAX_FLOWS {
                    // Dropping the socket closes the flow at once.
                    continue;
                }
                let (config, recorder) = (config.clone(), recorder.clone());
                flows.spawn(async move {
                    let Ok(server) = TcpStream::connect((config.forward_to.as_str(), ECHO_PORT)).await
                    else {
                        // The server refused: so does the NAT (the client's
                        // socket is dropped), as a load balancer would.
                        recorder.record(&config.name, TraceEvent::NatFlowRefused { flow });
                        return;
                    };
                    recorder.record(
                        &config.name,
                        TraceEvent::NatFlowOpen { flow: flow.clone(), to: config.forward_to.clone() },
                    );
                    let relay = Relay { name: config.name, flow, recorder, idle_timeout: config.idle_timeout };
                    relay.run(client, server, config.expiry).await;
                });
            }
        }
    }
}

/// One flow through the NAT.
struct Relay {
    name: String,
    flow: String,
    recorder: Recorder,
    idle_timeout: Duration,
}

/// Whether one direction is still open for reading.
struct Side {
    open: bool,
}

impl Relay {
    async fn run(self, client: TcpStream, server: TcpStream, expiry: Expiry) {
        let (mut client_read, mut client_write) = client.into_split();
        let (mut server_read, mut server_write) = server.into_split();
        let mut up = [0u8; RELAY_BUFFER];
        let mut down = [0u8; RELAY_BUFFER];
        let (mut from_client, mut from_server) = (Side { open: true }, Side { open: true });
        let mut idle_until = Instant::now() + self.idle_timeout;
        // Forwarding phase: until both ends have closed, or the flow expires.
        let expired = loop {
            if !from_client.open && !from_server.open {
                break false;
            }
            tokio::select! {
                biased;
                () = sleep_until(idle_until) => break true,
                read = client_read.read(&mut up), if from_client.open => {
                    if !forward(read, &up, &mut server_write, &mut from_client).await {
                        continue;
                    }
                }
                read = server_read.read(&mut down), if from_server.open => {
                    if !forward(read, &down, &mut client_write, &mut from_server).await {
                        continue;
                    }
                }
            }
            idle_until = Instant::now() + self.idle_timeout;
        };
        if !expired {
            self.record(TraceEvent::NatFlowClosed {
                flow: self.flow.clone(),
            });
            return;
        }
        self.record(TraceEvent::NatFlowExpired {
            flow: self.flow.clone(),
            mode: expiry,
        });
        // The NAT forgets the flow without telling either end, as a real
        // one does: each learns only when it next sends, from a RST
        // (`rst`) or from silence (`silent`).
        let later = match expiry {
            Expiry::Rst => Forgotten::Reset,
            Expiry::Silent => Forgotten::Dropped,
        };
        for (read, write) in [(client_read, client_write), (server_read, server_write)] {
            read.reunite(write)
                .expect("the two halves of one split")
                .forget(later);
        }
    }

    fn record(&self, event: TraceEvent) {
        self.recorder.record(&self.name, event);
    }
}

/// Forwards one read to the other side. Returns whether bytes moved (which
/// restarts the idle timer). On EOF or error, closes the other side's
/// write half (passing the FIN on) and marks this side closed.
async fn forward(
    read: std::io::Result<usize>,
    buf: &[u8],
    to: &mut turmoil::net::tcp::OwnedWriteHalf,
    side: &mut Side,
) -> bool {
    match read {
        Ok(n) if n > 0 => {
            if to.write_all(&buf[..n]).await.is_err() {
                side.open = false;
            }
            true
        }
        _ => {
            side.open = false;
            let _ = to.shutdown().await;
            false
        }
    }
}
