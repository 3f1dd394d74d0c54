//! WebSocket through the gateway (`routes[].upgrade`), against a real
//! WebSocket server (Python `websockets`) with a client that writes and
//! reads the frames byte by byte: echo both ways, text and binary of every
//! length class, ping/pong and close codes; a route without `upgrade`
//! forwards a plain request; auth applies to the handshake; a refusal by
//! the upstream is relayed; a body on the handshake is refused; the idle
//! timeout; the upstream's close; metrics and the access log; and a
//! graceful shutdown that closes an open WebSocket within its grace.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::mint::sha256_hex;
use common::ws::{bytes, close, drained_on_sigterm, echo, echo_every_kind, idles_out_unless_busy};
use common::ws::{WsClient, WsServer, BINARY, CLOSE, TEXT, WAIT};
use common::*;
use serde_json::Value;

/// Routes: `/keyed/…` (API key) and every other path to the WebSocket
/// server with `upgrade = ["websocket"]`; `/plain/…` to an HTTP echo
/// upstream, with and without `upgrade`.
fn config(ws: &WsServer, plain: &Upstream, server: &[(&str, &str)], extra: &str) -> String {
    let mut cfg = server_section(server);
    cfg.push_str(&upstream_section("ws", &[ws.addr], &[]));
    cfg.push_str(&upstream_section("plain", &[plain.addr()], &[]));
    cfg.push_str(&format!(
        r#"[auth.partners]
kind = "api_key"
keys = [ {{ id = "partner-a", sha256 = "{}" }} ]

[[routes]]
name = "keyed"
path_prefix = "/keyed"
strip_prefix = "/keyed"
upstream = "ws"
auth = ["partners"]
upgrade = ["websocket"]

[[routes]]
name = "plain"
path_prefix = "/plain"
upstream = "plain"

[[routes]]
name = "plain-upgrade"
path_prefix = "/upgradable"
upstream = "plain"
upgrade = ["WebSocket"]

[[routes]]
name = "ws"
path_prefix = "/"
upstream = "ws"
upgrade = ["websocket"]

{extra}
"#,
        sha256_hex("key-a-secret")
    ));
    cfg
}

fn start(server: &[(&str, &str)], extra: &str) -> (Gateway, WsServer, Upstream) {
    let ws = WsServer::start();
    let plain = Upstream::echo("plain");
    let gw = Gateway::start(&config(&ws, &plain, server, extra));
    (gw, ws, plain)
}

#[test]
fn echo_of_text_binary_ping_and_close_through_the_gateway() {
    let (gw, _ws, _plain) = start(&[], "");
    let mut c = WsClient::upgraded(gw.addr(), "/echo", &[]);
    echo_every_kind(&mut c);
    close(&mut c, 4001);
}

#[test]
fn the_upstream_sees_the_handshake_and_the_gateways_headers() {
    let (gw, _ws, _plain) = start(&[], "");
    let mut c = WsClient::upgraded(gw.addr(), "/headers", &[("X-Trace-Me", "1")]);
    let (head, seen) = c.recv();
    assert_eq!(head, 0x80 | TEXT);
    let seen: Value = serde_json::from_slice(&seen).expect("headers JSON");
    assert_eq!(seen["upgrade"], serde_json::json!(["websocket"]), "{seen}");
    assert_eq!(seen["connection"], serde_json::json!(["upgrade"]), "{seen}");
    assert_eq!(seen["sec-websocket-key"][0], common::ws::KEY, "{seen}");
    assert_eq!(seen["x-trace-me"][0], "1", "{seen}");
    assert!(seen["x-forwarded-for"][0].is_string(), "{seen}");
    assert!(seen["x-request-id"][0].is_string(), "{seen}");
    echo(&mut c, TEXT, b"after the headers");
}

