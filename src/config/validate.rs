//! Syntax checks for single configuration values: names, addresses, hosts,
//! paths, methods, header names and values, numeric bounds.
//!
//! Owns: what a valid value looks like and the normalised form it compiles
//! to; each check returns `Err(message)` for the caller to attach to a key.
//! Must never: know about key paths, lines or other keys (cross-key rules
//! live in `compile`).

use std::net::{Ipv6Addr, SocketAddr, ToSocketAddrs};

use super::upstream::DnsQuery;
use crate::http::Method;
use crate::route::matcher::KNOWN_METHODS;
use crate::route::HostMatch;

/// Longest accepted timeout: one day. Far beyond any sane value, and small
/// enough that `Instant + timeout` can never overflow.
pub const MAX_TIMEOUT_MS: u64 = 86_400_000;

/// Headers a route may not set, add or remove: they frame the message or
/// belong to one hop, so editing them would desynchronise or break the
/// connection; `x-request-id` and `x-real-ip` are owned by the gateway.
pub const FORBIDDEN_EDITS: [&str; 11] = [
    "content-length",
    "transfer-encoding",
    "host",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "x-request-id",
    "x-real-ip",
];

/// Request headers the gateway writes itself on every upstream request
/// (`server/head.rs`): a route edit of one would send a second line beside
/// the gateway's, and the upstream would pick either.
pub const GATEWAY_WRITTEN: [&str; 4] = [
    "via",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
];

/// Route, upstream, policy and service names: they appear in logs, error
/// bodies and admin/registry paths (`/registry/services/{name}`), so `.` and
/// `..`, which a path normaliser reads as dot segments, are refused.
pub fn name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && s != "."
        && s != "..";
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid name {s:?}: use 1 to 64 characters among A-Z a-z 0-9 - _ ., other than . and .."
        ))
    }
}

/// `lo..=hi` check with a uniform message.
pub fn bounded(v: u64, lo: u64, hi: u64) -> Result<u64, String> {
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else if hi == u64::MAX {
        Err(format!("{v} is out of range: must be at least {lo}"))
    } else {
        Err(format!(
            "{v} is out of range: must be between {lo} and {hi}"
        ))
    }
}

/// A timeout in milliseconds: 1 ms to one day.
pub fn timeout_ms(v: u64) -> Result<std::time::Duration, String> {
    bounded(v, 1, MAX_TIMEOUT_MS).map(std::time::Duration::from_millis)
}

/// `host:port`, an IP literal or a name resolved now (first address).
/// Port 0 is accepted only where the OS may pick the port (`allow_port0`).
pub fn socket_addr(s: &str, allow_port0: bool) -> Result<SocketAddr, String> {
    let addr = match s.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => {
            // Syntax first, so that garbage never reaches the resolver.
            let port_ok = s
                .rsplit_once(':')
                .is_some_and(|(host, port)| dns_name(host) && port.parse::<u16>().is_ok());
            if !port_ok {
                return Err(format!(
                    "{s:?} is not host:port (for example \"127.0.0.1:8080\")"
                ));
            }
            let mut addrs = s
                .to_socket_addrs()
                .map_err(|e| format!("cannot resolve {s:?}: {e}"))?;
            addrs
                .next()
                .ok_or_else(|| format!("cannot resolve {s:?}: no address"))?
        }
    };
    if addr.port() == 0 && !allow_port0 {
        return Err(format!("{s:?} has port 0, which cannot be connected to"));
    }
    Ok(addr)
}

