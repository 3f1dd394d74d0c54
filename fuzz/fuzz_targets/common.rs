//! Checks shared by the fuzz targets: span invariants of a parsed head and
//! split-independence of the chunked decoder. Any violation panics, which
//! libFuzzer reports as a crash.

use ringway::http::{
    normalize_path, ChunkedDecoder, EscapedSlashes, HeaderEntry, PathMode, PathParams, Span,
};

/// Every span lies inside the head and header lines tile it exactly.
#[allow(dead_code)]
pub fn check_headers(data: &[u8], first_line: Span, headers: &[HeaderEntry], head_len: usize) {
    assert!(head_len <= data.len());
    assert!(first_line.end as usize <= head_len);
    assert!(first_line.get(data).ends_with(b"\r\n"));
    let mut at = first_line.end;
    for h in headers {
        assert_eq!(h.line.start, at, "header lines must be contiguous");
        assert!(h.line.start <= h.name.start && h.name.end <= h.value.start);
        assert!(h.value.end <= h.line.end && h.line.end as usize <= head_len);
        assert!(h.line.get(data).ends_with(b"\r\n"));
        assert!(!h.name.is_empty());
        at = h.line.end;
    }
    assert_eq!(
        at as usize,
        head_len - 2,
        "last line must end before the empty line"
    );
}

/// Normalising twice changes nothing the second time.
// Only the request target has a path; each target compiles its own copy.
#[allow(dead_code)]
pub fn check_path(raw: &[u8], out: &mut Vec<u8>, again: &mut Vec<u8>) {
    for mode in path_modes() {
        if normalize_path(raw, mode, out).is_ok() {
            assert!(out.starts_with(b"/"));
            assert!(!out.windows(2).any(|w| w == b"//"));
            assert_eq!(normalize_path(out, mode, again), Ok(false), "not idempotent");
        }
    }
}

/// Every combination of `escaped_slashes` and `path_params`.
#[allow(dead_code)]
pub fn path_modes() -> [PathMode; 4] {
    let m = |escaped_slashes, path_params| PathMode {
        escaped_slashes,
        path_params,
    };
    [
        m(EscapedSlashes::Reject, PathParams::Reject),
        m(EscapedSlashes::Decode, PathParams::Reject),
        m(EscapedSlashes::Reject, PathParams::Strip),
        m(EscapedSlashes::Decode, PathParams::Strip),
    ]
}

/// Decodes `body` in one feed and byte by byte; both must agree exactly.
#[allow(dead_code)]
pub fn check_chunked(body: &[u8]) {
    let mut whole = ChunkedDecoder::new(64, 1024);
    let mut payload_whole = 0u64;
    let r1 = whole.feed(body, |r| {
        assert!(r.end <= body.len());
        payload_whole += r.len() as u64;
    });
    let mut split = ChunkedDecoder::new(64, 1024);
    let mut payload_split = 0u64;
    let mut consumed = 0usize;
    let mut r2 = Ok(0);
    for i in 0..body.len() {
        match split.feed(&body[i..i + 1], |r| payload_split += r.len() as u64) {
            Ok(n) => consumed += n,
            Err(e) => {
                r2 = Err(e);
                break;
            }
        }
        if split.is_done() {
            break;
        }
    }
    match (r1, r2) {
        (Ok(n), Ok(_)) => {
            assert_eq!(n, consumed);
            assert_eq!(whole.is_done(), split.is_done());
            assert_eq!(payload_whole, payload_split);
            assert_eq!(whole.payload_bytes(), payload_whole);
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("split changed the verdict: {a:?} vs {b:?}"),
    }
}

/// The header rules and client derivation on a parsed head: dropping keeps
/// the other lines in order and removes every name with `_`; a refusal under
/// "reject" happens exactly when such a name is present; the client behind a
/// trusted peer is the peer or an address the X-Forwarded-For fields name.
#[allow(dead_code)]
pub fn check_header_rules(data: &[u8], head: &ringway::http::RequestHead) {
    use ringway::http::client_ip::{Cidr, TrustedProxies};
    use ringway::http::rules::{HeaderRules, OneValue, Underscores};
    use ringway::http::{HeaderKind, HttpError};

    let one_value: Box<[OneValue]> = [("x-tenant", false), ("authorization", true)]
        .iter()
        .map(|(n, commas_ok)| OneValue {
            name: n.as_bytes().into(),
            commas_ok: *commas_ok,
        })
        .collect();
    let has_underscore = head.headers.iter().any(|e| e.name.get(data).contains(&b'_'));
    for underscores in [Underscores::Drop, Underscores::Reject, Underscores::Allow] {
        let rules = HeaderRules {
            underscores,
            one_value: one_value.clone(),
        };
        let mut h = head.clone();
        match rules.apply(data, &mut h) {
            Ok(dropped) => {
                assert!(underscores != Underscores::Reject || !has_underscore);
                if underscores == Underscores::Drop {
                    assert_eq!(dropped + h.headers.len(), head.headers.len());
                    assert!(h.headers.iter().all(|e| !e.name.get(data).contains(&b'_')));
                    let kept: Vec<_> = head
                        .headers
                        .iter()
                        .filter(|e| !e.name.get(data).contains(&b'_'))
                        .collect();
                    assert!(kept.iter().zip(&h.headers).all(|(a, b)| *a == b));
                } else {
                    assert_eq!(dropped, 0);
                }
            }
            Err(HttpError::UnderscoreInName) => {
                assert!(underscores == Underscores::Reject && has_underscore)
            }
            Err(HttpError::AmbiguousHeader) => {}
            Err(e) => panic!("unexpected header-rule error {e:?}"),
        }
    }
    let trusted = TrustedProxies {
        nets: ["127.0.0.0/8", "::1/128", "10.0.0.0/8"]
            .iter()
            .filter_map(|c| Cidr::parse(c).ok())
            .collect(),
    };
    let peer: std::net::IpAddr = [127, 0, 0, 1].into();
    assert_eq!(trusted.client(peer, false, &head.headers, data), peer);
    let client = trusted.client(peer, true, &head.headers, data);
    if client != peer {
        // Every address the fields name, however written (`[v6]:port`, `v4:port`).
        let named = head
            .headers
            .iter()
            .filter(|e| e.kind == HeaderKind::XForwardedFor)
            .flat_map(|e| e.value.get(data).split(|&b| b == b','))
            .filter_map(|item| std::str::from_utf8(item).ok())
            .map(str::trim)
            .any(|s| {
                let bare = match s.strip_prefix('[') {
                    Some(rest) => rest.split(']').next().unwrap_or(""),
                    None if s.parse::<std::net::IpAddr>().is_ok() => s,
                    None => s.rsplit_once(':').map_or(s, |(h, _)| h),
                };
                bare.parse::<std::net::IpAddr>() == Ok(client)
            });
        assert!(named, "client {client} not named in X-Forwarded-For");
    }
}
