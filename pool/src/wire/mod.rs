//! The bytes a server sends, read but never changed: its first bytes (to
//! tell a peer that does not speak HTTP/2) and the frames hyper keeps to
//! itself (GOAWAY, the server's stream limit).
//!
//! A leaf: pure readers that import nothing from the pool. What they find
//! goes to a [`FrameSink`] the connection provides (`conn/frames.rs`).
//! - `frame`: [`FrameReader`], frame headers and the payloads that matter.
//! - `sniff`: [`Sniff`], the byte-stream wrapper that keeps the first bytes
//!   and feeds the reader.

mod frame;
mod sniff;

#[cfg(test)]
pub(crate) use frame::FrameReader;
pub use frame::GoawayCode;
pub(crate) use frame::{Frame, FrameSink, Goaway};
pub(crate) use sniff::{FirstBytes, Sniff, escape};