/// `dns_name`: `"host:port"` (A/AAAA) or `"_service._proto.name"` (SRV),
/// compiled lower-case without a trailing dot. Names are taken as fully
/// qualified: no search domain is ever appended.
pub fn dns_query(s: &str) -> Result<DnsQuery, String> {
    let lower = s.to_ascii_lowercase();
    if lower.starts_with('_') {
        let name = lower.strip_suffix('.').unwrap_or(&lower);
        let labels: Vec<&str> = name.split('.').collect();
        let srv = dns_name(name)
            && labels.len() >= 3
            && labels[0].len() > 1
            && labels[1].len() > 1
            && labels[1].starts_with('_');
        return match srv {
            true => Ok(DnsQuery::Srv(name.into())),
            false => Err(format!(
                "{s:?} is not an SRV name: write \"_service._proto.name\" (like \"_http._tcp.users.internal\"), \
                 without a port (the SRV records give it)"
            )),
        };
    }
    let Some((host, port)) = lower.rsplit_once(':') else {
        return Err(format!(
            "{s:?} has no port: write \"host:port\" for A/AAAA records, or \"_service._proto.name\" for SRV"
        ));
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.parse::<std::net::Ipv4Addr>().is_ok() || host.starts_with('[') {
        return Err(format!(
            "{s:?} is an IP address, which DNS cannot change: list it in `targets` with discovery = \"static\""
        ));
    }
    if !dns_name(host) {
        return Err(format!(
            "{s:?} is not host:port: use labels of letters, digits, '-' and '_' separated by dots"
        ));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(DnsQuery::Host {
            host: host.into(),
            port: p,
        }),
        _ => Err(format!("{s:?} needs a port between 1 and 65535")),
    }
}

/// `resolver`: an IP literal with an optional port (default 53); a name
/// would itself need a resolver.
pub fn resolver(s: &str) -> Result<SocketAddr, String> {
    let addr = match s.parse::<std::net::IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, 53),
        Err(_) => s.parse::<SocketAddr>().map_err(|_| {
            format!("{s:?} is not an IP address with an optional port, like \"10.0.0.2:53\" or \"[::1]:5353\"")
        })?,
    };
    match addr.port() {
        0 => Err(format!("{s:?} has port 0, which cannot be asked")),
        _ => Ok(addr),
    }
}

/// A method name, case-insensitive; only the known methods.
pub fn method(s: &str) -> Result<Method, String> {
    let m = Method::from_bytes(s.to_ascii_uppercase().as_bytes());
    if m == Method::Other {
        let known: Vec<&str> = KNOWN_METHODS.iter().filter_map(|m| m.as_str()).collect();
        return Err(format!(
            "unknown method {s:?} (known: {})",
            known.join(", ")
        ));
    }
    Ok(m)
}

/// RFC 9110 token: the syntax of header names.
pub fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A header name, returned lowercase.
pub fn header_name(s: &str) -> Result<Vec<u8>, String> {
    if is_token(s) {
        Ok(s.to_ascii_lowercase().into_bytes())
    } else {
        Err(format!("{s:?} is not a valid header name (RFC 9110 token)"))
    }
}

/// A header value: no CR, LF, NUL or other control byte except tab, and no
/// surrounding whitespace (receivers strip it, so it could never match or
/// survive forwarding).
pub fn header_value(s: &str) -> Result<Vec<u8>, String> {
    if let Some(b) = s.bytes().find(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(format!(
            "header value contains the control byte 0x{b:02x} (CR, LF and NUL are never allowed)"
        ));
    }
    if s.trim_matches([' ', '\t']).len() != s.len() {
        return Err(format!(
            "header value {s:?} has leading or trailing whitespace"
        ));
    }
    Ok(s.as_bytes().to_vec())
}

/// `host`: an exact name, `*.suffix`, an IPv4 or a bracketed IPv6 literal;
/// compiled lowercase without a trailing dot.
pub fn host(s: &str) -> Result<HostMatch, String> {
    let lower = s.to_ascii_lowercase();
    let h = lower.strip_suffix('.').unwrap_or(&lower);
    if let Some(v6) = h.strip_prefix('[') {
        let ok = v6
            .strip_suffix(']')
            .is_some_and(|a| a.parse::<Ipv6Addr>().is_ok());
        return match ok {
            true => Ok(HostMatch::Exact(h.as_bytes().into())),
            false => Err(format!("host {s:?} is not a valid bracketed IPv6 address")),
        };
    }
    if h.contains(':') {
        return Err(format!(
            "host {s:?} must not include a port (ports are ignored when matching)"
        ));
    }
    let (wild, name) = match h.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, h),
    };
    if !dns_name(name) {
        return Err(format!(
            "host {s:?} is not a host name: use labels of letters, digits and '-' separated by dots, \
             optionally starting with \"*.\" to match subdomains"
        ));
    }
    Ok(match wild {
        true => HostMatch::Suffix(format!(".{name}").into_bytes().into()),
        false => HostMatch::Exact(name.as_bytes().into()),
    })
}