#[test]
fn a_route_without_upgrade_forwards_a_plain_request_without_upgrade_fields() {
    let (gw, _ws, plain) = start(&[], "");
    // No `upgrade` on the route; a protocol the route does not list, alone
    // or beside one it does; not a GET; not listed in `Connection`.
    let cases = [
        ("GET", "/plain/a", "websocket", "Upgrade"),
        ("GET", "/upgradable/b", "h2c", "Upgrade"),
        ("GET", "/upgradable/c", "websocket, h2c", "Upgrade"),
        ("POST", "/upgradable/d", "websocket", "Upgrade"),
        ("GET", "/upgradable/e", "websocket", "keep-alive"),
    ];
    for (method, path, proto, connection) in cases {
        let mut c = gw.client();
        let r = c.roundtrip(&req(
            method,
            path,
            "ws.test",
            &[("Upgrade", proto), ("Connection", connection)],
            b"",
        ));
        assert_eq!(r.status, 200, "{}", r.summary());
        let got = plain.last();
        assert_eq!((&*got.method, &*got.target), (method, path));
        assert_eq!(got.header("upgrade"), None, "{}", got.head_text());
        assert!(
            !got.header_all("connection")
                .iter()
                .any(|v| v.to_ascii_lowercase().contains("upgrade")),
            "{}",
            got.head_text()
        );
        // The connection carries on as HTTP.
        assert_eq!(c.roundtrip(&get(path, "ws.test")).status, 200);
    }
}

#[test]
fn auth_applies_to_the_upgrade_request() {
    let (gw, _ws, _plain) = start(&[], "");
    let (mut c, head) = WsClient::open(gw.addr(), "/keyed/echo", &[]);
    assert_eq!(head.status, 401, "{}", head.raw);
    let body = c.read_json(&head);
    assert_eq!(body["error"]["code"], "missing_credentials", "{body}");
    assert_eq!(body["error"]["status"], 401, "{body}");
    let (_, head) = WsClient::open(gw.addr(), "/keyed/echo", &[("X-Api-Key", "wrong")]);
    assert_eq!(head.status, 401, "{}", head.raw);

    let mut c = WsClient::upgraded(gw.addr(), "/keyed/echo", &[("X-Api-Key", "key-a-secret")]);
    echo(&mut c, TEXT, b"authenticated");
    close(&mut c, 1000);
}

#[test]
fn a_refusal_by_the_upstream_is_relayed() {
    let (gw, _ws, _plain) = start(&[], "");
    let (mut c, head) = WsClient::open(gw.addr(), "/refuse", &[]);
    assert_eq!(head.status, 403, "{}", head.raw);
    assert_eq!(head.header("upgrade"), None, "{}", head.raw);
    assert_eq!(head.header("content-length"), Some("8"), "{}", head.raw);
    assert_eq!(c.read_bytes(8), b"refused\n");
    // No 101 was relayed: nothing upgraded.
    assert_eq!(gw.counter("ringway_upgrades_total"), 0.0);
}

#[test]
fn an_upgrade_request_with_a_body_is_refused() {
    let (gw, _ws, _plain) = start(&[], "");
    let mut c = WsClient::connect(gw.addr());
    let mut r = common::ws::handshake_request("/echo", &[("Content-Length", "5")]);
    r.extend_from_slice(b"hello");
    c.send_raw(&r);
    let head = c.read_head();
    assert_eq!(head.status, 400, "{}", head.raw);
    let body = c.read_json(&head);
    assert_eq!(body["error"]["code"], "upgrade_with_body", "{body}");
    assert_eq!(
        gw.counter("ringway_errors_total{code=\"upgrade_with_body\"}"),
        1.0
    );
}

#[test]
fn the_idle_timeout_closes_an_idle_upgraded_connection_and_traffic_keeps_it() {
    // Margins of hundreds of ms: the machine may be busy with other tests.
    let (gw, _ws, _plain) = start(&[("upgrade_idle_timeout_ms", "1000")], "");
    idles_out_unless_busy(&gw, |path| WsClient::upgraded(gw.addr(), path, &[]));
}

