//! Request and response bodies through the gateway: Content-Length and
//! chunked in both directions (extensions, trailers, odd splits), bodiless
//! responses, HTTP/1.0 de-chunking, 50 MB streamed both ways with the
//! gateway's peak RSS bounded, and 413 for declared and streamed sizes.

mod common;

use std::time::Duration;

use common::*;

const MB: u64 = 1 << 20;
/// Allowed growth of the gateway's peak RSS while streaming 50 MB.
const RSS_BUDGET_KB: u64 = 64 * 1024;

fn one_route(server: &[(&str, &str)], up: &Upstream) -> Gateway {
    Gateway::start(&build(
        server,
        &[("u", up.addr())],
        "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n",
    ))
}

#[test]
fn content_length_request_body_is_forwarded() {
    let up = Upstream::echo("u");
    let gw = one_route(&[], &up);
    let body = pattern(0, 100_000);
    let mut cl = gw.client();
    let r = cl.roundtrip(&req("POST", "/cl", "h", &[], &body));
    assert_eq!(r.status, 200, "{}", r.summary());
    let got = up.last();
    assert_eq!(
        got.header_all("content-length"),
        vec!["100000"],
        "{}",
        got.head_text()
    );
    assert!(
        got.header_all("transfer-encoding").is_empty(),
        "{}",
        got.head_text()
    );
    assert_eq!(got.body_len, 100_000);
    assert_eq!(got.body_fnv, fnv1a(&body));
    let j = r.json();
    assert_eq!(j["body_len"], 100_000);
    assert_eq!(j["body_fnv"], format!("{:016x}", fnv1a(&body)));
}

#[test]
fn chunked_request_is_forwarded_chunked_with_extensions_and_trailers() {
    let up = Upstream::echo("u");
    let gw = one_route(&[], &up);
    let mut cl = gw.client();
    cl.send(
        b"POST /ch HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
          5;ext=1\r\nhello\r\n\
          6;a=b;c\r\n world\r\n\
          00A\r\n0123456789\r\n\
          0\r\nx-trailer: t\r\n\r\n",
    );
    let r = cl.read_response();
    assert_eq!(r.status, 200, "{}", r.summary());
    let got = up.last();
    assert!(got.chunked, "not forwarded chunked:\n{}", got.head_text());
    assert!(
        got.header_all("content-length").is_empty(),
        "{}",
        got.head_text()
    );
    assert!(
        got.body_complete,
        "raw body: {:?}",
        String::from_utf8_lossy(&got.raw_body)
    );
    assert_eq!(got.body, b"hello world0123456789");
    // The whole chunked message was consumed: the connection carries on.
    let r = cl.roundtrip(&get("/next", "h"));
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(up.last().target, "/next");
}

#[test]
fn chunked_request_split_at_every_awkward_place_is_forwarded() {
    let up = Upstream::echo("u");
    let gw = one_route(&[], &up);
    let mut cl = gw.client();
    let pieces: [&[u8]; 9] = [
        b"POST /split HTTP/1.1\r\nHost: h\r\nTransfer-",
        b"Encoding: chunked\r\n\r",
        b"\n1",
        b"0\r\n0123456",
        b"789abcdef\r",
        b"\n3\r\nxyz",
        b"\r\n0\r",
        b"\n\r",
        b"\n",
    ];
    for p in pieces {
        cl.send(p);
        std::thread::sleep(Duration::from_millis(30));
    }
    let r = cl.read_response();
    assert_eq!(r.status, 200, "{}", r.summary());
    let got = up.last();
    assert_eq!(got.body, b"0123456789abcdefxyz");
    assert!(got.body_complete);
}

