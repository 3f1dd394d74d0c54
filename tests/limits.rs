//! Limits, timeouts and upstream failures: 431 for big or crowded heads,
//! slowloris 408, silent closes for idle and empty connections,
//! `max_connections` 503 with its counter, 502/504 for refused, slow,
//! silent and garbled upstreams, and an upstream dying mid-response (client
//! sees the truncation, the next request gets a fresh upstream connection).

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;

fn one_route(server: &[(&str, &str)], up: SocketAddr, up_extra: &[(&str, &str)]) -> Gateway {
    let mut toml = server_section(server);
    toml.push_str(&upstream_section("u", &[up], up_extra));
    toml.push_str("[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n");
    Gateway::start(&toml)
}

#[test]
fn head_larger_than_max_header_bytes_is_431() {
    let up = Upstream::echo("u");
    let gw = one_route(&[("max_header_bytes", "1024")], up.addr(), &[]);
    let mut cl = gw.client();
    let r = cl.roundtrip(&req("GET", "/", "h", &[("X-Fits", &"a".repeat(700))], b""));
    assert_eq!(r.status, 200, "a head under the limit: {}", r.summary());
    let mut cl = gw.client();
    let r = cl.roundtrip(&req("GET", "/", "h", &[("X-Big", &"a".repeat(2000))], b""));
    assert_error(&r, 431, "header_too_large");
    assert!(r.says_close(), "{}", r.summary());
    assert!(cl.is_closed(Duration::from_secs(3)));
    assert_eq!(up.requests().len(), 1);
}

#[test]
fn more_than_100_header_fields_is_431() {
    let up = Upstream::echo("u");
    let gw = one_route(&[], up.addr(), &[]);
    let names: Vec<String> = (0..100).map(|i| format!("X-H{i}")).collect();
    let hundred: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    // Host + 99 = 100 fields: fine.
    let mut cl = gw.client();
    let r = cl.roundtrip(&req("GET", "/", "h", &hundred[..99], b""));
    assert_eq!(r.status, 200, "{}", r.summary());
    // Host + 100 = 101 fields.
    let mut cl = gw.client();
    let r = cl.roundtrip(&req("GET", "/", "h", &hundred, b""));
    assert_error(&r, 431, "too_many_headers");
    assert!(cl.is_closed(Duration::from_secs(3)));
    assert_eq!(up.requests().len(), 1);
}

#[test]
fn slowloris_gets_408_within_header_timeout() {
    let up = Upstream::echo("u");
    let gw = one_route(&[("header_timeout_ms", "300")], up.addr(), &[]);
    let mut cl = gw.client();
    let start = Instant::now();
    cl.send(b"GET / HTTP/1.1\r\nHost: h\r\n");
    // Keep trickling header bytes: a per-read timeout would never fire.
    let mut w = cl.stream().try_clone().expect("clone");
    let trickle = std::thread::spawn(move || {
        for _ in 0..60 {
            if w.write_all(b"X").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    cl.set_timeout(Duration::from_secs(5));
    let r = cl.read_response();
    let elapsed = start.elapsed();
    assert_error(&r, 408, "request_timeout");
    assert!(r.says_close(), "{}", r.summary());
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < Duration::from_millis(2000),
        "408 after {elapsed:?}, header_timeout_ms = 300"
    );
    assert!(cl.is_closed(Duration::from_secs(3)));
    let _ = trickle.join();
    assert_eq!(
        gw.metric("ringway_timeouts_total{kind=\"header\"}"),
        Some(1.0)
    );
    up.assert_untouched("slowloris");
}

#[test]
fn connection_without_a_byte_is_closed_silently_after_header_timeout() {
    let up = Upstream::echo("u");
    let gw = one_route(&[("header_timeout_ms", "300")], up.addr(), &[]);
    let mut cl = gw.client();
    let start = Instant::now();
    cl.assert_closed_silently("no byte sent");
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(250),
        "closed after {elapsed:?}, before the timeout"
    );
}

#[test]
fn idle_keep_alive_is_closed_silently() {
    let up = Upstream::echo("u");
    let gw = one_route(&[("idle_timeout_ms", "300")], up.addr(), &[]);
    let mut cl = gw.client();
    let r = cl.roundtrip(&get("/", "h"));
    assert_eq!(r.status, 200, "{}", r.summary());
    let start = Instant::now();
    cl.assert_closed_silently("idle keep-alive");
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(250),
        "closed after {elapsed:?}, idle_timeout_ms = 300"
    );
    assert_eq!(
        gw.metric("ringway_timeouts_total{kind=\"idle\"}"),
        Some(1.0)
    );
}

#[test]
fn busy_keep_alive_outlives_the_idle_timeout() {
    let up = Upstream::echo("u");
    let gw = one_route(&[("idle_timeout_ms", "300")], up.addr(), &[]);
    let mut cl = gw.client();
    for i in 0..8 {
        let r = cl.roundtrip(&get(&format!("/{i}"), "h"));
        assert_eq!(r.status, 200, "request {i}: {}", r.summary());
        std::thread::sleep(Duration::from_millis(150));
    }
    assert_eq!(gw.metric("ringway_connections_accepted_total"), Some(1.0));
}

