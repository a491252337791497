//! Endpoints: the servers a pool connects to, and the ids that name them.

use std::fmt;

use http::uri::{Authority, Scheme, Uri};

/// Index of an endpoint in the pool's endpoint list, stable for the pool's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EndpointId(pub u32);

impl fmt::Display for EndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A server address the pool dials: scheme, host and port, e.g. `http://server-1:50051`.
///
/// The scheme and authority are also written into every request's URI, because
/// HTTP/2 servers require the `:scheme` and `:authority` pseudo-headers and
/// tonic-generated clients send a path-only URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    scheme: Scheme,
    authority: Authority,
}

/// Why a string is not an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("`{0}` is not a valid URI: {1}")]
    InvalidUri(String, String),
    #[error("`{0}` has no host and port (expected e.g. `http://host:50051`)")]
    MissingAuthority(String),
    #[error("`{0}` has no port (expected e.g. `http://host:50051`)")]
    MissingPort(String),
    #[error("`{0}` uses scheme `{1}`; only `http` (plaintext HTTP/2) is supported")]
    UnsupportedScheme(String, String),
}

impl Endpoint {
    /// Parses `http://host:port`. TLS is not supported yet, so `https` is refused
    /// rather than silently dialled in plaintext.
    pub fn parse(text: &str) -> Result<Self, EndpointError> {
        let uri: Uri = text.parse().map_err(|e: http::uri::InvalidUri| {
            EndpointError::InvalidUri(text.into(), e.to_string())
        })?;
        let parts = uri.into_parts();
        let scheme = parts.scheme.unwrap_or(Scheme::HTTP);
        if scheme != Scheme::HTTP {
            return Err(EndpointError::UnsupportedScheme(
                text.into(),
                scheme.to_string(),
            ));
        }
        let authority = parts
            .authority
            .ok_or_else(|| EndpointError::MissingAuthority(text.into()))?;
        if authority.port_u16().is_none() {
            return Err(EndpointError::MissingPort(text.into()));
        }
        Ok(Self { scheme, authority })
    }

    /// The host name or address, without the port.
    pub fn host(&self) -> &str {
        self.authority.host()
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.authority
            .port_u16()
            .expect("Endpoint::parse guarantees a port")
    }

    pub(crate) fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    pub(crate) fn authority(&self) -> &Authority {
        &self.authority
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.authority)
    }
}

impl std::str::FromStr for Endpoint {
    type Err = EndpointError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_and_port() {
        let ep = Endpoint::parse("http://server-1:50051").unwrap();
        assert_eq!((ep.host(), ep.port()), ("server-1", 50051));
        assert_eq!(ep.to_string(), "http://server-1:50051");
    }

    #[test]
    fn rejects_missing_port_and_tls() {
        assert!(matches!(
            Endpoint::parse("http://server-1"),
            Err(EndpointError::MissingPort(_))
        ));
        assert!(matches!(
            Endpoint::parse("https://server-1:443"),
            Err(EndpointError::UnsupportedScheme(..))
        ));
    }
}