#[test]
fn the_upstream_closing_closes_the_client_side() {
    let (gw, _ws, _plain) = start(&[], "");
    let mut c = WsClient::upgraded(gw.addr(), "/bye", &[]);
    assert_eq!(c.recv(), (0x80 | TEXT, b"bye".to_vec()));
    let (head, got) = c.recv();
    assert_eq!(head, 0x80 | CLOSE);
    assert_eq!(got, [&1000u16.to_be_bytes()[..], b"done"].concat());
    // The client answers the close, as RFC 6455 asks; the server then ends
    // the TCP connection and the gateway passes that on.
    c.send(CLOSE, &1000u16.to_be_bytes());
    let (closed, rest) = c.closed_within(WAIT);
    assert!(closed && rest.is_empty(), "client side left open: {rest:?}");
    // The upstream's end was passed on as a half-close; the tunnel ends
    // once the client, having read it, closes too, as a client does.
    drop(c);
    assert!(eventually(WAIT, || gw.metric("ringway_upgrades_active") == Some(0.0)));
}

fn log_path() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringway-ws-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join("access.log");
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn metrics_and_the_access_log_record_the_upgraded_connection() {
    let path = log_path();
    let log = format!("[access_log]\noutput = \"file:{}\"\n", path.display());
    let (gw, ws, _plain) = start(&[], &log);
    let mut c = WsClient::upgraded(gw.addr(), "/echo", &[]);
    assert!(eventually(WAIT, || gw.metric("ringway_upgrades_active") == Some(1.0)));
    // The attempt ended at the 101: reported once, not in flight while the
    // tunnel runs.
    let target = format!("upstream=\"ws\",target=\"{}\"", ws.addr);
    let class = |c: &str| format!("ringway_upstream_responses_total{{{target},class=\"{c}\"}}");
    assert_eq!(gw.counter(&class("1xx")), 1.0);
    assert_eq!(gw.counter(&class("2xx")), 0.0);
    assert_eq!(
        gw.counter(&format!("ringway_upstream_in_flight{{{target}}}")),
        0.0
    );
    assert_eq!(
        gw.counter(&format!("ringway_upstream_failures_total{{{target}}}")),
        0.0
    );
    echo(&mut c, BINARY, &bytes(100_000));
    std::thread::sleep(Duration::from_millis(200));
    close(&mut c, 1000);
    drop(c);
    assert!(eventually(WAIT, || gw.metric("ringway_upgrades_active") == Some(0.0)));
    assert_eq!(gw.counter("ringway_upgrades_total"), 1.0);
    let up = gw.counter("ringway_upgrade_bytes_total{direction=\"to_upstream\"}");
    let down = gw.counter("ringway_upgrade_bytes_total{direction=\"to_client\"}");
    // 100 000 bytes of payload plus framing each way (a masked client
    // frame has 4 bytes more), and the close frames.
    assert!((100_010.0..100_040.0).contains(&up), "to upstream: {up}");
    assert!((100_000.0..100_030.0).contains(&down), "to client: {down}");
    assert_eq!(
        gw.counter("ringway_responses_total{class=\"1xx\",source=\"upstream\"}"),
        1.0
    );
    let line = (0..50)
        .find_map(|_| {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let found = text
                .lines()
                .find(|l| l.contains("\"status\":101"))
                .map(str::to_string);
            if found.is_none() {
                std::thread::sleep(Duration::from_millis(100));
            }
            found
        })
        .expect("no access-log line with status 101");
    let v: Value = serde_json::from_str(&line).expect("JSON line");
    assert_eq!(v["route"], "ws", "{v}");
    assert_eq!(v["path"], "/echo", "{v}");
    let bytes_in = v["bytes_in"].as_f64().unwrap_or(0.0);
    let bytes_out = v["bytes_out"].as_f64().unwrap_or(0.0);
    // The handshake's head plus the tunnel, each way.
    assert!(bytes_in >= up + 100.0, "{v}");
    assert!(bytes_out >= down + 100.0, "{v}");
    assert!(v["duration_us"].as_u64().unwrap_or(0) >= 200_000, "{v}");
}

#[test]
fn graceful_shutdown_closes_an_open_websocket_within_grace_and_exits() {
    let (mut gw, _ws, _plain) = start(&[("shutdown_grace_ms", "700")], "");
    let mut c = WsClient::upgraded(gw.addr(), "/echo", &[]);
    echo(&mut c, TEXT, b"before");
    // Served while the 700 ms grace period runs, closed at its end.
    drained_on_sigterm(&mut gw, &mut c, TEXT, b"during the grace period");
}