#[test]
fn over_max_connections_is_503_and_counted() {
    let up = Upstream::echo("u");
    let gw = one_route(&[("max_connections", "3")], up.addr(), &[]);
    let mut held: Vec<RawClient> = (0..3).map(|_| gw.client()).collect();
    for c in held.iter_mut() {
        let r = c.roundtrip(&get("/", "h"));
        assert_eq!(r.status, 200, "{}", r.summary());
    }
    let mut extra = gw.client();
    extra.set_timeout(Duration::from_secs(3));
    let r = extra.read_response();
    assert_error(&r, 503, "too_many_connections");
    assert!(r.says_close(), "{}", r.summary());
    assert!(extra.is_closed(Duration::from_secs(3)));
    assert_eq!(gw.metric("ringway_connections_rejected_total"), Some(1.0));
    assert!(
        eventually(Duration::from_secs(2), || gw
            .metric("ringway_connections_active")
            == Some(3.0)),
        "ringway_connections_active = {:?}, want 3",
        gw.metric("ringway_connections_active")
    );
    // The held connections still work, and a slot frees up when one closes.
    let r = held[0].roundtrip(&get("/", "h"));
    assert_eq!(r.status, 200, "{}", r.summary());
    drop(held.pop());
    let ok = eventually(Duration::from_secs(3), || {
        let mut c = gw.client();
        c.set_timeout(Duration::from_secs(2));
        c.send(&get("/", "h"));
        matches!(c.try_read_response(ReadOpts::default()), Ok(r) if r.status == 200)
    });
    assert!(ok, "no slot freed after a connection closed");
}

#[test]
fn refused_upstream_is_502_and_keeps_the_connection() {
    let gw = one_route(&[], unused_addr(), &[("connect_timeout_ms", "1000")]);
    let mut cl = gw.client();
    let r = cl.roundtrip(&get("/", "h"));
    assert_error(&r, 502, "upstream_unavailable");
    assert!(!r.says_close(), "{}", r.summary());
    let r = cl.roundtrip(&req("POST", "/", "h", &[], b"body"));
    assert_error(&r, 502, "upstream_unavailable");
}

#[test]
fn slow_upstream_is_504_after_response_timeout() {
    let slow = Upstream::start("slow", |_| {
        Reply::Delay(Duration::from_secs(5), Box::new(Reply::Echo))
    });
    let fast = Upstream::echo("fast");
    let mut toml = server_section(&[]);
    toml.push_str(&upstream_section(
        "slow",
        &[slow.addr()],
        &[("response_timeout_ms", "300")],
    ));
    toml.push_str(&upstream_section("fast", &[fast.addr()], &[]));
    toml.push_str(
        "[[routes]]\nname = \"slow\"\npath_prefix = \"/slow\"\nupstream = \"slow\"\n\n\
         [[routes]]\nname = \"fast\"\npath_prefix = \"/fast\"\nupstream = \"fast\"\n",
    );
    let gw = Gateway::start(&toml);
    let mut cl = gw.client();
    let start = Instant::now();
    let r = cl.roundtrip(&get("/slow", "h"));
    let elapsed = start.elapsed();
    assert_error(&r, 504, "upstream_timeout");
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < Duration::from_millis(3000),
        "504 after {elapsed:?}, response_timeout_ms = 300"
    );
    let r = cl.roundtrip(&get("/fast", "h"));
    assert_eq!(
        r.status,
        200,
        "connection unusable after 504: {}",
        r.summary()
    );
}

/// A loopback listener whose accept queue is full, so new connects hang.
/// None when this kernel does not make connects hang that way.
fn blackhole() -> Option<(socket2::Socket, Vec<socket2::Socket>, SocketAddr)> {
    use socket2::{Domain, Socket, Type};
    let l = Socket::new(Domain::IPV4, Type::STREAM, None).ok()?;
    l.bind(&"127.0.0.1:0".parse::<SocketAddr>().ok()?.into())
        .ok()?;
    l.listen(0).ok()?;
    let addr = l.local_addr().ok()?.as_socket()?;
    let mut fillers = Vec::new();
    for _ in 0..16 {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).ok()?;
        match s.connect_timeout(&addr.into(), Duration::from_millis(200)) {
            Ok(()) => fillers.push(s),
            Err(_) => return Some((l, fillers, addr)),
        }
    }
    None
}

#[test]
fn upstream_connect_timeout_is_504() {
    let Some((_l, _fillers, addr)) = blackhole() else {
        eprintln!("skipped: cannot make a loopback connect hang on this kernel");
        return;
    };
    let gw = one_route(&[], addr, &[("connect_timeout_ms", "300")]);
    let mut cl = gw.client();
    let start = Instant::now();
    let r = cl.roundtrip(&get("/", "h"));
    let elapsed = start.elapsed();
    assert_error(&r, 504, "upstream_connect_timeout");
    assert!(
        elapsed < Duration::from_millis(3000),
        "504 after {elapsed:?}, connect_timeout_ms = 300"
    );
}

