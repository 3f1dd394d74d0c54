//! Proxying basics on the wire: forwarded headers, hop-by-hop removal in
//! both directions, request ids, HTTP/1.0 clients, pipelining and
//! `Expect: 100-continue`.

mod common;

use std::time::Duration;

use common::*;

fn route_to(c: &mut RawClient, path: &str, host: &str, headers: &[(&str, &str)]) -> Response {
    c.roundtrip(&req("GET", path, host, headers, b""))
}

#[test]
fn forwarded_headers_are_added() {
    let up = Upstream::echo("u");
    let gw = Gateway::start(&build(
        &[],
        &[("u", up.addr())],
        "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n",
    ));
    let mut cl = gw.client();
    let r = route_to(
        &mut cl,
        "/a",
        "api.example.com",
        &[
            ("X-Forwarded-For", "10.0.0.1"),
            ("X-Forwarded-Proto", "https"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    let got = up.last();
    let head = got.head_text();
    assert_eq!(got.version, "HTTP/1.1", "{head}");
    assert_eq!(got.header_all("via"), vec!["1.1 ringway"], "{head}");
    // The peer is not a trusted proxy, so its own X-Forwarded-For is
    // replaced, not appended to (see tests/header_rules.rs for trusted peers).
    assert_eq!(
        got.header_all("x-forwarded-for"),
        vec!["127.0.0.1"],
        "{head}"
    );
    assert_eq!(got.header_all("x-real-ip"), vec!["127.0.0.1"], "{head}");
    assert_eq!(got.header_all("x-forwarded-proto"), vec!["http"], "{head}");
    assert_eq!(
        got.header_all("x-forwarded-host"),
        vec!["api.example.com"],
        "{head}"
    );
    assert_eq!(got.header_all("host"), vec!["api.example.com"], "{head}");

    let r = route_to(&mut cl, "/b", "api.example.com:8080", &[]);
    assert_eq!(r.status, 200, "{}", r.summary());
    let got = up.last();
    let head = got.head_text();
    assert_eq!(
        got.header_all("x-forwarded-for"),
        vec!["127.0.0.1"],
        "{head}"
    );
    assert_eq!(got.header_all("x-forwarded-proto"), vec!["http"], "{head}");
    assert_eq!(
        got.header_all("x-forwarded-host"),
        vec!["api.example.com:8080"],
        "{head}"
    );
}

#[test]
fn hop_by_hop_request_headers_are_removed() {
    let up = Upstream::echo("u");
    let gw = Gateway::start(&build(
        &[],
        &[("u", up.addr())],
        "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n",
    ));
    let mut cl = gw.client();
    let r = route_to(
        &mut cl,
        "/a",
        "h",
        &[
            ("Connection", "keep-alive, X-Secret-Hop"),
            ("X-Secret-Hop", "1"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Connection", "keep-alive"),
            ("TE", "trailers"),
            ("Trailer", "x-t"),
            ("Upgrade", "h2c"),
            ("X-End-To-End", "kept"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    let got = up.last();
    let head = got.head_text();
    for h in [
        "x-secret-hop",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
    ] {
        assert!(
            got.header_all(h).is_empty(),
            "{h} forwarded upstream:\n{head}"
        );
    }
    for v in got.header_all("connection") {
        assert!(!v.to_ascii_lowercase().contains("x-secret-hop"), "{head}");
    }
    assert_eq!(got.header_all("x-end-to-end"), vec!["kept"], "{head}");

    // A chunked request: the client's Transfer-Encoding is re-framed, never duplicated.
    cl.send(
        b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    );
    let r = cl.read_response();
    assert_eq!(r.status, 200, "{}", r.summary());
    let got = up.last();
    assert!(
        got.header_all("transfer-encoding").len() <= 1,
        "{}",
        got.head_text()
    );
    assert_eq!(got.body, b"abc");
}

#[test]
fn hop_by_hop_response_headers_are_removed() {
    let up = Upstream::start("u", |_| {
        Reply::Raw(fixed_response(
            "Connection: X-Up-Hop\r\nX-Up-Hop: 1\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nUpgrade: foo\r\nTrailer: x-t\r\nX-End-To-End: kept\r\n",
            b"hello",
        ))
    });
    let gw = Gateway::start(&build(
        &[],
        &[("u", up.addr())],
        "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n",
    ));
    let mut cl = gw.client();
    let r = route_to(&mut cl, "/", "h", &[]);
    assert_eq!(r.status, 200, "{}", r.summary());
    for h in [
        "x-up-hop",
        "keep-alive",
        "proxy-connection",
        "upgrade",
        "trailer",
    ] {
        assert!(
            r.header_all(h).is_empty(),
            "{h} forwarded to client: {}",
            r.summary()
        );
    }
    for v in r.header_all("connection") {
        assert!(
            !v.to_ascii_lowercase().contains("x-up-hop"),
            "{}",
            r.summary()
        );
    }
    assert_eq!(r.header_all("x-end-to-end"), vec!["kept"]);
    assert_eq!(r.body, b"hello");
}

fn is_generated_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[test]
fn request_id_is_kept_when_valid_and_generated_otherwise() {
    let up = Upstream::echo("u");
    let gw = Gateway::start(&build(
        &[],
        &[("u", up.addr())],
        "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n",
    ));
    let mut cl = gw.client();
    let long_ok = "a".repeat(128);
    for id in ["abc-123_.:+/=", "Z", long_ok.as_str()] {
        let r = route_to(&mut cl, "/", "h", &[("X-Request-Id", id)]);
        assert_eq!(r.header_all("x-request-id"), vec![id], "{}", r.summary());
        assert_eq!(
            up.last().header_all("x-request-id"),
            vec![id],
            "{}",
            up.last().head_text()
        );
    }
    let too_long = "a".repeat(129);
    for bad in ["bad id", "semi;colon", "quote\"", too_long.as_str(), "é"] {
        let r = route_to(&mut cl, "/", "h", &[("X-Request-Id", bad)]);
        assert_eq!(r.status, 200, "{}", r.summary());
        let got = r.header_all("x-request-id");
        assert_eq!(got.len(), 1, "{}", r.summary());
        assert!(
            is_generated_id(got[0]),
            "invalid id {bad:?} not replaced: {}",
            r.summary()
        );
        assert_eq!(
            up.last().header_all("x-request-id"),
            got,
            "{}",
            up.last().head_text()
        );
    }
    let r1 = route_to(&mut cl, "/", "h", &[]);
    let r2 = route_to(&mut cl, "/", "h", &[]);
    let (i1, i2) = (
        r1.header("x-request-id").unwrap_or(""),
        r2.header("x-request-id").unwrap_or(""),
    );
    assert!(is_generated_id(i1) && is_generated_id(i2), "{i1:?} {i2:?}");
    assert_ne!(i1, i2);
    assert_eq!(up.last().header_all("x-request-id"), vec![i2]);
}

#[test]
fn http10_client_gets_response_then_close_and_upstream_gets_http11() {
    let up = Upstream::echo("u");
    let gw = Gateway::start(&build(
        &[],
        &[("u", up.addr())],
        "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n",
    ));
    // No Host: allowed on HTTP/1.0.
    let mut cl = gw.client();
    cl.send(b"GET /ten HTTP/1.0\r\n\r\n");
    let r = cl.read_response();
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(
        cl.is_closed(Duration::from_secs(3)),
        "HTTP/1.0 connection not closed"
    );
    let got = up.last();
    assert_eq!(got.head.first, "GET /ten HTTP/1.1", "{}", got.head_text());

    let mut cl = gw.client();
    cl.send(b"POST /ten HTTP/1.0\r\nHost: h\r\nContent-Length: 4\r\n\r\nabcd");
    let r = cl.read_response();
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(
        cl.is_closed(Duration::from_secs(3)),
        "HTTP/1.0 connection not closed"
    );
    let got = up.last();
    assert_eq!(got.head.first, "POST /ten HTTP/1.1");
    assert_eq!(got.body, b"abcd");
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let up = Upstream::echo("u");
    let gw = Gateway::start(&build(
        &[],
        &[("u", up.addr())],
        "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n",
    ));
    let mut cl = gw.client();
    let mut batch = Vec::new();
    for i in 0..10 {
        if i == 5 {
            batch.extend_from_slice(&req("POST", "/p/5", "h", &[], b"hello"));
        } else {
            batch.extend_from_slice(&get(&format!("/p/{i}"), "h"));
        }
    }
    cl.send(&batch);
    for i in 0..10 {
        let r = cl.read_response();
        assert_eq!(r.status, 200, "response {i}: {}", r.summary());
        let j = r.json();
        assert_eq!(j["target"], format!("/p/{i}"), "response {i} out of order");
        if i == 5 {
            assert_eq!(j["method"], "POST");
            assert_eq!(j["body_len"], 5);
        }
    }
    assert_eq!(up.requests().len(), 10);
}

#[test]
fn expect_100_continue_is_answered_by_the_gateway() {
    let up = Upstream::echo("u");
    let gw = Gateway::start(&build(
        &[],
        &[("u", up.addr())],
        "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n",
    ));
    let mut cl = gw.client();
    cl.send(b"POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    cl.set_timeout(Duration::from_secs(3));
    let r = cl.read_response();
    assert_eq!(
        r.status,
        100,
        "expected 100 Continue before the body: {}",
        r.summary()
    );
    assert!(
        r.head.raw.starts_with(b"HTTP/1.1 100 Continue\r\n"),
        "{}",
        r.summary()
    );
    cl.send(b"hello");
    let r = cl.read_response();
    assert_eq!(r.status, 200, "{}", r.summary());
    let got = up.last();
    assert!(
        got.header_all("expect").is_empty(),
        "Expect forwarded:\n{}",
        got.head_text()
    );
    assert_eq!(got.body, b"hello");
    // The connection is still usable.
    let r = route_to(&mut cl, "/after", "h", &[]);
    assert_eq!(r.status, 200, "{}", r.summary());
}

#[test]
fn unsupported_expectation_is_417() {
    let up = Upstream::echo("u");
    let gw = Gateway::start(&build(
        &[],
        &[("u", up.addr())],
        "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n",
    ));
    let mut cl = gw.client();
    let r = cl.roundtrip(
        b"POST /up HTTP/1.1\r\nHost: h\r\nExpect: something-else\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_error(&r, 417, "expectation_failed");
    assert!(cl.is_closed(Duration::from_secs(3)));
    up.assert_untouched("417");
}
