//! The system's nameservers, from `/etc/resolv.conf`, for DNS upstreams
//! without their own `resolver`. Read once, when discovery starts.
//!
//! Owns: the `nameserver` lines (at most 3, as glibc; port 53). Must never:
//! apply `search` or `ndots` (names in the config are fully qualified), or
//! fail: no usable line means 127.0.0.1:53, as glibc.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

/// Nameservers glibc reads at most.
const MAX_NAMESERVERS: usize = 3;

/// The nameservers of the file at `path`.
pub fn nameservers(path: &Path) -> Vec<SocketAddr> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    parse(&text)
}

/// The `nameserver` addresses of a resolv.conf text, or 127.0.0.1:53.
pub fn parse(text: &str) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = text
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            match (words.next(), words.next()) {
                // An IPv6 address with a `%zone` does not parse and is skipped.
                (Some("nameserver"), Some(ip)) => ip.parse::<IpAddr>().ok(),
                _ => None,
            }
        })
        .map(|ip| SocketAddr::new(ip, 53))
        .take(MAX_NAMESERVERS)
        .collect();
    if out.is_empty() {
        out.push(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameserver_lines() {
        let text = "# comment\nsearch corp.internal\nnameserver 10.0.0.2\n; other\n\
                    nameserver ::1\nnameserver fe80::1%eth0\nnameserver bogus\n\
                    options ndots:5\nnameserver 10.0.0.3\nnameserver 10.0.0.4\n";
        let want: Vec<SocketAddr> = ["10.0.0.2:53", "[::1]:53", "10.0.0.3:53"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(parse(text), want);
    }

    #[test]
    fn none_means_localhost() {
        let local = vec!["127.0.0.1:53".parse().unwrap()];
        assert_eq!(parse(""), local);
        assert_eq!(parse("search a\n#nameserver 10.0.0.2\n"), local);
        assert_eq!(nameservers(Path::new("/nonexistent/resolv.conf")), local);
    }
}