#[test]
fn upstream_closing_without_response_is_502() {
    let up = Upstream::start("u", |_| Reply::Close);
    let gw = one_route(&[], up.addr(), &[]);
    let mut cl = gw.client();
    let r = cl.roundtrip(&get("/", "h"));
    assert_error(&r, 502, "upstream_reset");
    let r = cl.roundtrip(&req("POST", "/", "h", &[], b"body"));
    assert_error(&r, 502, "upstream_reset");
}

#[test]
fn garbled_upstream_response_is_502() {
    let up = Upstream::start("u", |_| Reply::RawThenClose(b"garbage\r\n\r\n".to_vec()));
    let gw = one_route(&[], up.addr(), &[]);
    let mut cl = gw.client();
    let r = cl.roundtrip(&get("/", "h"));
    assert_error(&r, 502, "bad_upstream_response");
}

fn dies_mid_response(first: Vec<u8>, chunked: bool) {
    let up = Upstream::start("u", move |rec| {
        if rec.conn == 0 {
            // Give the gateway time to forward the head before dying.
            Reply::Pieces(vec![(first.clone(), Duration::from_millis(300))], true)
        } else {
            Reply::Echo
        }
    });
    let gw = one_route(&[], up.addr(), &[]);
    let mut cl = gw.client();
    cl.send(&get("/first", "h"));
    let r = cl.read_response_with(ReadOpts {
        allow_truncated: true,
        ..ReadOpts::default()
    });
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.chunked, chunked);
    assert!(
        r.truncated,
        "the client must see the truncation: {}",
        r.summary()
    );
    assert_eq!(r.body, b"0123456789");
    assert!(cl.is_closed(Duration::from_secs(3)));
    assert_eq!(gw.metric("ringway_upstream_aborted_total"), Some(1.0));
    let mut cl = gw.client();
    let r = cl.roundtrip(&get("/second", "h"));
    assert_eq!(r.status, 200, "{}", r.summary());
    let last = up.last();
    assert_eq!(last.target, "/second");
    assert_eq!(last.conn, 1, "the dead upstream connection was reused");
}

#[test]
fn upstream_dying_mid_content_length_body_truncates_the_client() {
    dies_mid_response(
        b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n0123456789".to_vec(),
        false,
    );
}

#[test]
fn upstream_dying_mid_chunked_body_truncates_the_client() {
    dies_mid_response(
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\na\r\n0123456789\r\n".to_vec(),
        true,
    );
}

#[test]
fn upstream_stalling_mid_body_times_out_and_truncates_the_client() {
    let up = Upstream::start("u", |rec| {
        if rec.conn == 0 {
            Reply::Pieces(
                vec![(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n0123456789".to_vec(),
                    Duration::from_secs(10),
                )],
                true,
            )
        } else {
            Reply::Echo
        }
    });
    let gw = one_route(&[], up.addr(), &[("response_timeout_ms", "300")]);
    let mut cl = gw.client();
    cl.send(&get("/first", "h"));
    let start = Instant::now();
    let r = cl.read_response_with(ReadOpts {
        allow_truncated: true,
        ..ReadOpts::default()
    });
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(r.truncated, "{}", r.summary());
    assert_eq!(r.body, b"0123456789");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "stalled body cut after {:?}",
        start.elapsed()
    );
    assert_eq!(gw.metric("ringway_upstream_aborted_total"), Some(1.0));
    let mut cl = gw.client();
    assert_eq!(cl.roundtrip(&get("/second", "h")).status, 200);
    assert_eq!(up.last().conn, 1);
}

#[test]
fn a_dead_target_is_skipped_and_all_dead_is_502() {
    let up = Upstream::echo("u");
    let dead = unused_addr();
    let mut toml = server_section(&[]);
    toml.push_str(&upstream_section(
        "mixed",
        &[dead, up.addr()],
        &[("max_idle_per_shard", "0")],
    ));
    toml.push_str(&upstream_section("dead", &[dead, unused_addr()], &[]));
    toml.push_str(
        "[[routes]]\nname = \"mixed\"\npath_prefix = \"/mixed\"\nupstream = \"mixed\"\n\n\
         [[routes]]\nname = \"dead\"\npath_prefix = \"/dead\"\nupstream = \"dead\"\n",
    );
    let gw = Gateway::start(&toml);
    let mut cl = gw.client();
    for i in 0..4 {
        let r = cl.roundtrip(&get(&format!("/mixed/{i}"), "h"));
        assert_eq!(
            r.status,
            200,
            "request {i} not failed over to the live target: {}",
            r.summary()
        );
    }
    let r = cl.roundtrip(&get("/dead", "h"));
    assert_error(&r, 502, "upstream_unavailable");
}