#[test]
fn zero_length_bodies() {
    let up = Upstream::echo("u");
    let gw = one_route(&[], &up);
    let mut cl = gw.client();
    let r = cl.roundtrip(b"POST /z HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(up.last().body_len, 0);
    let r =
        cl.roundtrip(b"POST /z HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.summary());
    let got = up.last();
    assert_eq!(got.body_len, 0);
    assert!(got.body_complete);
}

#[test]
fn content_length_and_chunked_responses_reach_an_http11_client() {
    let up = Upstream::start("u", |rec| match rec.target.as_str() {
        "/chunked" => Reply::Raw(chunked_response(
            &[b"hello", b" world"],
            ";ext=v",
            "x-trailer: t\r\n",
        )),
        _ => Reply::Raw(fixed_response("", b"fixed body")),
    });
    let gw = one_route(&[], &up);
    let mut cl = gw.client();
    let r = cl.roundtrip(&get("/fixed", "h"));
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.header("content-length"), Some("10"));
    assert_eq!(r.body, b"fixed body");
    let r = cl.roundtrip(&get("/chunked", "h"));
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(
        r.chunked,
        "chunked response not forwarded chunked: {}",
        r.summary()
    );
    assert_eq!(r.body, b"hello world");
    // Framing fully consumed on both sides: keep going on the same connections.
    let r = cl.roundtrip(&get("/fixed", "h"));
    assert_eq!(r.body, b"fixed body");
    let r = cl.roundtrip(&get("/chunked", "h"));
    assert_eq!(r.body, b"hello world");
}

#[test]
fn http10_client_gets_a_chunked_response_dechunked_then_close() {
    let up = Upstream::start("u", |_| {
        Reply::Raw(chunked_response(&[b"hello", b" world", b"!"], "", ""))
    });
    let gw = one_route(&[], &up);
    let mut cl = gw.client();
    cl.send(b"GET /old HTTP/1.0\r\nHost: h\r\n\r\n");
    let r = cl.read_response();
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(
        r.header_all("transfer-encoding").is_empty(),
        "chunked sent to HTTP/1.0: {}",
        r.summary()
    );
    assert_eq!(r.body, b"hello world!");
    assert!(cl.is_closed(Duration::from_secs(3)));
}

#[test]
fn head_204_and_304_responses_have_no_body() {
    let up = Upstream::start("u", |rec| match rec.target.as_str() {
        "/204" => Reply::Raw(b"HTTP/1.1 204 No Content\r\nx-upstream: u\r\n\r\n".to_vec()),
        "/304" => Reply::Raw(
            b"HTTP/1.1 304 Not Modified\r\netag: \"x\"\r\nx-upstream: u\r\n\r\n".to_vec(),
        ),
        _ => Reply::Echo,
    });
    let gw = one_route(&[], &up);
    let mut cl = gw.client();
    cl.send(b"HEAD /head HTTP/1.1\r\nHost: h\r\n\r\n");
    let r = cl.read_response_with(ReadOpts {
        head_request: true,
        ..ReadOpts::default()
    });
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(r.header("content-length").is_some(), "{}", r.summary());
    let r = cl.roundtrip(&get("/204", "h"));
    assert_eq!(r.status, 204, "{}", r.summary());
    let r = cl.roundtrip(&get("/304", "h"));
    assert_eq!(r.status, 304, "{}", r.summary());
    // If any of those were given a body the next response would be garbage.
    let r = cl.roundtrip(&get("/after", "h"));
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.json()["target"], "/after");
}

fn warm_baseline(gw: &Gateway) -> u64 {
    let mut cl = gw.client();
    let r = cl.roundtrip(&req("POST", "/warm", "h", &[], &pattern(0, 300_000)));
    assert_eq!(r.status, 200, "{}", r.summary());
    gw.vm_hwm_kb()
}

fn assert_rss_bounded(gw: &Gateway, base_kb: u64, what: &str) {
    let hwm = gw.vm_hwm_kb();
    assert!(
        hwm.saturating_sub(base_kb) < RSS_BUDGET_KB,
        "{what}: gateway peak RSS grew from {base_kb} KiB to {hwm} KiB (budget {RSS_BUDGET_KB} KiB): body buffered?"
    );
}

fn send_pattern(cl: &mut RawClient, len: u64, chunked: bool) {
    let mut off = 0;
    while off < len {
        let n = (len - off).min(64 * 1024) as usize;
        let data = pattern(off, n);
        if chunked {
            cl.send(&chunk(&data));
        } else {
            cl.send(&data);
        }
        off += n as u64;
    }
    if chunked {
        cl.send(b"0\r\n\r\n");
    }
}