#[test]
fn echo_on_the_epoll_driver_too() {
    let (gw, _ws, _plain) = start(&[("io", "\"epoll\"")], "");
    assert_eq!(gw.io(), "epoll");
    let mut c = WsClient::upgraded(gw.addr(), "/echo", &[]);
    for n in [0, 125, 65_536, 1 << 20] {
        echo(&mut c, BINARY, &bytes(n));
    }
    close(&mut c, 1000);
}

#[test]
fn an_upgrade_takes_a_fresh_upstream_connection_that_is_never_pooled() {
    let (gw, _ws, plain) = start(&[], "");
    let mut c = gw.client();
    assert_eq!(c.roundtrip(&get("/upgradable/a", "ws.test")).status, 200);
    // The echo upstream does not switch: its 200 is relayed as the answer.
    let upgrade = [("Upgrade", "websocket"), ("Connection", "Upgrade")];
    let r = c.roundtrip(&req("GET", "/upgradable/b", "ws.test", &upgrade, b""));
    assert_eq!(r.status, 200, "{}", r.summary());
    let got = plain.last();
    assert_eq!(
        got.header("upgrade"),
        Some("websocket"),
        "{}",
        got.head_text()
    );
    assert_eq!(
        got.header("connection"),
        Some("upgrade"),
        "{}",
        got.head_text()
    );
    assert_eq!(got.conn, 1, "the upgrade went over a pooled connection");
    // The plain request after it reuses the first connection, not the
    // upgrade's.
    assert_eq!(c.roundtrip(&get("/upgradable/c", "ws.test")).status, 200);
    assert_eq!(plain.last().conn, 0);
    assert_eq!(plain.connections(), 2);
}

#[test]
fn a_101_to_a_request_that_did_not_ask_for_it_is_a_bad_response() {
    let switch =
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    let up = Upstream::start("u", move |_| Reply::Raw(switch.to_vec()));
    let gw = Gateway::start(&build(
        &[],
        &[("u", up.addr())],
        "[[routes]]\nname = \"plain\"\npath_prefix = \"/plain\"\nupstream = \"u\"\n\n\
         [[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\nupgrade = [\"websocket\"]\n",
    ));
    // No Connection: upgrade on an upgrade route; Upgrade on a route without it.
    let cases = [
        ("/x", vec![("Upgrade", "websocket")]),
        (
            "/plain",
            vec![("Upgrade", "websocket"), ("Connection", "upgrade")],
        ),
    ];
    for (path, headers) in cases {
        let r = gw.client().roundtrip(&req("GET", path, "h", &headers, b""));
        assert_error(&r, 502, "bad_upstream_response");
    }
    assert_eq!(gw.counter("ringway_upgrades_total"), 0.0);
}

#[test]
fn an_upgraded_connection_counts_against_max_connections() {
    let (gw, _ws, _plain) = start(&[("max_connections", "1")], "");
    let mut c = WsClient::upgraded(gw.addr(), "/echo", &[]);
    echo(&mut c, TEXT, b"holding the only slot");
    let r = gw.client().read_response();
    assert_error(&r, 503, "too_many_connections");
    close(&mut c, 1000);
    drop(c);
    assert!(eventually(WAIT, || {
        let mut other = gw.client();
        other.try_send(&get("/plain/x", "ws.test")).is_ok()
            && other
                .try_read_response(ReadOpts::default())
                .is_ok_and(|r| r.status == 200)
    }));
}

