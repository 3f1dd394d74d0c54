//! `validate` on the wire: 415 for a content type the route does not take,
//! 400 for a missing required header or a body that is not JSON, 411 for a
//! chunked body where the route must see it whole, 413 over the route's
//! bound; each before any byte reaches the upstream.

mod common;

use common::*;

fn gateway(up: &Upstream) -> Gateway {
    let routes = r#"[[routes]]
name = "v"
path_prefix = "/v"
upstream = "u"
validate = { content_types = ["application/json"], required_headers = ["x-client"], json = true, max_body_bytes = 65536 }

[[routes]]
name = "open"
path_prefix = "/open"
upstream = "u"
"#;
    Gateway::start(&build(&[], &[("u", up.addr())], routes))
}

fn post(c: &mut RawClient, ct: &str, extra: &[(&str, &str)], body: &[u8]) -> Response {
    let mut h = vec![("Content-Type", ct)];
    h.extend_from_slice(extra);
    c.roundtrip(&req("POST", "/v", "h", &h, body))
}

#[test]
fn bad_requests_are_refused_before_the_upstream() {
    let up = Upstream::echo("u");
    let gw = gateway(&up);
    let mut c = gw.client();
    let client = [("X-Client", "web")];
    assert_error(
        &post(&mut c, "text/plain", &client, b"{}"),
        415,
        "unsupported_media_type",
    );
    assert_error(
        &post(&mut c, "application/json", &[], b"{}"),
        400,
        "missing_header",
    );
    for bad in [&b"{\"a\":"[..], b"{\"a\":1,}", b"not json", b"{} {}"] {
        let r = post(&mut c, "application/json", &client, bad);
        assert_error(&r, 400, "invalid_json");
        assert!(
            !r.says_close(),
            "the body was read whole, the connection stays"
        );
    }
    let big = format!("[{}1]", "1,".repeat(40_000));
    let r = post(&mut c, "application/json", &client, big.as_bytes());
    assert_error(&r, 413, "body_too_large");
    let mut c = gw.client();
    c.send(b"POST /v HTTP/1.1\r\nHost: h\r\nX-Client: a\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n");
    assert_error(&c.read_response(), 411, "length_required");
    up.assert_untouched("every request was refused");
}

#[test]
fn valid_requests_pass_whole_including_bodies_larger_than_the_buffer() {
    let up = Upstream::echo("u");
    let gw = gateway(&up);
    let mut c = gw.client();
    let client = [("X-Client", "web")];
    let r = post(
        &mut c,
        "application/json; charset=utf-8",
        &client,
        br#"{"a":[1,2,3]}"#,
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(up.last().body, br#"{"a":[1,2,3]}"#);
    // 60 KB spans several reads and more than the connection buffer.
    let body = format!("{{\"k\":[{}0]}}", "12345,".repeat(10_000));
    let mut r = post(
        &mut c,
        "Application/JSON",
        &[("X-Client", "web"), ("Expect", "100-continue")],
        body.as_bytes(),
    );
    if r.status == 100 {
        // Sent while the body was still arriving; the final answer follows.
        r = c.read_response();
    }
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(up.last().body, body.as_bytes());
    // GET without a body needs no content type; the header rule still holds.
    assert_eq!(
        c.roundtrip(&req("GET", "/v", "h", &client, b"")).status,
        200
    );
    assert_error(
        &c.roundtrip(&req("GET", "/v", "h", &[], b"")),
        400,
        "missing_header",
    );
    // Routes without `validate` are unaffected.
    let r = c.roundtrip(&req(
        "POST",
        "/open",
        "h",
        &[("Content-Type", "text/plain")],
        b"{",
    ));
    assert_eq!(r.status, 200, "{}", r.summary());
}
