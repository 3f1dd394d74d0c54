//! Keep-alive and connection reuse on both sides: one client connection
//! maps to one pooled upstream connection, `Connection: close` from either
//! side is honoured without poisoning the other side, pooling can be turned
//! off, idle pooled connections expire, and targets are used round robin.

mod common;

use std::time::Duration;

use common::*;

fn route_to(c: &mut RawClient, path: &str, host: &str, headers: &[(&str, &str)]) -> Response {
    c.roundtrip(&req("GET", path, host, headers, b""))
}

#[test]
fn keep_alive_is_reused_on_both_sides() {
    let up = Upstream::echo("u");
    let gw = Gateway::start(&build(
        &[],
        &[("u", up.addr())],
        "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n",
    ));
    let mut cl = gw.client();
    for i in 0..10 {
        let r = route_to(&mut cl, &format!("/k/{i}"), "h", &[]);
        assert_eq!(r.status, 200, "request {i}: {}", r.summary());
        assert!(!r.says_close(), "{}", r.summary());
    }
    assert_eq!(up.connections(), 1, "upstream connection not reused");
    assert!(up.requests().iter().all(|r| r.conn == 0));
    assert_eq!(gw.metric("ringway_connections_accepted_total"), Some(1.0));
    assert_eq!(gw.metric("ringway_upstream_connects_total"), Some(1.0));
    assert_eq!(gw.metric("ringway_upstream_reused_total"), Some(9.0));
    assert_eq!(gw.metric("ringway_request_heads_total"), Some(10.0));
}

#[test]
fn connection_close_is_honoured_and_upstream_stays_pooled() {
    let up = Upstream::echo("u");
    // One shard, so both client connections share one upstream pool.
    let gw = Gateway::start(&build(
        &[("workers", "1")],
        &[("u", up.addr())],
        "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n",
    ));
    let mut cl = gw.client();
    let r = route_to(&mut cl, "/a", "h", &[("Connection", "close")]);
    assert!(
        r.says_close(),
        "response to Connection: close should say close: {}",
        r.summary()
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    cl.assert_closed_silently("after Connection: close");
    let mut cl = gw.client();
    let r = route_to(&mut cl, "/b", "h", &[]);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(
        up.connections(),
        1,
        "client's Connection: close leaked upstream"
    );
}

#[test]
fn upstream_connection_close_is_not_reused() {
    let up = Upstream::start("u", |rec| {
        if rec.conn == 0 {
            Reply::RawThenClose(fixed_response("Connection: close\r\n", b"first"))
        } else {
            Reply::Echo
        }
    });
    let gw = Gateway::start(&build(
        &[],
        &[("u", up.addr())],
        "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n",
    ));
    let mut cl = gw.client();
    let r = route_to(&mut cl, "/a", "h", &[]);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.body, b"first");
    // The upstream's close is hop-by-hop: the client connection stays usable.
    let r = route_to(&mut cl, "/b", "h", &[]);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.upstream(), Some("u"));
    assert_eq!(up.connections(), 2);
}

fn pool_config(up: &[std::net::SocketAddr], upstream_extra: &[(&str, &str)]) -> String {
    let mut toml = server_section(&[]);
    toml.push_str(&upstream_section("u", up, upstream_extra));
    toml.push_str("[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n");
    toml
}

#[test]
fn pooling_disabled_opens_a_connection_per_request() {
    let up = Upstream::echo("u");
    let gw = Gateway::start(&pool_config(&[up.addr()], &[("max_idle_per_shard", "0")]));
    let mut cl = gw.client();
    for _ in 0..3 {
        assert_eq!(route_to(&mut cl, "/", "h", &[]).status, 200);
    }
    assert_eq!(up.connections(), 3);
}

#[test]
fn pooled_connection_past_its_idle_timeout_is_not_reused() {
    let up = Upstream::echo("u");
    let gw = Gateway::start(&pool_config(&[up.addr()], &[("idle_timeout_ms", "200")]));
    let mut cl = gw.client();
    assert_eq!(route_to(&mut cl, "/1", "h", &[]).status, 200);
    assert_eq!(route_to(&mut cl, "/2", "h", &[]).status, 200);
    assert_eq!(up.connections(), 1);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(route_to(&mut cl, "/3", "h", &[]).status, 200);
    assert_eq!(
        up.connections(),
        2,
        "a pooled connection idle past idle_timeout_ms was reused"
    );
    assert_eq!(up.last().conn, 1);
}

#[test]
fn targets_are_used_round_robin() {
    let (a, b) = (Upstream::echo("a"), Upstream::echo("b"));
    let gw = Gateway::start(&pool_config(
        &[a.addr(), b.addr()],
        &[("max_idle_per_shard", "0")],
    ));
    let mut cl = gw.client();
    let seen: Vec<String> = (0..4)
        .map(|_| {
            route_to(&mut cl, "/", "h", &[])
                .upstream()
                .unwrap_or("none")
                .to_string()
        })
        .collect();
    assert_eq!(a.requests().len(), 2, "{seen:?}");
    assert_eq!(b.requests().len(), 2, "{seen:?}");
    assert_ne!(seen[0], seen[1], "{seen:?}");
}
