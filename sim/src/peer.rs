//! tonic's own clients as a world's client: the peers squall's pool is
//! measured against (`squall peers`). Each is built as its users build it,
//! with the world's TCP underneath: a [`TonicClient::Channel`] with tonic's
//! defaults, one with HTTP/2 keepalive set as tonic documents it, and
//! `Channel::balance_list`'s balancer over every target.
//!
//! tonic's clients emit no events, so what they do on the network is seen
//! where they touch it: every dial (`channel_dial`), every connection made
//! (`channel_conn_open`) and every end of one (`channel_conn_closed`, when
//! tonic drops the socket) becomes a trace line, from the connector they
//! are given.

use std::{
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use futures_util::future::BoxFuture;
use hyper_util::rt::TokioIo;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::{Channel, Endpoint};

use crate::{
    trace::{Recorder, TraceEvent},
    world::CLIENT_HOST,
};

/// Which of tonic's clients a world runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TonicClient {
    /// One `Channel` with tonic's defaults: no HTTP/2 keepalive, no
    /// deadline of its own. With several targets it dials them in turn,
    /// one per connection attempt, as a Channel to a name that resolves to
    /// several servers does: it is on one server at a time.
    Channel,
    /// One `Channel` with `http2_keep_alive_interval(interval)`,
    /// `keep_alive_timeout(timeout)` and `keep_alive_while_idle(true)`,
    /// targets dialled as for [`TonicClient::Channel`].
    ChannelKeepalive {
        interval: Duration,
        timeout: Duration,
    },
    /// `Channel::balance_list` over every target: tower's power-of-two-
    /// choices balancer over one lazily connected connection per target
    /// (through squall's fork of tonic, which lets it dial the world's TCP
    /// and seeds its picks; `vendor/tonic.patch`).
    Balance,
}

impl TonicClient {
    /// Its name in scripts and tables: `tonic-channel`.
    pub fn name(self) -> &'static str {
        match self {
            TonicClient::Channel => "tonic-channel",
            TonicClient::ChannelKeepalive { .. } => "tonic-channel-keepalive",
            TonicClient::Balance => "tonic-balance",
        }
    }
}

/// A stream from a world's TCP, as tonic's clients take it.
pub type BoxStream = Box<dyn Stream>;

/// Bytes both ways, as a socket of the world's TCP.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// How the world's TCP opens a connection to `host:port`, with tonic's own
/// socket settings (TCP_NODELAY, which tonic sets by default; nothing else).
pub type Dial = Arc<dyn Fn(String) -> BoxFuture<'static, io::Result<BoxStream>> + Send + Sync>;

/// Builds `client` over `targets`: `authorities[i]` is `targets[i]` as
/// `host:port` on the world's TCP, `urls[i]` as tonic's endpoint URL.
pub fn channel(
    client: TonicClient,
    targets: &[String],
    urls: &[String],
    authorities: &[String],
    dial: Dial,
    recorder: Recorder,
    seed: u64,
) -> Result<Channel, Box<dyn std::error::Error>> {
    debug_assert_eq!(targets.len(), urls.len());
    debug_assert_eq!(targets.len(), authorities.len());
    let first = urls.first().ok_or("a tonic client needs a target")?;
    let dialler = Dialler {
        dial,
        recorder,
        names: targets
            .iter()
            .cloned()
            .zip(authorities.iter().cloned())
            .collect(),
        next: Arc::default(),
    };
    Ok(match client {
        TonicClient::Channel => Endpoint::from_shared(first.clone())?
            .connect_with_connector_lazy(tower::service_fn(move |_| dialler.in_turn())),
        TonicClient::ChannelKeepalive { interval, timeout } => {
            Endpoint::from_shared(first.clone())?
                .http2_keep_alive_interval(interval)
                .keep_alive_timeout(timeout)
                .keep_alive_while_idle(true)
                .connect_with_connector_lazy(tower::service_fn(move |_| dialler.in_turn()))
        }
        TonicClient::Balance => {
            let endpoints = urls
                .iter()
                .map(|url| Endpoint::from_shared(url.clone()))
                .collect::<Result<Vec<_>, _>>()?;
            let connector = tower::service_fn(move |uri: http::Uri| dialler.to(&uri));
            let (channel, changes) = Channel::balance_channel_with_connector(
                endpoints.len().max(1),
                connector,
                SeededRng(ChaCha8Rng::seed_from_u64(seed)),
            );
            for (index, endpoint) in endpoints.into_iter().enumerate() {
                changes
                    .try_send(tonic::transport::channel::Change::Insert(index, endpoint))
                    .map_err(|e| format!("balance_channel: {e}"))?;
            }
            channel
        }
    })
}

/// tower's `Rng` from a seeded ChaCha, so the balancer's picks replay.
struct SeededRng(ChaCha8Rng);

impl tower::util::rng::Rng for SeededRng {
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
}

/// The connector tonic's clients are given: dials through the world's TCP
/// and records each dial and each connection's end.
#[derive(Clone)]
struct Dialler {
    dial: Dial,
    recorder: Recorder,
    /// (target host, `host:port`), in the script's order.
    names: Arc<[(String, String)]>,
    /// The next target [`Dialler::in_turn`] dials.
    next: Arc<AtomicUsize>,
}

impl Dialler {
    /// Dials the targets in turn, one per call.
    fn in_turn(&self) -> BoxFuture<'static, io::Result<TokioIo<Recorded>>> {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.names.len();
        let (host, authority) = self.names[index].clone();
        self.open(host, authority)
    }

    /// Dials the target whose URL is `uri`.
    fn to(&self, uri: &http::Uri) -> BoxFuture<'static, io::Result<TokioIo<Recorded>>> {
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
        match self.names.iter().find(|(_, a)| a == authority) {
            Some((host, authority)) => self.open(host.clone(), authority.clone()),
            None => {
                let error = io::Error::new(io::ErrorKind::InvalidInput, format!("no target {uri}"));
                Box::pin(async move { Err(error) })
            }
        }
    }

    fn open(
        &self,
        host: String,
        authority: String,
    ) -> BoxFuture<'static, io::Result<TokioIo<Recorded>>> {
        self.recorder
            .record(CLIENT_HOST, TraceEvent::ChannelDial { to: host.clone() });
        let connect = (self.dial)(authority);
        let recorder = self.recorder.clone();
        Box::pin(async move {
            let stream = connect.await?;
            recorder.record(
                CLIENT_HOST,
                TraceEvent::ChannelConnOpen { to: host.clone() },
            );
            Ok(TokioIo::new(Recorded {
                stream,
                to: host,
                recorder,
            }))
        })
    }
}

/// A connection of a tonic client: records `channel_conn_closed` when
/// tonic drops it.
struct Recorded {
    stream: BoxStream,
    to: String,
    recorder: Recorder,
}

impl Drop for Recorded {
    fn drop(&mut self) {
        self.recorder.record_if_running(
            CLIENT_HOST,
            TraceEvent::ChannelConnClosed {
                to: std::mem::take(&mut self.to),
            },
        );
    }
}

impl AsyncRead for Recorded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Recorded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
