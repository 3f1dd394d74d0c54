//! The admin listener under hostile clients: a client trickling its request
//! neither delays another connection's `GET /metrics` nor outlives the
//! whole-request deadline (408); a 2 MB `POST /revocations` is answered 413
//! in the JSON error shape, not reset; connections over the cap get 503
//! `admin_busy` and the slots come back; unknown endpoints and methods get
//! the JSON error shape too.

mod common;

use std::time::{Duration, Instant};

use common::*;

fn gateway() -> Gateway {
    let routes = "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n";
    Gateway::start(&build(&[], &[("u", unused_addr())], routes))
}

fn metrics_in_time(gw: &Gateway) -> Duration {
    let t = Instant::now();
    let mut c = RawClient::connect(gw.admin_addr());
    c.set_timeout(Duration::from_secs(3));
    let r = c.roundtrip(b"GET /metrics HTTP/1.1\r\nHost: admin\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(r.text().contains("ringway_requests_total"));
    t.elapsed()
}

#[test]
fn a_trickling_client_delays_nobody_and_is_cut_off_at_the_deadline() {
    let gw = gateway();
    let admin = gw.admin_addr();
    let trickler = std::thread::spawn(move || {
        let mut c = RawClient::connect(admin);
        let t = Instant::now();
        // 1 byte every 500 ms (waiting for an answer in between): 20 bytes
        // would take 10 s, twice the deadline.
        let _ = c
            .stream()
            .set_read_timeout(Some(Duration::from_millis(500)));
        for b in b"GET /metrics HTTP/1.1\r\nHost: admin\r\n\r\n"
            .iter()
            .take(20)
        {
            if c.try_send(&[*b]).is_err() || c.stream().peek(&mut [0u8; 1]).is_ok() {
                break;
            }
        }
        c.set_timeout(Duration::from_secs(5));
        let r = c.try_read_response(ReadOpts::default());
        (r, t.elapsed())
    });
    std::thread::sleep(Duration::from_millis(700));
    for _ in 0..5 {
        let took = metrics_in_time(&gw);
        assert!(took < Duration::from_secs(1), "GET /metrics took {took:?}");
        std::thread::sleep(Duration::from_millis(400));
    }
    let (r, took) = trickler.join().expect("trickler");
    let r = r.expect("the trickler gets an answer, not a reset");
    assert_error(&r, 408, "request_timeout");
    assert!(r.header("x-request-id").is_some(), "{}", r.summary());
    // The deadline runs from accept, not per read: about 5 s, not 10.
    assert!(
        took >= Duration::from_millis(4500) && took < Duration::from_secs(8),
        "cut off after {took:?}"
    );
}

#[test]
fn a_2mb_revocation_body_gets_413_not_a_reset() {
    let gw = gateway();
    let body = vec![b'x'; 2 * 1024 * 1024];
    let mut c = RawClient::connect(gw.admin_addr());
    // The gateway may answer before it has read everything: the write can
    // then fail late, the response must still be readable.
    let _ = c.try_send(&req("POST", "/revocations", "admin", &[], &body));
    let r = c
        .try_read_response(ReadOpts::default())
        .expect("a 413 response, not a reset");
    assert_error(&r, 413, "body_too_large");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.json()["error"]["request_id"].as_str(),
        r.header("x-request-id")
    );
    // 64 KiB is still accepted (and a bad line in it refused whole).
    let mut c = RawClient::connect(gw.admin_addr());
    let fits = "jti:a\n".repeat(64 * 1024 / 6);
    let r = c.roundtrip(&req("POST", "/revocations", "admin", &[], fits.as_bytes()));
    assert_eq!(r.status, 200, "{}", r.summary());
    // As curl sends a larger body: the head, then the body after 100.
    let mut c = RawClient::connect(gw.admin_addr());
    let body = b"jti:b\nsub:c\n";
    let head = format!(
        "POST /revocations HTTP/1.1\r\nHost: admin\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    c.send(head.as_bytes());
    assert_eq!(c.read_response().status, 100);
    c.send(body);
    let r = c.read_response();
    assert_error(&r, 400, "invalid_revocation");
    assert!(r.text().contains("line 2"), "{}", r.text());
}

#[test]
fn connections_over_the_cap_get_503_and_slots_come_back() {
    let gw = gateway();
    // 16 idle connections take every slot until their deadline.
    let held: Vec<RawClient> = (0..16)
        .map(|_| RawClient::connect(gw.admin_addr()))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    let mut c = RawClient::connect(gw.admin_addr());
    let r = c.roundtrip(b"GET /metrics HTTP/1.1\r\nHost: admin\r\n\r\n");
    assert_error(&r, 503, "admin_busy");
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "took {:?}",
        t.elapsed()
    );
    // Each held connection is answered 408 at its deadline; then the
    // listener serves again.
    for mut h in held {
        h.set_timeout(Duration::from_secs(8));
        assert_error(&h.read_response(), 408, "request_timeout");
    }
    assert!(eventually(Duration::from_secs(3), || {
        let mut c = RawClient::connect(gw.admin_addr());
        c.roundtrip(b"GET /healthz HTTP/1.1\r\nHost: admin\r\n\r\n")
            .status
            == 200
    }));
}

#[test]
fn unknown_endpoints_and_methods_get_the_json_error_shape() {
    let gw = gateway();
    let ask = |raw: &[u8]| RawClient::connect(gw.admin_addr()).roundtrip(raw);
    assert_error(
        &ask(b"GET /nope HTTP/1.1\r\nHost: admin\r\n\r\n"),
        404,
        "admin_not_found",
    );
    let r = ask(b"PATCH /revocations HTTP/1.1\r\nHost: admin\r\n\r\n");
    assert_error(&r, 405, "admin_method_not_allowed");
    assert_eq!(r.header("allow"), Some("GET, POST, DELETE"));
    let r = ask(b"POST /metrics HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\n\r\n");
    assert_error(&r, 405, "admin_method_not_allowed");
    assert_eq!(r.header("allow"), Some("GET"));
    assert_error(
        &ask(b"POST /revocations HTTP/1.1\r\nHost: admin\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        411,
        "length_required",
    );
    assert_error(
        &ask(b"GET /metrics HTTP/1.1\r\nBad Header\r\n\r\n"),
        400,
        "malformed_request",
    );
    let r = ask(b"GET /healthz HTTP/1.1\r\nHost: admin\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "ok\n"));
    // Counted like the data plane's errors.
    assert_eq!(
        gw.counter("ringway_errors_total{code=\"admin_not_found\"}"),
        1.0
    );
    assert_eq!(
        gw.counter("ringway_errors_total{code=\"admin_method_not_allowed\"}"),
        2.0
    );
    assert!(eventually(Duration::from_secs(2), || gw
        .log_entries("admin request rejected")
        .len()
        == 5));
}
