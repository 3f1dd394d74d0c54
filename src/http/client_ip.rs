//! Client addresses behind trusted proxies: `server.trusted_proxies` as
//! compiled CIDR blocks, and the client address of a request derived from
//! the TCP peer and `X-Forwarded-For` as nginx's `real_ip` module does with
//! `real_ip_recursive on`.
//!
//! Must never: allocate, or take an address from a header unless every hop
//! to the right of it (the peer included) is a trusted proxy.

use std::net::{IpAddr, Ipv6Addr};

use super::header::trim_ows;
use super::{HeaderEntry, HeaderKind};

/// One CIDR block: network bits and prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cidr {
    /// An IPv4 block (also matches IPv4-mapped IPv6 peers).
    V4(u32, u8),
    /// An IPv6 block.
    V6(u128, u8),
}

impl Cidr {
    /// Parses `addr/len` or a bare address (one host); host bits must be zero.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let ip: IpAddr = addr.parse().map_err(|_| {
            format!("{s:?} is not an IP address or CIDR block (for example \"10.0.0.0/8\" or \"::1/128\")")
        })?;
        if let IpAddr::V6(a) = ip {
            if let Some(v4) = a.to_ipv4_mapped() {
                return Err(format!("{s:?} is an IPv4-mapped address: write the IPv4 block ({v4}/..), it matches mapped peers too"));
            }
        }
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(l) => match l.parse::<u8>() {
                Ok(n) if n <= max && !l.starts_with('+') => n,
                _ => return Err(format!("{s:?}: the prefix length must be 0 to {max}")),
            },
        };
        let cidr = match ip {
            IpAddr::V4(a) => Cidr::V4(u32::from(a), len),
            IpAddr::V6(a) => Cidr::V6(u128::from(a), len),
        };
        if !cidr.contains(ip) {
            return Err(format!(
                "{s:?} has bits set after the prefix: write the network address"
            ));
        }
        Ok(cidr)
    }

    /// True when `ip` is inside the block.
    pub fn contains(self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(a) => a.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self, ip) {
            (Cidr::V4(net, len), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                u32::from(a) & mask == net
            }
            (Cidr::V6(net, len), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                u128::from(a) & mask == net
            }
            _ => false,
        }
    }
}

/// `server.trusted_proxies`, compiled.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies {
    /// The blocks, in file order.
    pub nets: Box<[Cidr]>,
}

impl TrustedProxies {
    /// True when `ip` is in any block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(ip))
    }

    /// The client of a request from `peer`: the peer itself unless it is
    /// trusted (`peer_trusted`); then `X-Forwarded-For` (all its fields, as
    /// one list) is walked from the right, skipping trusted addresses, and
    /// the first untrusted one is the client (the leftmost when all are
    /// trusted). An element that is not an address ends the walk at the
    /// last trusted hop: what lies beyond it cannot be believed.
    pub fn client(
        &self,
        peer: IpAddr,
        peer_trusted: bool,
        headers: &[HeaderEntry],
        buf: &[u8],
    ) -> IpAddr {
        let mut client = peer;
        if !peer_trusted {
            return client;
        }
        let xff = headers
            .iter()
            .rev()
            .filter(|e| e.kind == HeaderKind::XForwardedFor);
        for e in xff {
            for item in e.value.get(buf).rsplit(|&b| b == b',') {
                let item = trim_ows(item);
                if item.is_empty() {
                    continue;
                }
                let Some(ip) = parse_addr(item) else {
                    return client;
                };
                client = ip;
                if !self.contains(ip) {
                    return client;
                }
            }
        }
        client
    }
}

/// An address as proxies write it in `X-Forwarded-For`: `1.2.3.4`,
/// `1.2.3.4:port`, `::1`, `[::1]` or `[::1]:port`.
fn parse_addr(v: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(v).ok()?;
    if let Some(rest) = s.strip_prefix('[') {
        let (inner, after) = rest.split_once(']')?;
        let port_ok = after.is_empty() || after.strip_prefix(':')?.parse::<u16>().is_ok();
        return port_ok
            .then(|| inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6))
            .flatten();
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    let (host, port) = s.split_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// Writes `ip` as text into `out`, returning the used part: addresses are
/// formatted per request without allocating.
pub fn format_ip(ip: IpAddr, out: &mut [u8; 46]) -> &[u8] {
    use std::io::Write as _;
    let mut cur = std::io::Cursor::new(&mut out[..]);
    // 45 bytes is the longest IPv6 text form, so this cannot run out.
    let _ = write!(cur, "{ip}");
    let n = cur.position() as usize;
    &out[..n]
}

#[cfg(test)]
#[path = "client_ip_tests.rs"]
mod tests;