/// A Host header value the gateway sends itself: a host name, an IPv4 or a
/// bracketed IPv6 literal, with an optional `:port`.
pub fn authority(s: &str) -> Result<(), String> {
    let (host_ok, port) = match s.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((a, rest)) => (a.parse::<Ipv6Addr>().is_ok(), rest),
            None => (false, ""),
        },
        None => match s.split_once(':') {
            Some((h, _)) => (dns_name(h), &s[h.len()..]),
            None => (dns_name(s), ""),
        },
    };
    let port_ok = port.is_empty()
        || port.strip_prefix(':').is_some_and(|p| {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
        });
    if host_ok && port_ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a host: use a name, an IPv4 or [IPv6] address, optionally with :port"
        ))
    }
}

/// The path (and query) of a request the gateway sends itself: starts with
/// '/', printable ASCII without spaces or '#'.
pub fn request_target(s: &str) -> Result<(), String> {
    if !s.starts_with('/') {
        return Err(format!("path {s:?} must start with '/'"));
    }
    match s.chars().find(|c| !c.is_ascii_graphic() || *c == '#') {
        None => Ok(()),
        Some(c) => Err(format!(
            "path {s:?} contains {c:?}: use printable ASCII without spaces or '#' \
             (percent-encode other bytes)"
        )),
    }
}

/// A JWT claim name as a key names it (`jwt:CLAIM`): printable ASCII, no spaces.
pub fn is_claim_name(c: &str) -> bool {
    !c.is_empty() && c.bytes().all(|b| b.is_ascii_graphic())
}

/// Dot-separated labels of letters, digits, '-' and '_' (IPv4 literals pass too).
fn dns_name(name: &str) -> bool {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    !name.is_empty() && name.len() <= 253 && name.split('.').all(label_ok)
}

/// A path as the router sees it: normalised, so it must be too, or it could never match.
pub fn path(s: &str) -> Result<(), String> {
    if !s.starts_with('/') {
        return Err(format!("path {s:?} must start with '/'"));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !c.is_ascii_graphic() || *c == '?' || *c == '#')
    {
        return Err(format!(
            "path {s:?} contains {c:?}: paths are matched without query, fragment, spaces or \
             non-ASCII (percent-encode those bytes)"
        ));
    }
    for (i, _) in s.match_indices('%') {
        percent_escape(s, &s.as_bytes()[i + 1..])?;
    }
    if s.contains(';') || s.contains('\\') || ["%2F", "%5C"].iter().any(|e| s.contains(e)) {
        return Err(format!(
            "path {s:?} contains ';', '\\', %2F or %5C: request paths never do once normalised \
             (see server.escaped_slashes and server.path_params), so it could never match"
        ));
    }
    let trailing = s
        .split('/')
        .any(|seg| seg.ends_with("%20") || (seg.ends_with('.') && seg != "." && seg != ".."));
    if trailing {
        return Err(format!(
            "path {s:?} has a segment ending in '.' or %20; requests with one are refused, so it could never match"
        ));
    }
    let dot_segment = s.split('/').any(|seg| seg == "." || seg == "..");
    if s.contains("//") || dot_segment {
        return Err(format!(
            "path {s:?} contains \"//\", \".\" or \"..\" segments; request paths are normalised \
             before matching, so it could never match"
        ));
    }
    Ok(())
}