#[test]
fn upload_50mb_content_length_is_streamed() {
    // The upstream waits before reading so a buffering gateway would have to hold the body.
    let up = Upstream::start("u", |_| {
        Reply::DelayBeforeBody(Duration::from_secs(1), Box::new(Reply::Echo))
    });
    let gw = one_route(&[("max_body_bytes", "104857600")], &up);
    let base = warm_baseline(&gw);
    let len = 50 * MB;
    let mut cl = gw.client();
    cl.send(format!("POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: {len}\r\n\r\n").as_bytes());
    send_pattern(&mut cl, len, false);
    cl.set_timeout(Duration::from_secs(60));
    let r = cl.read_response();
    assert_eq!(r.status, 200, "{}", r.summary());
    let got = up.last();
    assert_eq!(got.body_len, len);
    assert_eq!(got.body_fnv, pattern_fnv(len), "body corrupted in transit");
    assert_rss_bounded(&gw, base, "50 MB Content-Length upload");
}

#[test]
fn upload_50mb_chunked_is_streamed() {
    let up = Upstream::start("u", |_| {
        Reply::DelayBeforeBody(Duration::from_secs(1), Box::new(Reply::Echo))
    });
    let gw = one_route(&[("max_body_bytes", "104857600")], &up);
    let base = warm_baseline(&gw);
    let len = 50 * MB;
    let mut cl = gw.client();
    cl.send(b"POST /big HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
    send_pattern(&mut cl, len, true);
    cl.set_timeout(Duration::from_secs(60));
    let r = cl.read_response();
    assert_eq!(r.status, 200, "{}", r.summary());
    let got = up.last();
    assert!(got.chunked);
    assert_eq!(got.body_len, len);
    assert_eq!(got.body_fnv, pattern_fnv(len), "body corrupted in transit");
    assert_rss_bounded(&gw, base, "50 MB chunked upload");
}

/// Reads one 200 response whose body is `pattern(0, len)`, without keeping
/// the body, and checks its framing and every byte.
fn read_pattern_response(cl: &mut RawClient, len: u64, chunked: bool, what: &str) {
    let r = cl.read_response_with(ReadOpts {
        keep_body: false,
        ..ReadOpts::default()
    });
    assert_eq!(r.status, 200, "{what}: {}", r.summary());
    assert_eq!(r.chunked, chunked, "{what}: {}", r.summary());
    assert_eq!(r.body_len, len, "{what}");
    assert_eq!(
        r.body_fnv,
        pattern_fnv(len),
        "{what}: body corrupted in transit"
    );
}

fn download(chunked: bool) {
    let len = 50 * MB;
    let up = Upstream::start("u", move |rec| {
        if rec.target == "/big" {
            Reply::Stream { len, chunked }
        } else {
            Reply::Echo
        }
    });
    let gw = one_route(&[], &up);
    let base = warm_baseline(&gw);
    let mut cl = gw.client();
    cl.send(&get("/big", "h"));
    // Read late so a buffering gateway would have to hold the body.
    std::thread::sleep(Duration::from_secs(1));
    cl.set_timeout(Duration::from_secs(60));
    read_pattern_response(&mut cl, len, chunked, "/big");
    assert_rss_bounded(&gw, base, "50 MB download");
    let r = cl.roundtrip(&get("/after", "h"));
    assert_eq!(r.status, 200, "{}", r.summary());
}

#[test]
fn download_50mb_content_length_is_streamed() {
    download(false);
}

#[test]
fn download_50mb_chunked_is_streamed() {
    download(true);
}

#[test]
fn body_at_the_limit_is_accepted() {
    let up = Upstream::echo("u");
    let gw = one_route(&[("max_body_bytes", "1000")], &up);
    let mut cl = gw.client();
    let r = cl.roundtrip(&req("POST", "/", "h", &[], &pattern(0, 1000)));
    assert_eq!(r.status, 200, "{}", r.summary());
    cl.send(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
    send_pattern(&mut cl, 1000, true);
    let r = cl.read_response();
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(up.last().body_len, 1000);
}

#[test]
fn declared_body_too_large_is_413_before_the_body() {
    let up = Upstream::echo("u");
    let gw = one_route(&[("max_body_bytes", "1000")], &up);
    let mut cl = gw.client();
    cl.send(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1001\r\n\r\n");
    let r = cl.read_response();
    assert_error(&r, 413, "body_too_large");
    assert!(r.says_close(), "{}", r.summary());
    assert!(cl.is_closed(Duration::from_secs(3)));
    up.assert_untouched("declared 413");
}

#[test]
fn declared_body_too_large_is_413_even_when_the_body_was_sent() {
    let up = Upstream::echo("u");
    let gw = one_route(&[("max_body_bytes", "1000")], &up);
    let mut cl = gw.client();
    cl.send(&req("POST", "/", "h", &[], &pattern(0, 5000)));
    let r = cl.read_response();
    assert_error(&r, 413, "body_too_large");
    assert!(cl.is_closed(Duration::from_secs(3)));
    up.assert_untouched("declared 413 with body");
}

#[test]
fn streamed_chunked_body_too_large_is_413() {
    let up = Upstream::echo("u");
    let gw = one_route(&[("max_body_bytes", "1000")], &up);
    let mut cl = gw.client();
    cl.send(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
    for i in 0..6 {
        // Stop sending if the gateway already answered and closed.
        if cl.try_send(&chunk(&pattern(i * 300, 300))).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = cl.try_send(b"0\r\n\r\n");
    let r = cl.read_response();
    assert_error(&r, 413, "body_too_large");
    assert!(cl.is_closed(Duration::from_secs(3)));
    std::thread::sleep(Duration::from_millis(200));
    for got in up.requests() {
        assert!(
            !got.body_complete,
            "upstream got a complete over-limit body ({} bytes)",
            got.body_len
        );
        assert!(
            got.body_len <= 1000,
            "upstream got {} bytes, limit 1000",
            got.body_len
        );
    }
}

/// A body longer than a connection buffer moves through the shard's large
/// body buffers (`server::body::BODY_BUF`, 128 KiB); the request pipelined
/// right behind it, in the same write, must still reach the gateway's
/// next read intact, and the connection's own buffer must come back.
fn long_body_then_pipelined(chunked: bool) {
    let up = Upstream::echo("u");
    let gw = one_route(&[], &up);
    let len = 300_000;
    let body = pattern(0, len);
    let mut wire = Vec::new();
    if chunked {
        wire.extend_from_slice(
            b"POST /long HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        for part in body.chunks(70_000) {
            wire.extend_from_slice(&chunk(part));
        }
        wire.extend_from_slice(b"0\r\n\r\n");
    } else {
        wire.extend_from_slice(&req("POST", "/long", "h", &[], &body));
    }
    wire.extend_from_slice(&get("/after", "h"));
    let mut cl = gw.client();
    cl.send(&wire);
    let r = cl.read_response();
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.json()["body_len"], len);
    assert_eq!(r.json()["body_fnv"], format!("{:016x}", fnv1a(&body)));
    let r = cl.read_response();
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.json()["target"], "/after");
    // And the connection goes on: one more long body, then a short request.
    let r = cl.roundtrip(&req("POST", "/again", "h", &[], &body));
    assert_eq!(r.json()["body_len"], len);
    let r = cl.roundtrip(&get("/last", "h"));
    assert_eq!(r.json()["target"], "/last");
}

#[test]
fn long_content_length_body_then_pipelined_request() {
    long_body_then_pipelined(false);
}

#[test]
fn long_chunked_body_then_pipelined_request() {
    long_body_then_pipelined(true);
}

/// Long responses of both framings, one after another on one client
/// connection and (pooled) upstream connection, each exactly as sent.
#[test]
fn long_responses_back_to_back_on_one_connection() {
    let up = Upstream::start("u", |rec| match rec.target.as_str() {
        "/cl" => Reply::Stream {
            len: 1_000_003,
            chunked: false,
        },
        "/ch" => Reply::Stream {
            len: 700_001,
            chunked: true,
        },
        _ => Reply::Echo,
    });
    let gw = one_route(&[], &up);
    let mut cl = gw.client();
    for (path, len, chunked) in [
        ("/cl", 1_000_003, false),
        ("/ch", 700_001, true),
        ("/cl", 1_000_003, false),
    ] {
        cl.send(&get(path, "h"));
        read_pattern_response(&mut cl, len, chunked, path);
    }
    let r = cl.roundtrip(&get("/short", "h"));
    assert_eq!(r.json()["target"], "/short");
}
