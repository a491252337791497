//! A frame-aware relay between a server connection's socket and hyper, so
//! the simulator can send GOAWAY frames hyper's server API does not offer:
//! an abrupt GOAWAY (last-stream-id below the streams in flight, then
//! close) and ENHANCE_YOUR_CALM "too_many_pings".
//!
//! hyper talks to one end of an in-memory duplex; this relay copies bytes
//! between the other end and the turmoil socket. It follows HTTP/2 framing
//! in both directions (every frame starts with a fixed 9-byte header: 24-bit
//! length, type, flags, 31-bit stream id; the client's bytes start with the
//! 24-byte connection preface), to know the highest stream the client
//! opened and to inject a GOAWAY only between two of the server's frames.

use bytes::{BufMut, BytesMut};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream},
    sync::watch,
};

/// Bytes read per direction per step; bounds what the relay holds.
const CHUNK: usize = 16 * 1024;
/// Length of the client connection preface, `PRI * HTTP/2.0...`.
const PREFACE_LEN: usize = 24;
const FRAME_HEADER_LEN: usize = 9;
const FRAME_HEADERS: u8 = 0x1;
const FRAME_GOAWAY: u8 = 0x7;
/// HTTP/2 error codes (RFC 9113 §7).
const NO_ERROR: u32 = 0x0;
const ENHANCE_YOUR_CALM: u32 = 0xb;

/// A GOAWAY the relay injects, after which it closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Injection {
    /// GOAWAY(NO_ERROR) with last-stream-id 0: no stream the client opened
    /// was processed (so all are safe to retry), then close.
    Abrupt,
    /// GOAWAY(ENHANCE_YOUR_CALM, "too_many_pings") with the highest stream
    /// id the client opened, then close: what gRPC servers send to clients
    /// that ping more often than their policy allows.
    TooManyPings,
}

impl Injection {
    fn frame(self, highest_client_stream: u32) -> BytesMut {
        let (last_stream, code, debug): (u32, u32, &[u8]) = match self {
            Injection::Abrupt => (0, NO_ERROR, b""),
            Injection::TooManyPings => {
                (highest_client_stream, ENHANCE_YOUR_CALM, b"too_many_pings")
            }
        };
        let length = 8 + debug.len();
        let mut frame = BytesMut::with_capacity(FRAME_HEADER_LEN + length);
        // 24-bit length: the payload is at most 22 bytes.
        frame.put_uint(length as u64, 3);
        frame.put_u8(FRAME_GOAWAY);
        frame.put_u8(0);
        frame.put_u32(0); // stream 0: connection-level
        frame.put_u32(last_stream & 0x7fff_ffff);
        frame.put_u32(code);
        frame.put_slice(debug);
        frame
    }
}

/// Where a byte stream is in its framing.
#[derive(Debug, Default)]
struct Framing {
    /// Preface bytes still to skip (client side only).
    preface_left: usize,
    header: [u8; FRAME_HEADER_LEN],
    header_len: usize,
    payload_left: usize,
}

impl Framing {
    fn client() -> Self {
        Self {
            preface_left: PREFACE_LEN,
            ..Self::default()
        }
    }

    fn at_boundary(&self) -> bool {
        self.preface_left == 0 && self.header_len == 0 && self.payload_left == 0
    }

    /// How many of the next bytes belong to the current piece (preface,
    /// header or payload), so a caller can stop exactly at a boundary.
    fn piece_len(&self) -> usize {
        if self.preface_left > 0 {
            self.preface_left
        } else if self.payload_left > 0 {
            self.payload_left
        } else {
            FRAME_HEADER_LEN - self.header_len
        }
    }

