//! [`FrameReader`]: what the server's HTTP/2 frames say that hyper does
//! not tell the pool: a GOAWAY (its last-stream-id, error code and debug
//! data) and the server's SETTINGS_MAX_CONCURRENT_STREAMS.
//!
//! hyper's client drives h2 privately: a GOAWAY only shows up when the
//! connection finally ends, and the server's stream limit not at all (h2
//! queues streams past it silently). So the connector's byte stream is
//! watched as it is read (`sniff.rs` feeds [`FrameReader`], which reports
//! each [`Frame`] to a [`FrameSink`]): only the
//! 9-byte frame headers are parsed, and the payload of the two frame types
//! that matter is kept, up to a bound. h2 still parses and validates every
//! frame itself; this is a passive observer that can never change what
//! h2 does, and a peer that is not HTTP/2 at all only makes it see
//! nonsense, which `sniff.rs` reports first.

use std::{fmt, sync::Arc};

const FRAME_HEADER: usize = 9;
const TYPE_SETTINGS: u8 = 0x4;
const TYPE_GOAWAY: u8 = 0x7;
const FLAG_ACK: u8 = 0x1;
const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
/// Debug data kept from a GOAWAY: enough for "too_many_pings" and a short
/// reason; the rest is skipped.
const GOAWAY_DEBUG_KEPT: usize = 64;
/// SETTINGS payload kept: 32 settings, more than any server sends.
const SETTINGS_KEPT: usize = 6 * 32;

/// The error code of a GOAWAY (RFC 9113 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GoawayCode(pub u32);

impl GoawayCode {
    pub const NO_ERROR: GoawayCode = GoawayCode(0x0);
    pub const ENHANCE_YOUR_CALM: GoawayCode = GoawayCode(0xb);
}

impl fmt::Display for GoawayCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 14] = [
            "no_error",
            "protocol_error",
            "internal_error",
            "flow_control_error",
            "settings_timeout",
            "stream_closed",
            "frame_size_error",
            "refused_stream",
            "cancel",
            "compression_error",
            "connect_error",
            "enhance_your_calm",
            "inadequate_security",
            "http_1_1_required",
        ];
        match NAMES.get(self.0 as usize) {
            Some(name) => f.write_str(name),
            None => write!(f, "0x{:x}", self.0),
        }
    }
}

/// A GOAWAY the server sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Goaway {
    /// Streams above this id were not and will not be processed.
    pub(crate) last_stream_id: u32,
    pub(crate) code: GoawayCode,
    /// The first bytes of the debug data (at most 64).
    pub(crate) debug: Vec<u8>,
}

impl Goaway {
    /// gRPC servers say "too_many_pings" with ENHANCE_YOUR_CALM when the
    /// client's keepalive is more eager than their enforcement policy.
    pub(crate) fn is_too_many_pings(&self) -> bool {
        self.code == GoawayCode::ENHANCE_YOUR_CALM && self.debug == b"too_many_pings"
    }
}

/// A frame of interest, once wholly read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A SETTINGS frame (not an ACK), with the MAX_CONCURRENT_STREAMS it
    /// set, if it set one.
    Settings(Option<u32>),
    Goaway(Goaway),
}

/// Where a [`FrameReader`]'s frames go: the connection that acts on them.
/// The reader only reports; what a frame means for the pool is the sink's.
pub(crate) trait FrameSink {
    /// `frame` was wholly read.
    fn frame(&self, frame: Frame);
}

impl<S: FrameSink + ?Sized> FrameSink for Arc<S> {
    fn frame(&self, frame: Frame) {
        S::frame(self, frame)
    }
}

/// Parses frame boundaries out of the bytes a client reads, in whatever
/// pieces they arrive. Owned by one connection's byte stream.
#[derive(Debug, Default)]
pub(crate) struct FrameReader {
    header: [u8; FRAME_HEADER],
    header_len: usize,
    /// Payload bytes of the current frame not yet read.
    payload_left: usize,
    /// The current frame's type, when its payload is kept.
    keeping: Option<u8>,
    kept: Vec<u8>,
    /// How many more payload bytes may be kept.
    keep_left: usize,
}

impl FrameReader {
    /// Reads `bytes`, calling `seen` for each frame of interest completed.
    pub(crate) fn feed(&mut self, mut bytes: &[u8], seen: &mut impl FnMut(Frame)) {
        while !bytes.is_empty() {
            // A whole header in view, none begun: taken in one copy (the
            // usual case, a read holding whole frames).
            if self.header_len == 0 && bytes.len() >= FRAME_HEADER {
                self.header.copy_from_slice(&bytes[..FRAME_HEADER]);
                self.header_len = FRAME_HEADER;
                bytes = &bytes[FRAME_HEADER..];
                self.start_payload();
                if self.payload_left == 0 {
                    self.end_frame(seen);
                }
                continue;
            }
            if self.header_len < FRAME_HEADER {
                let take = (FRAME_HEADER - self.header_len).min(bytes.len());
                self.header[self.header_len..self.header_len + take]
                    .copy_from_slice(&bytes[..take]);
                self.header_len += take;
                bytes = &bytes[take..];
                if self.header_len == FRAME_HEADER {
                    self.start_payload();
                    if self.payload_left == 0 {
                        self.end_frame(seen);
                    }
                }
                continue;
            }
            let take = self.payload_left.min(bytes.len());
            let keep = take.min(self.keep_left);
            if self.keeping.is_some() && keep > 0 {
                self.kept.extend_from_slice(&bytes[..keep]);
                self.keep_left -= keep;
            }
            self.payload_left -= take;
            bytes = &bytes[take..];
            if self.payload_left == 0 {
                self.end_frame(seen);
            }
        }
    }

