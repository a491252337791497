//! The values `squall serve`, `squall load` and `squall bench-net` take on
//! the command line, each parsed into a type with a typed error: durations
//! (`5s`, `500ms`), the client under test (`pool`, `channel`,
//! `channels:N`), the method, and loopback-only addresses.

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    str::FromStr,
    time::Duration,
};

/// Most connections or channels one client may open: bounds sockets and tasks.
pub const MAX_CONNECTIONS: usize = 64;

/// Most concurrent RPC loops one load run may start.
pub const MAX_CONCURRENCY: usize = 100_000;

/// Longest run one `squall load` may be asked for: the load always stops by itself.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);

/// A bad command-line value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    #[error("`{0}` is not a duration: write a whole number and a unit, e.g. `5s`, `500ms`, `2m`")]
    Duration(String),
    #[error("duration `{0}` is longer than the most allowed ({max}s)", max = MAX_DURATION.as_secs())]
    DurationTooLong(String),
    #[error(
        "`{0}` is not a client: use `pool`, `pool-coalescing`, `channel`, `channel-like-pool` or `channels:N` (N from 1 to {MAX_CONNECTIONS})"
    )]
    Client(String),
    #[error("`{0}` is not a method: use `echo` or `health`")]
    Method(String),
    #[error("`{0}` is not a target: write `http://HOST:PORT`")]
    Target(String),
    #[error(
        "`{0}` is not a loopback address: squall's load tools only talk to this machine (127.0.0.0/8, ::1, localhost)"
    )]
    NotLoopback(String),
    #[error(
        "`{0}` is not a list of concurrencies: write numbers separated by commas, e.g. `1,16,256`"
    )]
    Concurrencies(String),
}

/// Parses `5s`, `500ms`, `2m`, `100us` (a whole number and a unit).
pub fn parse_duration(text: &str) -> Result<Duration, ArgError> {
    let bad = || ArgError::Duration(text.to_owned());
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .filter(|&at| at > 0)
        .ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let duration = match unit {
        "us" => Duration::from_micros(n),
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60).ok_or_else(bad)?),
        _ => return Err(bad()),
    };
    if duration > MAX_DURATION {
        return Err(ArgError::DurationTooLong(text.to_owned()));
    }
    Ok(duration)
}

/// Which client a load run drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientSpec {
    /// squall's `Pool` over `TcpConnector`.
    Pool,
    /// The same with `PoolConfig::coalesce_request_writes` on.
    PoolCoalescing,
    /// One tonic `Channel`: what a tonic user has without a pool.
    Channel,
    /// One tonic `Channel` doing the pool's job: the pool's default HTTP/2
    /// keepalive and RPC deadline (what a default Channel lacks).
    ChannelLikePool,
    /// N tonic `Channel`s, each RPC on the next in turn: the naive pool.
    Channels(usize),
}

impl FromStr for ClientSpec {
    type Err = ArgError;

    fn from_str(text: &str) -> Result<Self, ArgError> {
        let bad = || ArgError::Client(text.to_owned());
        match text {
            "pool" => Ok(ClientSpec::Pool),
            "pool-coalescing" => Ok(ClientSpec::PoolCoalescing),
            "channel" => Ok(ClientSpec::Channel),
            "channel-like-pool" => Ok(ClientSpec::ChannelLikePool),
            _ => {
                let n: usize = text
                    .strip_prefix("channels:")
                    .ok_or_else(bad)?
                    .parse()
                    .map_err(|_| bad())?;
                if !(1..=MAX_CONNECTIONS).contains(&n) {
                    return Err(bad());
                }
                Ok(ClientSpec::Channels(n))
            }
        }
    }
}

impl fmt::Display for ClientSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientSpec::Pool => f.write_str("pool"),
            ClientSpec::PoolCoalescing => f.write_str("pool-coalescing"),
            ClientSpec::Channel => f.write_str("channel"),
            ClientSpec::ChannelLikePool => f.write_str("channel-like-pool"),
            ClientSpec::Channels(n) => write!(f, "channels:{n}"),
        }
    }
}

/// The RPC every load loop sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `squall.echo.v1.Echo/Echo` with a short message: squall's own server.
    Echo,
    /// `grpc.health.v1.Health/Check`: any gRPC server that has health.
    Health,
}

impl FromStr for Method {
    type Err = ArgError;

    fn from_str(text: &str) -> Result<Self, ArgError> {
        match text {
            "echo" => Ok(Method::Echo),
            "health" => Ok(Method::Health),
            _ => Err(ArgError::Method(text.to_owned())),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Echo => "echo",
            Method::Health => "health",
        })
    }
}

/// A server to load: `http://HOST:PORT` on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// As written, e.g. `http://127.0.0.1:50051`.
    pub url: String,
    pub host: String,
    pub port: u16,
}

impl FromStr for Target {
    type Err = ArgError;

    fn from_str(text: &str) -> Result<Self, ArgError> {
        let bad = || ArgError::Target(text.to_owned());
        let rest = text.strip_prefix("http://").ok_or_else(bad)?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if bare.is_empty() || port == 0 {
            return Err(bad());
        }
        if !is_loopback_host(bare) {
            return Err(ArgError::NotLoopback(text.to_owned()));
        }
        Ok(Target {
            url: format!("http://{host}:{port}"),
            host: host.to_owned(),
            port,
        })
    }
}

fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A socket address to listen on; loopback only.
pub fn parse_loopback_addr(text: &str) -> Result<SocketAddr, ArgError> {
    let addr: SocketAddr = text
        .parse()
        .map_err(|_| ArgError::NotLoopback(text.to_owned()))?;
    if !addr.ip().is_loopback() {
        return Err(ArgError::NotLoopback(text.to_owned()));
    }
    Ok(addr)
}

/// Parses `1,16,256,1024`.
pub fn parse_concurrencies(text: &str) -> Result<Vec<usize>, ArgError> {
    let bad = || ArgError::Concurrencies(text.to_owned());
    let list = text
        .split(',')
        .map(|n| n.trim().parse::<usize>().map_err(|_| bad()))
        .collect::<Result<Vec<_>, _>>()?;
    if list.iter().any(|&n| !(1..=MAX_CONCURRENCY).contains(&n)) {
        return Err(bad());
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_whole_number_and_a_unit() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in ["", "5", "s", "1.5s", "5 s", "-1s", "5h", "ms5"] {
            assert_eq!(
                parse_duration(bad),
                Err(ArgError::Duration(bad.to_owned())),
                "{bad}"
            );
        }
        assert_eq!(
            parse_duration("3601s"),
            Err(ArgError::DurationTooLong("3601s".to_owned()))
        );
    }

    #[test]
    fn clients_are_pool_channel_or_n_channels() {
        assert_eq!("pool".parse(), Ok(ClientSpec::Pool));
        assert_eq!("pool-coalescing".parse(), Ok(ClientSpec::PoolCoalescing));
        assert_eq!("channel".parse(), Ok(ClientSpec::Channel));
        assert_eq!("channel-like-pool".parse(), Ok(ClientSpec::ChannelLikePool));
        assert_eq!("channels:4".parse(), Ok(ClientSpec::Channels(4)));
        assert_eq!("channels:64".parse(), Ok(ClientSpec::Channels(64)));
        for bad in [
            "channels:0",
            "channels:65",
            "channels:",
            "channels",
            "chan",
            "channels:x",
        ] {
            assert_eq!(
                bad.parse::<ClientSpec>(),
                Err(ArgError::Client(bad.to_owned())),
                "{bad}"
            );
        }
        // Display round-trips, so reports name the client as it was asked for.
        for spec in [
            ClientSpec::Pool,
            ClientSpec::PoolCoalescing,
            ClientSpec::Channel,
            ClientSpec::ChannelLikePool,
            ClientSpec::Channels(8),
        ] {
            assert_eq!(spec.to_string().parse(), Ok(spec));
        }
    }

    #[test]
    fn methods_are_echo_or_health() {
        assert_eq!("echo".parse(), Ok(Method::Echo));
        assert_eq!("health".parse(), Ok(Method::Health));
        assert_eq!(
            "Echo".parse::<Method>(),
            Err(ArgError::Method("Echo".to_owned()))
        );
    }

    #[test]
    fn targets_must_be_loopback_http_urls() {
        let t: Target = "http://127.0.0.1:50051".parse().unwrap();
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 50051));
        assert_eq!(t.url, "http://127.0.0.1:50051");
        let t: Target = "http://[::1]:9/".parse().unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.url.as_str()),
            ("[::1]", 9, "http://[::1]:9")
        );
        assert!("http://localhost:1".parse::<Target>().is_ok());
        assert!("http://127.1.2.3:1".parse::<Target>().is_ok());
        for bad in [
            "127.0.0.1:1",
            "https://127.0.0.1:1",
            "http://127.0.0.1",
            "http://:1",
            "http://127.0.0.1:0",
        ] {
            assert_eq!(
                bad.parse::<Target>(),
                Err(ArgError::Target(bad.to_owned())),
                "{bad}"
            );
        }
        for remote in ["http://10.0.0.1:1", "http://example.com:80"] {
            assert_eq!(
                remote.parse::<Target>(),
                Err(ArgError::NotLoopback(remote.to_owned()))
            );
        }
    }

    #[test]
    fn listen_addresses_must_be_loopback() {
        assert!(parse_loopback_addr("127.0.0.1:0").is_ok());
        assert!(parse_loopback_addr("[::1]:8080").is_ok());
        for bad in ["0.0.0.0:80", "192.168.1.1:80", "localhost:80", "nonsense"] {
            assert_eq!(
                parse_loopback_addr(bad),
                Err(ArgError::NotLoopback(bad.to_owned()))
            );
        }
    }

    #[test]
    fn concurrency_lists() {
        assert_eq!(parse_concurrencies("1,16, 256"), Ok(vec![1, 16, 256]));
        for bad in ["", "1,,2", "0", "x", "100001"] {
            assert_eq!(
                parse_concurrencies(bad),
                Err(ArgError::Concurrencies(bad.to_owned())),
                "{bad}"
            );
        }
    }
}
