//! Long Content-Length responses between plain sockets, the ones the
//! gateway moves with splice (`server::splice`, 256 KiB and up): a body
//! the upstream trickles arrives whole and the client connection carries
//! the next request; a body the upstream cuts short closes the client
//! connection after exactly the bytes that came, and the next connection
//! is served; while a body waits on its upstream, the shard serves other
//! clients. Bytes checked on the wire.

mod common;

use std::time::Duration;

use common::*;

fn one_route(up: &Upstream) -> Gateway {
    // One shard: a splice that blocked it would hold up every other client.
    Gateway::start(&build(
        &[("workers", "1")],
        &[("u", up.addr())],
        "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n",
    ))
}

/// A response head declaring `declared` bytes, then `sent` bytes of the
/// body pattern in pieces of `piece` bytes with a pause after each.
fn trickle(declared: u64, sent: usize, piece: usize, pause: Duration) -> Vec<(Vec<u8>, Duration)> {
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\n\r\n");
    let mut out = vec![(head.into_bytes(), pause)];
    let body = pattern(0, sent);
    for part in body.chunks(piece) {
        out.push((part.to_vec(), pause));
    }
    out
}

/// The position of the end of the head in `wire`.
fn body_start(wire: &[u8]) -> usize {
    wire.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4
}

#[test]
fn trickled_long_response_arrives_whole_and_the_connection_goes_on() {
    let len = 600_000;
    let up = Upstream::start("u", move |rec| match rec.target.as_str() {
        "/long" => Reply::Pieces(
            trickle(len as u64, len, 70_000, Duration::from_millis(30)),
            false,
        ),
        _ => Reply::Echo,
    });
    let gw = one_route(&up);
    let mut cl = gw.client();
    for round in 0..2 {
        let r = cl.roundtrip(&get("/long", "h"));
        assert_eq!(r.status, 200, "round {round}: {}", r.summary());
        assert_eq!(r.body.len(), len, "round {round}");
        assert!(
            r.body == pattern(0, len),
            "round {round}: body corrupted in transit"
        );
        // A short response on the same client connection after the spliced
        // one: the socket is back to what the ring expects.
        let r = cl.roundtrip(&get("/short", "h"));
        assert_eq!(r.status, 200, "{}", r.summary());
        assert_eq!(r.json()["target"], "/short");
    }
}

#[test]
fn long_response_cut_short_closes_the_client_after_the_bytes_that_came() {
    let (declared, sent) = (1_000_000u64, 400_000usize);
    let up = Upstream::start("u", move |rec| match rec.target.as_str() {
        "/cut" => Reply::Pieces(
            trickle(declared, sent, 100_000, Duration::from_millis(20)),
            true,
        ),
        _ => Reply::Echo,
    });
    let gw = one_route(&up);
    let mut cl = gw.client();
    cl.send(&get("/cut", "h"));
    let (wire, closed) = cl.read_until_close(Duration::from_secs(5));
    assert!(closed, "client connection left open after a truncated body");
    let start = body_start(&wire);
    assert!(
        wire[..start].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&wire[..start])
    );
    assert!(
        wire[start..] == pattern(0, sent)[..],
        "body bytes differ ({} came)",
        wire.len() - start
    );
    assert!(eventually(Duration::from_secs(2), || gw
        .counter("ringway_upstream_aborted_total")
        >= 1.0));
    let r = gw.client().roundtrip(&get("/after", "h"));
    assert_eq!(r.status, 200, "{}", r.summary());
}

#[test]
fn the_shard_serves_others_while_a_long_response_waits_on_its_upstream() {
    let len = 600_000;
    let up = Upstream::start("u", move |rec| match rec.target.as_str() {
        "/stall" => {
            let mut p = trickle(len as u64, len, 300_000, Duration::from_millis(10));
            // A long pause after the first half of the body.
            p[1].1 = Duration::from_millis(1500);
            Reply::Pieces(p, false)
        }
        _ => Reply::Echo,
    });
    let gw = one_route(&up);
    let mut slow = gw.client();
    slow.send(&get("/stall", "h"));
    std::thread::sleep(Duration::from_millis(300));
    let t = std::time::Instant::now();
    let r = gw.client().roundtrip(&get("/other", "h"));
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(
        t.elapsed() < Duration::from_millis(700),
        "another client waited {:?} behind a stalled body",
        t.elapsed()
    );
    slow.set_timeout(Duration::from_secs(10));
    let r = slow.read_response();
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(r.body == pattern(0, len), "body corrupted in transit");
}