/// One `%XX` escape in the form `http::normalize_path` leaves it: two
/// uppercase hex digits, not NUL, not an unreserved byte (those are decoded).
fn percent_escape(path: &str, after: &[u8]) -> Result<(), String> {
    let hex = match after.get(..2) {
        Some(h) if h.iter().all(u8::is_ascii_hexdigit) => h,
        _ => {
            return Err(format!(
                "path {path:?} has a '%' not followed by two hex digits"
            ))
        }
    };
    let text = String::from_utf8_lossy(hex);
    let byte = u8::from_str_radix(&text, 16).unwrap_or(0);
    if byte == 0 {
        return Err(format!(
            "path {path:?} contains %00, which requests may never contain"
        ));
    }
    if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
        let c = char::from(byte);
        return Err(format!(
            "path {path:?} escapes {c:?} as %{text}: request paths are matched decoded, write {c:?}"
        ));
    }
    if hex.iter().any(u8::is_ascii_lowercase) {
        let upper = text.to_ascii_uppercase();
        return Err(format!(
            "path {path:?} has %{text}: request paths are matched with uppercase escapes, write %{upper}"
        ));
    }
    Ok(())
}

/// `p` as a file ringway will create or append to: its directory must
/// exist and `p` must not be a directory (relative paths are taken from the
/// working directory, as the file will be).
pub fn new_file_path(p: &str) -> Result<std::path::PathBuf, String> {
    let path = std::path::PathBuf::from(p);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    if !dir.is_dir() {
        return Err(format!(
            "directory {} does not exist (ringway creates the file, not its directory)",
            dir.display()
        ));
    }
    if path.is_dir() {
        return Err(format!("{p} is a directory: name a file in it"));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(name("users-v2.internal_1").is_ok());
        assert!(name("").is_err());
        assert!(name("with space").is_err());
        assert!(name("quote\"").is_err());
        assert!(name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn addresses() {
        assert_eq!(
            socket_addr("127.0.0.1:80", false),
            Ok("127.0.0.1:80".parse().unwrap())
        );
        assert_eq!(
            socket_addr("[::1]:80", false),
            Ok("[::1]:80".parse().unwrap())
        );
        assert!(socket_addr("127.0.0.1:0", true).is_ok());
        assert!(socket_addr("127.0.0.1:0", false)
            .unwrap_err()
            .contains("port 0"));
        assert!(socket_addr("localhost:3001", false)
            .is_ok_and(|a| a.ip().is_loopback() && a.port() == 3001));
        for bad in [
            "127.0.0.1",
            "localhost",
            ":80",
            "1.2.3.4:99999",
            "a b:1",
            "",
        ] {
            assert!(socket_addr(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn methods() {
        assert_eq!(method("get"), Ok(Method::Get));
        assert_eq!(method("Options"), Ok(Method::Options));
        let e = method("FETCH").unwrap_err();
        assert!(e.contains("FETCH") && e.contains("GET, HEAD"), "{e}");
    }

    #[test]
    fn header_names_and_values() {
        assert_eq!(header_name("X-Tenant"), Ok(b"x-tenant".to_vec()));
        for bad in ["", "a b", "a:b", "ä", "x\r"] {
            assert!(header_name(bad).is_err(), "{bad:?}");
        }
        assert!(header_value("ok value, with\ttab").is_ok());
        assert!(header_value("").is_ok());
        assert!(header_value("caf\u{e9}").is_ok());
        for bad in ["a\r\nx: y", "a\nb", "a\0", "a\x7f", " lead", "trail\t"] {
            assert!(header_value(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hosts() {
        assert_eq!(
            host("API.example.com."),
            Ok(HostMatch::Exact(b"api.example.com".as_slice().into()))
        );
        assert_eq!(
            host("*.Example.com"),
            Ok(HostMatch::Suffix(b".example.com".as_slice().into()))
        );
        assert_eq!(
            host("10.0.0.1"),
            Ok(HostMatch::Exact(b"10.0.0.1".as_slice().into()))
        );
        assert_eq!(
            host("[::1]"),
            Ok(HostMatch::Exact(b"[::1]".as_slice().into()))
        );
        for bad in [
            "", "*", "*.", "a..b", "a.*.b", "*.*.b", "a:80", "[::1]:80", "[zz]", "a b", "a/b", ".a",
        ] {
            assert!(host(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn paths() {
        for ok in [
            "/",
            "/api/users",
            "/api/users/",
            "/a%3Bb",
            "/a-b_c.d~e",
            "/%C3%A9",
        ] {
            assert!(path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "api",
            "/a?b",
            "/a#b",
            "/a b",
            "/caf\u{e9}",
            "/a//b",
            "/a/./b",
            "/a/..",
            // Never in a normalised request path (issue 10).
            "/a%2Fb",
            "/a%5Cb",
            "/a\\b",
            "/a;b",
            "/admin.",
            "/a./b",
            "/a%20",
            "/a%20/b",
            "/%zz",
            "/%4",
            "/%2f",
            "/%41",
            "/%7E",
            "/%00",
        ] {
            assert!(path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn authorities_and_request_targets() {
        for ok in ["a.internal", "A:80", "10.0.0.1:8080", "[::1]", "[::1]:80"] {
            assert!(authority(ok).is_ok(), "{ok:?}");
        }
        for bad in [
            "", ":80", "a:", "a:+80", "a:99999", "a:b", "a b", "[::1", "[zz]", "[::1]80", "a/b",
        ] {
            assert!(authority(bad).is_err(), "{bad:?}");
        }
        for ok in ["/", "/healthz", "/h?x=1&y=%20", "/a//b/../c"] {
            assert!(request_target(ok).is_ok(), "{ok:?}");
        }
        for bad in ["", "h", "/a b", "/a#b", "/caf\u{e9}", "/a\tb"] {
            assert!(request_target(bad).is_err(), "{bad:?}");
        }
        assert!(is_claim_name("sub") && is_claim_name("https://x/roles"));
        assert!(!is_claim_name("") && !is_claim_name("a b"));
    }

    #[test]
    fn dns_queries() {
        let host = |h: &str, port| {
            Ok(DnsQuery::Host {
                host: h.into(),
                port,
            })
        };
        assert_eq!(
            dns_query("Orders.Internal:8080"),
            host("orders.internal", 8080)
        );
        assert_eq!(
            dns_query("orders.internal.:80"),
            host("orders.internal", 80)
        );
        assert_eq!(dns_query("localhost:1"), host("localhost", 1));
        assert_eq!(
            dns_query("_HTTP._tcp.orders.internal."),
            Ok(DnsQuery::Srv("_http._tcp.orders.internal".into()))
        );
        for bad in [
            "orders.internal",
            "orders.internal:0",
            "orders.internal:65536",
            "orders.internal:+80",
            "orders.internal:",
            ":80",
            "10.0.0.1:80",
            "[::1]:80",
            "a b:80",
            "a..b:80",
            "_http._tcp",
            "_http.tcp.orders",
            "_._tcp.orders",
            "_http._tcp.orders:80",
            "",
        ] {
            assert!(dns_query(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn resolvers() {
        assert_eq!(resolver("10.0.0.2"), Ok("10.0.0.2:53".parse().unwrap()));
        assert_eq!(
            resolver("127.0.0.1:5353"),
            Ok("127.0.0.1:5353".parse().unwrap())
        );
        assert_eq!(resolver("::1"), Ok("[::1]:53".parse().unwrap()));
        assert_eq!(resolver("[::1]:5353"), Ok("[::1]:5353".parse().unwrap()));
        for bad in [
            "",
            "dns.internal:53",
            "10.0.0.2:0",
            "10.0.0.2:x",
            "10.0.0.2:99999",
        ] {
            assert!(resolver(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bounds_and_timeouts() {
        assert_eq!(bounded(5, 1, 10), Ok(5));
        assert!(bounded(0, 1, 10).unwrap_err().contains("between 1 and 10"));
        assert!(bounded(0, 1, u64::MAX).unwrap_err().contains("at least 1"));
        assert!(timeout_ms(0).is_err());
        assert!(timeout_ms(MAX_TIMEOUT_MS + 1).is_err());
        assert_eq!(timeout_ms(250), Ok(std::time::Duration::from_millis(250)));
    }
}