#[test]
fn a_101_that_names_no_offered_protocol_is_a_bad_response() {
    let switch = |proto: &str| {
        format!("HTTP/1.1 101 Switching Protocols\r\n{proto}Connection: Upgrade\r\n\r\n")
            .into_bytes()
    };
    for answer in [
        switch(""),
        switch("Upgrade: h2c\r\n"),
        switch("Upgrade: websocket, h2c\r\n"),
    ] {
        let up = Upstream::start("u", move |_| Reply::Raw(answer.clone()));
        let gw = Gateway::start(&build(
            &[],
            &[("u", up.addr())],
            "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\nupgrade = [\"websocket\", \"h2c\"]\n",
        ));
        let (mut c, head) = WsClient::open(gw.addr(), "/x", &[]);
        assert_eq!(head.status, 502, "{}", head.raw);
        let body = c.read_json(&head);
        assert_eq!(body["error"]["code"], "bad_upstream_response", "{body}");
        assert_eq!(gw.counter("ringway_upgrades_total"), 0.0);
    }
}

#[test]
fn a_concurrency_limit_counts_open_websockets_on_the_route() {
    let limited = "[[routes]]\nname = \"limited\"\npath_prefix = \"/limited\"\nupstream = \"ws\"\n\
                   upgrade = [\"websocket\"]\nconcurrency_limit = 1\n";
    let (gw, _ws, _plain) = start(&[], limited);
    let mut first = WsClient::upgraded(gw.addr(), "/limited/echo", &[]);
    echo(&mut first, TEXT, b"one");
    let (mut second, head) = WsClient::open(gw.addr(), "/limited/echo", &[]);
    assert_eq!(head.status, 503, "{}", head.raw);
    let body = second.read_json(&head);
    assert_eq!(body["error"]["code"], "concurrency_limited", "{body}");
    close(&mut first, 1000);
    drop(first);
    // Once the first one closed, the slot is free again.
    assert!(eventually(WAIT, || {
        let (_, head) = WsClient::open(gw.addr(), "/limited/echo", &[]);
        head.status == 101
    }));
}

#[test]
fn an_upgrade_is_never_retried_once_sent() {
    // Two targets that close without answering, and retries on resets:
    // a plain GET goes to both, the upgrade only to one.
    let a = Upstream::start("a", |_| Reply::Close);
    let b = Upstream::start("b", |_| Reply::Close);
    let mut cfg = server_section(&[]);
    cfg.push_str(&upstream_section("u", &[a.addr(), b.addr()], &[]));
    cfg.push_str(
        "[upstreams.retry]\nattempts = 3\nretry_on = [\"reset\"]\n\n\
         [[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\nupgrade = [\"websocket\"]\n",
    );
    let gw = Gateway::start(&cfg);
    let r = gw.client().roundtrip(&get("/plain", "h"));
    assert_error(&r, 502, "upstream_reset");
    let tried = a.requests().len() + b.requests().len();
    assert!(tried >= 2, "the plain GET was not retried ({tried})");
    let (mut c, head) = WsClient::open(gw.addr(), "/ws", &[]);
    assert_eq!(head.status, 502, "{}", head.raw);
    assert_eq!(c.read_json(&head)["error"]["code"], "upstream_reset");
    let upgrades = a
        .requests()
        .iter()
        .chain(b.requests().iter())
        .filter(|r| r.target == "/ws")
        .count();
    assert_eq!(upgrades, 1, "the upgrade was sent again");
}

#[test]
fn a_route_with_cors_refuses_an_upgrade_from_another_origin() {
    // Browsers apply no CORS to WebSockets: the gateway checks the Origin.
    let cors = "[[routes]]\nname = \"app\"\npath_prefix = \"/app\"\nupstream = \"ws\"\n\
                upgrade = [\"websocket\"]\ncors = { origins = [\"https://app.example\"] }\n";
    let (gw, _ws, _plain) = start(&[], cors);
    let (mut c, head) = WsClient::open(
        gw.addr(),
        "/app/echo",
        &[("Origin", "https://evil.example")],
    );
    assert_eq!(head.status, 403, "{}", head.raw);
    assert_eq!(c.read_json(&head)["error"]["code"], "origin_not_allowed");
    assert_eq!(gw.counter("ringway_upgrades_total"), 0.0);
    // The listed origin, and a client that sends none (not a browser).
    for origin in [&[("Origin", "https://app.example")][..], &[]] {
        let mut c = WsClient::upgraded(gw.addr(), "/app/echo", origin);
        echo(&mut c, TEXT, b"same origin");
    }
}
