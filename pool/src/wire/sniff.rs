//! Telling a peer that does not speak HTTP/2 from a broken connection.
//!
//! hyper's client handshake only writes the connection preface, so a
//! server that answers with HTTP/1.1, a TLS record or anything else shows
//! up later, as a generic protocol error when the first frame is read. The
//! connector's stream is wrapped to keep the first bytes the peer sent;
//! when the connection or an RPC on it fails, those bytes say whether the
//! peer spoke HTTP/2 at all (its first frame must be SETTINGS).
//!
//! The same wrapper hands every byte read to a [`FrameReader`]
//! (`frame.rs`), which picks out GOAWAY and the server's stream limit and
//! reports them to the connection's [`FrameSink`]. Nothing here knows what
//! the pool does with them.

use std::{
    io,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::frame::{FrameReader, FrameSink};

/// How many of the peer's first bytes are kept: enough for an HTTP/1.1
/// status line's start or a TLS record header, and an HTTP/2 frame header.
pub(crate) const KEPT: usize = 16;

/// The first bytes a peer sent on one connection.
#[derive(Debug, Default)]
pub(crate) struct FirstBytes {
    bytes: Mutex<Vec<u8>>,
    /// Set once `KEPT` bytes are in, so later reads skip the lock.
    full: AtomicBool,
}

impl FirstBytes {
    fn record(&self, read: &[u8]) {
        if read.is_empty() || self.full.load(Ordering::Acquire) {
            return;
        }
        let mut bytes = self.bytes.lock().expect("first bytes lock poisoned");
        let room = KEPT - bytes.len();
        bytes.extend_from_slice(&read[..read.len().min(room)]);
        if bytes.len() == KEPT {
            self.full.store(true, Ordering::Release);
        }
    }

    /// The peer's first bytes, if they show it is not an HTTP/2 server.
    /// `None` when it sent nothing yet, or began with a SETTINGS frame.
    pub(crate) fn not_http2(&self) -> Option<Vec<u8>> {
        let bytes = self.bytes.lock().expect("first bytes lock poisoned");
        (!bytes.is_empty() && !looks_like_http2(&bytes)).then(|| bytes.clone())
    }
}

/// An HTTP/2 server's first frame is SETTINGS: a 9-byte header whose
/// fourth byte (the frame type) is 0x4. Fewer than four bytes cannot be
/// judged by the type, so they pass unless they already start the way
/// HTTP/1 (`H`) or a TLS record (0x15 alert, 0x16 handshake) does.
fn looks_like_http2(first: &[u8]) -> bool {
    match first {
        [] => true,
        [_, _, _, kind, ..] => *kind == 0x04,
        [b'H', ..] | [0x15 | 0x16, ..] => false,
        _ => true,
    }
}

/// A byte stream that remembers the first bytes read from it and reports
/// the frames in every byte read to `sink`.
pub(crate) struct Sniff<T, S> {
    inner: T,
    first: Arc<FirstBytes>,
    reader: FrameReader,
    sink: S,
}

impl<T, S> Sniff<T, S> {
    pub(crate) fn new(inner: T, sink: S) -> (Self, Arc<FirstBytes>) {
        let first = Arc::new(FirstBytes::default());
        let sniff = Self {
            inner,
            first: Arc::clone(&first),
            reader: FrameReader::default(),
            sink,
        };
        (sniff, first)
    }
}

impl<T: AsyncRead + Unpin, S: FrameSink + Unpin> AsyncRead for Sniff<T, S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let this = &mut *self;
            let read = &buf.filled()[before..];
            this.first.record(read);
            let sink = &this.sink;
            this.reader.feed(read, &mut |frame| sink.frame(frame));
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin, S: Unpin> AsyncWrite for Sniff<T, S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Bytes as printable ASCII, other bytes as `\xNN`, for errors and traces.
pub(crate) fn escape(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_first_is_http2_and_the_rest_is_not() {
        // An empty SETTINGS frame: length 0, type 4, no flags, stream 0.
        assert!(looks_like_http2(&[0, 0, 0, 4, 0, 0, 0, 0, 0]));
        assert!(!looks_like_http2(b"HTTP/1.1 400 Bad Request\r\n"));
        assert!(!looks_like_http2(&[0x16, 0x03, 0x01, 0x00, 0x2a]));
        assert!(!looks_like_http2(b"H"));
        assert!(looks_like_http2(&[0, 0]), "too short to judge");

        let first = FirstBytes::default();
        first.record(b"HTTP/1.1 400 Bad ");
        first.record(b"Request");
        assert_eq!(first.not_http2().as_deref(), Some(&b"HTTP/1.1 400 Bad"[..]));
        assert_eq!(escape(&[0x16, 0x03, b'a']), "\\x16\\x03a");
    }

    /// The wrapper hands every byte it reads to the frame reader, so the
    /// sink hears of each frame once, however the reads are split; and the
    /// first bytes are kept alongside.
    #[tokio::test]
    async fn reads_report_frames_to_the_sink_and_keep_the_first_bytes() {
        use tokio::io::AsyncReadExt;

        use crate::wire::frame::Frame;

        #[derive(Default)]
        struct Seen(Mutex<Vec<Frame>>);
        impl FrameSink for Seen {
            fn frame(&self, frame: Frame) {
                self.0.lock().unwrap().push(frame);
            }
        }

        // SETTINGS (MAX_CONCURRENT_STREAMS = 7), then a PING.
        let mut bytes = vec![0, 0, 6, 0x4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 7];
        bytes.extend([0, 0, 8, 0x6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
        let sink = Arc::new(Seen::default());
        let (mut sniff, first) = Sniff::new(&bytes[..], Arc::clone(&sink));
        let mut piece = [0; 5];
        let mut read: Vec<u8> = Vec::new();
        loop {
            let n = sniff.read(&mut piece).await.unwrap();
            if n == 0 {
                break;
            }
            read.extend(&piece[..n]);
        }
        assert_eq!(read, bytes, "bytes pass through unchanged");
        assert_eq!(*sink.0.lock().unwrap(), vec![Frame::Settings(Some(7))]);
        assert_eq!(first.not_http2(), None, "began with SETTINGS");
    }
}
