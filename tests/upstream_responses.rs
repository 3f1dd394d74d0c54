//! What the gateway does with an upstream's response head and with a slow
//! request body: an oversized head is 502 `upstream_head_too_large` (never
//! a 431 about the request), repeated or non-canonical Content-Length is
//! forwarded as one normalised value or refused when the values differ, and
//! a body trickled slower than `body_timeout_ms` is 408 with the upstream
//! connection closed, never pooled.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn gateway_for(up: &Upstream, server: &[(&str, &str)]) -> Gateway {
    Gateway::start(&build(
        server,
        &[("u", up.addr())],
        "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n",
    ))
}

#[test]
fn oversized_upstream_head_is_502_upstream_head_too_large() {
    let big = format!("x-big: {}\r\n", "a".repeat(70 * 1024));
    let crowded: String = (0..120).map(|i| format!("x-h{i}: v\r\n")).collect();
    for (extra, what) in [(big, "over 64 KiB"), (crowded, "over 100 fields")] {
        let raw = format!("HTTP/1.1 200 OK\r\n{extra}content-length: 2\r\n\r\nok");
        let up = Upstream::start("u", move |_| Reply::Raw(raw.clone().into_bytes()));
        let gw = gateway_for(&up, &[]);
        let r = gw.client().roundtrip(&get("/big", "h"));
        assert_error(&r, 502, "upstream_head_too_large");
        let msg = r.json()["error"]["message"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(
            msg.contains("upstream"),
            "{what}: message talks about: {msg}"
        );
        assert!(!msg.contains("request head"), "{what}: message: {msg}");
        assert_eq!(
            gw.counter("ringway_errors_total{code=\"upstream_head_too_large\"}"),
            1.0,
            "{what}"
        );
    }
}

/// The `content-length` lines the client received, verbatim.
fn cl_lines(r: &Response) -> Vec<String> {
    r.headers()
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.clone())
        .collect()
}

#[test]
fn repeated_identical_content_length_is_forwarded_once_normalised() {
    let cases: [(&str, &str); 4] = [
        (
            "content-length: 5\r\ncontent-length: 5\r\n",
            "two identical fields",
        ),
        ("content-length: 5, 5\r\n", "one field with a list"),
        ("content-length: 005\r\n", "leading zeros"),
        (
            "content-length: 5,5\r\nContent-Length: 05\r\n",
            "list and field mixed",
        ),
    ];
    for (cl, what) in cases {
        let raw = format!("HTTP/1.1 200 OK\r\n{cl}x-upstream: raw\r\n\r\nhello").into_bytes();
        let up = Upstream::start("u", move |_| Reply::Raw(raw.clone()));
        let gw = gateway_for(&up, &[]);
        let mut cl = gw.client();
        for i in 0..2 {
            let r = cl.roundtrip(&get(&format!("/cl/{i}"), "h"));
            assert_eq!(r.status, 200, "{what}: {}", r.summary());
            assert_eq!(
                cl_lines(&r),
                vec!["5".to_string()],
                "{what}: {}",
                r.summary()
            );
            assert_eq!(r.body, b"hello", "{what}");
        }
        // The message boundary was right: the pooled connection was reused.
        assert_eq!(up.connections(), 1, "{what}");
    }
}

#[test]
fn canonical_content_length_passes_through_byte_for_byte() {
    let raw = b"HTTP/1.1 200 OK\r\nContent-Length:  5\r\nx-upstream: raw\r\n\r\nhello".to_vec();
    let up = Upstream::start("u", move |_| Reply::Raw(raw.clone()));
    let gw = gateway_for(&up, &[]);
    let mut cl = gw.client();
    cl.send(&get("/", "h"));
    let (bytes, _) = cl.read_until_close(Duration::from_millis(500));
    let text = String::from_utf8_lossy(&bytes);
    // The original line, spelling and spacing included, was forwarded.
    assert!(text.contains("\r\nContent-Length:  5\r\n"), "{text}");
    assert_eq!(text.matches("ontent-").count(), 1, "{text}");
}

#[test]
fn differing_content_lengths_from_the_upstream_are_502() {
    for cl in [
        "content-length: 5\r\ncontent-length: 6\r\n",
        "content-length: 5, 6\r\n",
        "content-length: 5,\r\n",
        "content-length: +5\r\n",
    ] {
        let raw = format!("HTTP/1.1 200 OK\r\n{cl}\r\nhello!").into_bytes();
        let up = Upstream::start("u", move |_| Reply::Raw(raw.clone()));
        let gw = gateway_for(&up, &[]);
        let r = gw.client().roundtrip(&get("/", "h"));
        assert_error(&r, 502, "bad_upstream_response");
    }
}

#[test]
fn body_trickled_slower_than_body_timeout_is_408_and_upstream_closed() {
    let up = Upstream::echo("u");
    let gw = gateway_for(&up, &[("body_timeout_ms", "300")]);
    let mut cl = gw.client();
    cl.set_timeout(Duration::from_secs(5));
    cl.send(b"POST /slow HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nab");
    // A byte now and then, each well inside idle_timeout, but the gap before
    // the last one is longer than body_timeout.
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(100));
        cl.send(b"c");
    }
    let t = Instant::now();
    let r = cl.read_response();
    assert_error(&r, 408, "request_timeout");
    assert!(r.says_close(), "{}", r.summary());
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(
        cl.is_closed(Duration::from_secs(2)),
        "client connection kept"
    );
    // The upstream saw its connection closed mid-body (never pooled).
    assert!(up.wait_requests(1, Duration::from_secs(2)));
    assert!(
        eventually(Duration::from_secs(2), || up
            .requests()
            .first()
            .is_some_and(|r| !r.body_complete)),
        "upstream connection was not closed"
    );
    assert!(gw.counter("ringway_timeouts_total{kind=\"body\"}") >= 1.0);
    assert!(gw.wait_log("request_timeout", Duration::from_secs(2)));
    // The next request goes out on a new upstream connection.
    let r = gw.client().roundtrip(&get("/after", "h"));
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(
        up.last().conn,
        1,
        "the timed-out upstream connection was reused"
    );
}

#[test]
fn body_timeout_also_bounds_a_body_buffered_for_validation() {
    let up = Upstream::echo("u");
    let gw = Gateway::start(&build(
        &[("body_timeout_ms", "300")],
        &[("u", up.addr())],
        "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\nvalidate = { json = true }\n",
    ));
    let mut cl = gw.client();
    cl.set_timeout(Duration::from_secs(5));
    cl.send(b"POST /v HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{");
    let t = Instant::now();
    let r = cl.read_response();
    assert_error(&r, 408, "request_timeout");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    up.assert_untouched("body never completed");
}
