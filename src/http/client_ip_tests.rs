//! Unit tests for `client_ip.rs`.

use std::net::IpAddr;

use super::*;
use crate::http::{parse_request, RequestHead};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn trusted(list: &[&str]) -> TrustedProxies {
    TrustedProxies {
        nets: list.iter().map(|s| Cidr::parse(s).unwrap()).collect(),
    }
}

#[test]
fn cidr_parsing() {
    assert_eq!(Cidr::parse("10.0.0.0/8"), Ok(Cidr::V4(0x0a00_0000, 8)));
    assert_eq!(Cidr::parse("127.0.0.1"), Ok(Cidr::V4(0x7f00_0001, 32)));
    assert_eq!(Cidr::parse("0.0.0.0/0"), Ok(Cidr::V4(0, 0)));
    assert_eq!(Cidr::parse("::1/128"), Ok(Cidr::V6(1, 128)));
    assert_eq!(Cidr::parse("::/0"), Ok(Cidr::V6(0, 0)));
    assert!(matches!(Cidr::parse("fd00::/8"), Ok(Cidr::V6(_, 8))));
    for bad in [
        "",
        "10.0.0.0/33",
        "::/129",
        "10.0.0.0/",
        "10.0.0.0/+8",
        "10.0.0.0/-1",
        "10.0.0/8",
        "10.0.0.1/8",
        "fd00::1/8",
        "example.com/8",
        "10.0.0.0/8/8",
        " 10.0.0.0/8",
    ] {
        assert!(Cidr::parse(bad).is_err(), "{bad:?}");
    }
    assert!(Cidr::parse("10.0.0.1/8")
        .unwrap_err()
        .contains("network address"));
}

#[test]
fn cidr_membership() {
    let t = trusted(&["10.0.0.0/8", "192.168.1.0/24", "::1/128", "fd00::/8"]);
    for yes in [
        "10.0.0.0",
        "10.255.255.255",
        "192.168.1.77",
        "::1",
        "fd12::3",
        "::ffff:10.1.2.3",
    ] {
        assert!(t.contains(ip(yes)), "{yes}");
    }
    for no in [
        "11.0.0.0",
        "9.255.255.255",
        "192.168.2.1",
        "::2",
        "fe00::1",
        "127.0.0.1",
        "::ffff:11.0.0.1",
    ] {
        assert!(!t.contains(ip(no)), "{no}");
    }
    assert!(trusted(&["0.0.0.0/0"]).contains(ip("1.2.3.4")));
    assert!(!trusted(&["0.0.0.0/0"]).contains(ip("2001:db8::1")));
    assert!(trusted(&["::/0"]).contains(ip("2001:db8::1")));
    assert!(!TrustedProxies::default().contains(ip("127.0.0.1")));
}

fn client(t: &TrustedProxies, peer: &str, headers: &str) -> IpAddr {
    let raw = format!("GET / HTTP/1.1\r\nHost: h\r\n{headers}\r\n");
    let mut head = RequestHead::new();
    assert_eq!(parse_request(raw.as_bytes(), 8192, &mut head), Ok(true));
    let peer = ip(peer);
    t.client(peer, t.contains(peer), &head.headers, raw.as_bytes())
}

#[test]
fn client_address_derivation() {
    let t = trusted(&["10.0.0.0/8", "127.0.0.1/32"]);
    let cases = [
        // An untrusted peer is the client, whatever it claims.
        ("1.1.1.1", "X-Forwarded-For: 2.2.2.2\r\n", "1.1.1.1"),
        ("1.1.1.1", "", "1.1.1.1"),
        // A trusted peer without XFF is itself the client.
        ("127.0.0.1", "", "127.0.0.1"),
        ("127.0.0.1", "X-Forwarded-For: 2.2.2.2\r\n", "2.2.2.2"),
        // Trusted hops are skipped from the right; a spoofed left part is not reached.
        (
            "127.0.0.1",
            "X-Forwarded-For: 6.6.6.6, 2.2.2.2, 10.0.0.5\r\n",
            "2.2.2.2",
        ),
        // All trusted: the leftmost.
        (
            "127.0.0.1",
            "X-Forwarded-For: 10.0.0.9, 10.0.0.5\r\n",
            "10.0.0.9",
        ),
        // Several fields are one list, in order.
        (
            "127.0.0.1",
            "X-Forwarded-For: 6.6.6.6, 3.3.3.3\r\nX-Forwarded-For: 10.1.1.1\r\n",
            "3.3.3.3",
        ),
        // Garbage stops the walk at the last trusted hop.
        (
            "127.0.0.1",
            "X-Forwarded-For: 2.2.2.2, junk, 10.0.0.5\r\n",
            "10.0.0.5",
        ),
        ("127.0.0.1", "X-Forwarded-For: junk\r\n", "127.0.0.1"),
        // Empty elements and OWS are skipped; ports and brackets are understood.
        ("127.0.0.1", "X-Forwarded-For: 2.2.2.2 , ,\t\r\n", "2.2.2.2"),
        ("127.0.0.1", "X-Forwarded-For: 2.2.2.2:5555\r\n", "2.2.2.2"),
        (
            "127.0.0.1",
            "X-Forwarded-For: [2001:db8::1]:443\r\n",
            "2001:db8::1",
        ),
        (
            "127.0.0.1",
            "X-Forwarded-For: 2001:db8::2\r\n",
            "2001:db8::2",
        ),
        (
            "127.0.0.1",
            "X-Forwarded-For: [2001:db8::1\r\n",
            "127.0.0.1",
        ),
        (
            "127.0.0.1",
            "X-Forwarded-For: 2.2.2.2:99999\r\n",
            "127.0.0.1",
        ),
        // Forwarded and X-Real-IP are not used to derive the client.
        (
            "127.0.0.1",
            "Forwarded: for=2.2.2.2\r\nX-Real-IP: 3.3.3.3\r\n",
            "127.0.0.1",
        ),
    ];
    for (peer, headers, want) in cases {
        assert_eq!(
            client(&t, peer, headers),
            ip(want),
            "peer {peer} with {headers:?}"
        );
    }
}

#[test]
fn addresses_format_without_allocating() {
    let mut b = [0u8; 46];
    assert_eq!(format_ip(ip("127.0.0.1"), &mut b), b"127.0.0.1");
    let long = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
    let mut b = [0u8; 46];
    let got = format_ip(ip(long), &mut b).to_vec();
    assert_eq!(ip(std::str::from_utf8(&got).unwrap()), ip(long));
    let mut b = [0u8; 46];
    assert_eq!(format_ip(ip("2001:db8::1"), &mut b), b"2001:db8::1");
}
