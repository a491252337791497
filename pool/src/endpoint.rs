//! Endpoints: the servers a pool connects to, and the ids that name them.

use std::fmt;

use http::uri::{Authority, PathAndQuery, Scheme, Uri};

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

    /// `uri` sent to this endpoint: tonic sends path-only URIs, and HTTP/2
    /// needs `:scheme` and `:authority` too. A URI without a path gets `/`.
    ///
    /// Takes the URI and sets its parts, not `Uri::builder()`: the builder
    /// converts and checks each part again, on every RPC.
    pub(crate) fn absolute_uri(&self, uri: Uri) -> Uri {
        let mut parts = uri.into_parts();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        if parts.path_and_query.is_none() {
            parts.path_and_query = Some(PathAndQuery::from_static("/"));
        }
        Uri::from_parts(parts).expect("scheme, authority and path are each valid")
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

    #[test]
    fn absolute_uri_takes_the_endpoints_scheme_and_authority() {
        // tonic hands the pool `/pkg.Service/Method`; h2 refuses a request
        // without `:scheme` and `:authority`, so the pool must add both.
        let ep = Endpoint::parse("http://server-1:50051").unwrap();
        let path_only: Uri = "/echo.Echo/Say?x=1".parse().unwrap();
        assert_eq!(
            ep.absolute_uri(path_only).to_string(),
            "http://server-1:50051/echo.Echo/Say?x=1"
        );
        // An absolute URI aimed elsewhere still goes to this endpoint.
        let elsewhere: Uri = "http://other:1/a".parse().unwrap();
        assert_eq!(
            ep.absolute_uri(elsewhere).to_string(),
            "http://server-1:50051/a"
        );
        // A URI with no path at all gets the root path.
        let bare: Uri = "http://other:1".parse().unwrap();
        assert_eq!(ep.absolute_uri(bare).path(), "/");
    }
}