    fn start_payload(&mut self) {
        let [l0, l1, l2, kind, flags, ..] = self.header;
        self.payload_left = u32::from_be_bytes([0, l0, l1, l2]) as usize;
        (self.keeping, self.keep_left) = match kind {
            TYPE_SETTINGS if flags & FLAG_ACK == 0 => (Some(kind), SETTINGS_KEPT),
            TYPE_GOAWAY => (Some(kind), 8 + GOAWAY_DEBUG_KEPT),
            _ => (None, 0),
        };
    }

    fn end_frame(&mut self, seen: &mut impl FnMut(Frame)) {
        debug_assert_eq!(self.header_len, FRAME_HEADER);
        debug_assert_eq!(self.payload_left, 0);
        self.header_len = 0;
        match self.keeping.take() {
            Some(TYPE_SETTINGS) => {
                // The last value of a setting repeated in one frame wins.
                let limit = self
                    .kept
                    .chunks_exact(6)
                    .filter(|s| u16::from_be_bytes([s[0], s[1]]) == SETTINGS_MAX_CONCURRENT_STREAMS)
                    .map(|s| u32::from_be_bytes([s[2], s[3], s[4], s[5]]))
                    .next_back();
                seen(Frame::Settings(limit));
            }
            // A GOAWAY shorter than its 8 fixed bytes is h2's protocol
            // error to report, not ours.
            Some(TYPE_GOAWAY) if self.kept.len() >= 8 => {
                let k = &self.kept;
                seen(Frame::Goaway(Goaway {
                    last_stream_id: u32::from_be_bytes([k[0], k[1], k[2], k[3]]) & 0x7fff_ffff,
                    code: GoawayCode(u32::from_be_bytes([k[4], k[5], k[6], k[7]])),
                    debug: k[8..].to_vec(),
                }));
            }
            _ => {}
        }
        // Only a kept frame filled it: the rest leave it empty.
        self.kept.clear();
        debug_assert!(self.keeping.is_none() && self.kept.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut f = len.to_be_bytes()[1..].to_vec();
        f.extend([kind, flags]);
        f.extend(stream.to_be_bytes());
        f.extend(payload);
        f
    }

    fn settings(pairs: &[(u16, u32)]) -> Vec<u8> {
        let payload: Vec<u8> = pairs
            .iter()
            .flat_map(|(id, v)| id.to_be_bytes().into_iter().chain(v.to_be_bytes()))
            .collect();
        frame(TYPE_SETTINGS, 0, 0, &payload)
    }

    fn goaway(last: u32, code: u32, debug: &[u8]) -> Vec<u8> {
        let mut payload = last.to_be_bytes().to_vec();
        payload.extend(code.to_be_bytes());
        payload.extend(debug);
        frame(TYPE_GOAWAY, 0, 0, &payload)
    }

    /// Feeds `bytes` in pieces of `piece` bytes, collecting what is seen.
    fn read(bytes: &[u8], piece: usize) -> Vec<Frame> {
        let mut reader = FrameReader::default();
        let mut seen = Vec::new();
        for chunk in bytes.chunks(piece) {
            reader.feed(chunk, &mut |s| seen.push(s));
        }
        seen
    }

    #[test]
    fn frames_are_found_however_the_bytes_are_split() {
        let mut stream = settings(&[(0x4, 65_535), (SETTINGS_MAX_CONCURRENT_STREAMS, 100)]);
        stream.extend(frame(TYPE_SETTINGS, FLAG_ACK, 0, &[]));
        stream.extend(frame(0x0, 0x1, 1, &[7; 300])); // DATA, skipped
        stream.extend(frame(0x6, 0, 0, &[1; 8])); // PING, skipped
        stream.extend(settings(&[(SETTINGS_MAX_CONCURRENT_STREAMS, 4)]));
        stream.extend(goaway(0x8000_0003, 0xb, b"too_many_pings"));
        stream.extend(settings(&[(0x4, 1)]));
        let expected = vec![
            Frame::Settings(Some(100)),
            Frame::Settings(Some(4)),
            Frame::Goaway(Goaway {
                last_stream_id: 3,
                code: GoawayCode::ENHANCE_YOUR_CALM,
                debug: b"too_many_pings".to_vec(),
            }),
            Frame::Settings(None),
        ];
        for piece in [1, 2, 5, 9, 10, 13, 17, 64, stream.len()] {
            assert_eq!(read(&stream, piece), expected, "pieces of {piece}");
        }
        let Frame::Goaway(last) = &expected[2] else {
            unreachable!()
        };
        assert!(last.is_too_many_pings());
    }

    #[test]
    fn long_debug_data_is_cut_and_short_goaway_ignored() {
        let mut stream = goaway(9, 0, &[b'x'; 500]);
        stream.extend(frame(TYPE_GOAWAY, 0, 0, &[0, 0, 0])); // malformed
        stream.extend(settings(&[(SETTINGS_MAX_CONCURRENT_STREAMS, 8)]));
        let seen = read(&stream, 7);
        assert_eq!(seen.len(), 2);
        let Frame::Goaway(g) = &seen[0] else {
            panic!("{seen:?}")
        };
        assert_eq!((g.last_stream_id, g.debug.len()), (9, GOAWAY_DEBUG_KEPT));
        assert!(!g.is_too_many_pings());
        assert_eq!(seen[1], Frame::Settings(Some(8)));
    }

    #[test]
    fn codes_have_names() {
        assert_eq!(GoawayCode::NO_ERROR.to_string(), "no_error");
        assert_eq!(
            GoawayCode::ENHANCE_YOUR_CALM.to_string(),
            "enhance_your_calm"
        );
        assert_eq!(GoawayCode(0x42).to_string(), "0x42");
    }
}
