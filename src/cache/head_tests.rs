//! Stored header blocks, their 304 update, and `Cache-Status`.

use bytes::BytesMut;

use super::head::{lines, store, update};
use super::status::{CacheStatus, Fwd};

fn pairs(v: &[(&'static str, &'static str)]) -> Vec<(&'static [u8], &'static [u8])> {
    v.iter()
        .map(|(n, x)| (n.as_bytes(), x.as_bytes()))
        .collect()
}

#[test]
fn stored_blocks_drop_hop_by_hop_connection_listed_private_and_age() {
    let f = pairs(&[
        ("Content-Type", "text/plain"),
        ("Connection", "keep-alive, X-Hop"),
        ("X-Hop", "1"),
        ("Keep-Alive", "timeout=5"),
        ("Transfer-Encoding", "chunked"),
        ("Age", "30"),
        ("X-User", "alice"),
        ("ETag", "\"v1\""),
    ]);
    let b = store(f.iter().copied(), &["x-user".into()]);
    assert_eq!(&b[..], b"Content-Type: text/plain\r\nETag: \"v1\"\r\n");
    let got: Vec<_> = lines(&b).collect();
    assert_eq!(
        got,
        pairs(&[("Content-Type", "text/plain"), ("ETag", "\"v1\"")])
    );
}

#[test]
fn a_304_replaces_fields_by_name_but_not_the_body_framing() {
    let stored = b"Content-Type: text/plain\r\nContent-Length: 5\r\nCache-Control: max-age=1\r\nX-A: 1\r\nX-A: 2\r\nETag: \"v1\"\r\n";
    let fresh = pairs(&[
        ("cache-control", "max-age=60"),
        ("Content-Length", "0"),
        ("x-a", "3"),
        ("Connection", "close"),
        ("Date", "Sun, 06 Nov 1994 08:49:37 GMT"),
    ]);
    let b = update(stored, fresh.iter().copied());
    assert_eq!(
        &b[..],
        &b"Content-Type: text/plain\r\nContent-Length: 5\r\nETag: \"v1\"\r\ncache-control: max-age=60\r\nx-a: 3\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"[..]
    );
}

#[test]
fn cache_status_members() {
    let w = |s: CacheStatus| {
        let mut b = BytesMut::new();
        s.write(&mut b);
        String::from_utf8(b.to_vec()).unwrap()
    };
    assert_eq!(
        w(CacheStatus {
            hit: true,
            ttl: Some(42),
            ..Default::default()
        }),
        "ringway; hit; ttl=42"
    );
    assert_eq!(
        w(CacheStatus {
            fwd: Some(Fwd::UriMiss),
            fwd_status: Some(200),
            stored: true,
            ttl: Some(60),
            ..Default::default()
        }),
        "ringway; fwd=uri-miss; fwd-status=200; stored; ttl=60"
    );
    assert_eq!(
        w(CacheStatus {
            hit: true,
            fwd: Some(Fwd::Stale),
            ttl: Some(-5),
            ..Default::default()
        }),
        "ringway; hit; fwd=stale; ttl=-5"
    );
    assert_eq!(
        w(CacheStatus {
            fwd: Some(Fwd::VaryMiss),
            detail: Some("set-cookie"),
            ..Default::default()
        }),
        "ringway; fwd=vary-miss; detail=set-cookie"
    );
    assert_eq!(
        w(CacheStatus {
            fwd: Some(Fwd::Bypass),
            ..Default::default()
        }),
        "ringway; fwd=bypass"
    );
    assert_eq!(
        w(CacheStatus {
            fwd: Some(Fwd::Request),
            collapsed: false,
            ..Default::default()
        }),
        "ringway; fwd=request"
    );
    assert_eq!(
        w(CacheStatus {
            hit: true,
            collapsed: true,
            ..Default::default()
        }),
        "ringway; hit; collapsed"
    );
}
