//! The URL a run aims at: parsed once into address, authority and path.
//!
//! Owns the loopback guard: a target outside 127.0.0.0/8 or ::1 is refused
//! unless the caller says `--allow-remote`. It must never resolve names on a
//! hot path; resolution happens once, before any load is sent.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};

/// A parsed `http://` or `https://` target.
#[derive(Debug, Clone)]
pub struct Target {
    /// `true` for `https://`.
    pub tls: bool,
    /// The host as written, used for SNI.
    pub host: String,
    /// The resolved socket address (the first one).
    pub addr: SocketAddr,
    /// The `host` header value.
    pub authority: String,
    /// Path and query, at least `/`.
    pub path: String,
}

/// Why a URL was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum TargetError {
    /// Not `http://` or `https://`.
    Scheme(String),
    /// Empty host or unparsable port.
    Malformed(String),
    /// The host did not resolve.
    Resolve(String),
    /// The host resolved outside loopback and `--allow-remote` was not given.
    Remote(String),
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetError::Scheme(u) => {
                write!(f, "{u}: only http:// and https:// URLs are supported")
            }
            TargetError::Malformed(u) => write!(f, "{u}: malformed URL"),
            TargetError::Resolve(u) => write!(f, "{u}: host does not resolve"),
            TargetError::Remote(u) => write!(
                f,
                "{u}: target is not a loopback address; this is a load generator, \
                 pass --allow-remote if you really mean to load another machine"
            ),
        }
    }
}

impl std::error::Error for TargetError {}

/// Parses `url` and resolves its host, refusing non-loopback targets unless `allow_remote`.
pub fn parse(url: &str, allow_remote: bool) -> Result<Target, TargetError> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else {
        return Err(TargetError::Scheme(url.to_string()));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = split_host_port(authority, if tls { 443 } else { 80 })
        .ok_or_else(|| TargetError::Malformed(url.to_string()))?;
    let addr = (host.as_str(), port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| TargetError::Resolve(url.to_string()))?;
    if !allow_remote && !addr.ip().is_loopback() {
        return Err(TargetError::Remote(url.to_string()));
    }
    Ok(Target {
        tls,
        host,
        addr,
        authority: authority.to_string(),
        path: path.to_string(),
    })
}

fn split_host_port(authority: &str, default_port: u16) -> Option<(String, u16)> {
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = rest[..end].to_string();
        let port = match &rest[end + 1..] {
            "" => default_port,
            p => p.strip_prefix(':')?.parse().ok()?,
        };
        return Some((host, port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => Some((h.to_string(), p.parse().ok()?)),
        Some(_) => None,
        None => Some((authority.to_string(), default_port)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_loopback_targets() {
        let t = parse("http://127.0.0.1:8080/a?b=1", false).unwrap();
        assert_eq!(t.addr.port(), 8080);
        assert_eq!(t.path, "/a?b=1");
        assert_eq!(t.authority, "127.0.0.1:8080");
        assert!(!t.tls);
        let t = parse("https://[::1]:8443", false).unwrap();
        assert!(t.tls && t.path == "/" && t.addr.port() == 8443);
        assert_eq!(parse("http://localhost", false).unwrap().addr.port(), 80);
    }

    #[test]
    fn refuses_remote_and_malformed() {
        assert!(matches!(
            parse("http://10.1.2.3:80/", false),
            Err(TargetError::Remote(_))
        ));
        assert!(parse("http://10.1.2.3:80/", true).is_ok());
        assert!(matches!(
            parse("ftp://127.0.0.1/", false),
            Err(TargetError::Scheme(_))
        ));
        assert!(matches!(
            parse("http://:80/", false),
            Err(TargetError::Malformed(_))
        ));
        assert!(matches!(
            parse("http://127.0.0.1:x/", false),
            Err(TargetError::Malformed(_))
        ));
    }
}
