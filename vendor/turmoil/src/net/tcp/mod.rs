pub(crate) mod forget;
pub use forget::Forgotten;

pub(crate) mod handshake;

pub(crate) mod keepalive;
pub use keepalive::TcpKeepalive;

pub(crate) mod listener;

pub(crate) mod rtx;
pub use rtx::TcpRetransmission;

mod split_owned;
pub use split_owned::{OwnedReadHalf, OwnedWriteHalf, ReuniteError};

pub(crate) mod stream;

pub(crate) mod wheel;
pub use wheel::TimerWheel;