    /// Consumes `bytes`, calling `on_header(type, stream_id)` for each
    /// complete frame header.
    fn feed(&mut self, mut bytes: &[u8], mut on_header: impl FnMut(u8, u32)) {
        while !bytes.is_empty() {
            let n = self.piece_len().min(bytes.len());
            if self.preface_left > 0 {
                self.preface_left -= n;
            } else if self.payload_left > 0 {
                self.payload_left -= n;
            } else {
                self.header[self.header_len..self.header_len + n].copy_from_slice(&bytes[..n]);
                self.header_len += n;
                if self.header_len == FRAME_HEADER_LEN {
                    let h = self.header;
                    self.payload_left =
                        usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
                    let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
                    on_header(h[3], stream);
                    self.header_len = 0;
                }
            }
            bytes = &bytes[n..];
        }
    }
}

/// Relays between `socket` and hyper's end of the duplex until either side
/// closes or an injection has been sent. Dropping the socket closes it.
pub(crate) async fn relay<R, W>(
    (mut socket_read, mut socket_write): (R, W),
    hyper: DuplexStream,
    mut inject: watch::Receiver<Option<Injection>>,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (mut hyper_read, mut hyper_write) = tokio::io::split(hyper);
    let (mut up, mut down) = (Framing::client(), Framing::default());
    let mut highest_client_stream = 0u32;
    let (mut up_buf, mut down_buf) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    let mut pending: Option<Injection> = None;
    let mut client_open = true;
    loop {
        if let Some(injection) = pending.filter(|_| down.at_boundary()) {
            let _ = socket_write
                .write_all(&injection.frame(highest_client_stream))
                .await;
            return;
        }
        tokio::select! {
            biased;
            changed = inject.changed(), if pending.is_none() => match changed {
                Ok(()) => pending = *inject.borrow_and_update(),
                // The connection task is gone: so is the connection.
                Err(_) => return,
            },
            read = hyper_read.read(&mut down_buf) => {
                let Ok(n @ 1..) = read else { return };
                let mut bytes = &down_buf[..n];
                while !bytes.is_empty() {
                    if pending.is_some() && down.at_boundary() {
                        break; // the rest of hyper's output is never sent
                    }
                    let k = down.piece_len().min(bytes.len());
                    if socket_write.write_all(&bytes[..k]).await.is_err() {
                        return;
                    }
                    down.feed(&bytes[..k], |_, _| {});
                    bytes = &bytes[k..];
                }
            }
            read = socket_read.read(&mut up_buf), if client_open => {
                match read {
                    Ok(n @ 1..) => {
                        up.feed(&up_buf[..n], |kind, stream| {
                            if kind == FRAME_HEADERS {
                                highest_client_stream = highest_client_stream.max(stream);
                            }
                        });
                        if hyper_write.write_all(&up_buf[..n]).await.is_err() {
                            return;
                        }
                    }
                    _ => {
                        // The client closed: pass the EOF on to hyper and
                        // keep relaying its last frames.
                        client_open = false;
                        let _ = hyper_write.shutdown().await;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_follows_preface_headers_and_payloads() {
        let mut f = Framing::client();
        let mut seen = Vec::new();
        let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        // SETTINGS (type 4), empty, stream 0; HEADERS (type 1), 3 bytes, stream 5.
        bytes.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        bytes.extend_from_slice(&[0, 0, 3, 1, 4, 0, 0, 0, 5, 9, 9, 9]);
        // Fed in awkward pieces, the result is the same.
        for chunk in bytes.chunks(5) {
            f.feed(chunk, |kind, stream| seen.push((kind, stream)));
        }
        assert_eq!(seen, [(4, 0), (1, 5)]);
        assert!(f.at_boundary());
    }

    #[test]
    fn goaway_frames_are_well_formed() {
        let calm = Injection::TooManyPings.frame(7);
        assert_eq!(&calm[..9], &[0, 0, 22, FRAME_GOAWAY, 0, 0, 0, 0, 0]);
        assert_eq!(&calm[9..13], &7u32.to_be_bytes());
        assert_eq!(&calm[13..17], &ENHANCE_YOUR_CALM.to_be_bytes());
        assert_eq!(&calm[17..], b"too_many_pings");
        let abrupt = Injection::Abrupt.frame(7);
        assert_eq!(abrupt.len(), 17);
        assert_eq!(&abrupt[9..17], &[0; 8]);
    }
}
