//! WebSocket over TLS (`wss://`) through the gateway's TLS listener
//! (docs/websocket.md): a rustls client writing and reading the frames by
//! hand, against the real WebSocket server (Python `websockets`) or a raw
//! TCP upstream that shows what crossed. Echo of every length class with
//! TLS 1.3 and 1.2, ping/pong and close codes, the upstream seeing https,
//! a key update mid-tunnel, close_notify and FIN passed on as half-closes
//! both ways with plaintext byte counts, the idle timeout, and a graceful
//! shutdown that closes an open wss connection within its grace.

mod common;

// Shared with tls_termination.rs, which uses all of it.
#[path = "common/tls.rs"]
mod tls;

use common::ws::{bytes, close, drained_on_sigterm, echo, echo_every_kind, idles_out_unless_busy};
use common::ws::{WsClient, WsServer, ACCEPT, BINARY, CLOSE, TEXT, WAIT};
use common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use tls::{client_config, connect, tls_section, ClientOpts, TestCa, TlsClient};

/// A gateway with a TLS listener (one certificate for `api.test`) in front
/// of `upstream`, every path upgradable, plus `server` keys.
fn gateway(upstream: SocketAddr, server: &[(&str, &str)]) -> (Gateway, TestCa) {
    let ca = TestCa::new();
    let leaf = ca.leaf(&["api.test"]);
    let mut keys = vec![("tls_listen", "\"127.0.0.1:0\"")];
    keys.extend_from_slice(server);
    let mut cfg = build(
        &keys,
        &[("ws", upstream)],
        "[[routes]]\nname = \"ws\"\npath_prefix = \"/\"\nupstream = \"ws\"\nupgrade = [\"websocket\"]\n\n",
    );
    cfg.push_str(&tls_section("1.2", &[(&leaf, "")]));
    (Gateway::start(&cfg), ca)
}

fn tls_to(gw: &Gateway, ca: &TestCa, opts: &ClientOpts) -> TlsClient {
    connect(gw.tls_addr(), client_config(ca, opts), "api.test").expect("TLS handshake")
}

/// A wss connection to `path`, upgraded.
fn wss(gw: &Gateway, ca: &TestCa, path: &str) -> WsClient<TlsClient> {
    WsClient::over(tls_to(gw, ca, &ClientOpts::new())).upgrade(path, &[])
}

#[test]
fn wss_echo_of_every_size_ping_and_close_codes_on_tls13_and_tls12() {
    let ws = WsServer::start();
    let (gw, ca) = gateway(ws.addr, &[]);
    for (version, code) in [
        (&rustls::version::TLS13, 4001),
        (&rustls::version::TLS12, 1000),
    ] {
        let mut opts = ClientOpts::new();
        opts.versions = vec![version];
        let mut c = WsClient::over(tls_to(&gw, &ca, &opts)).upgrade("/echo", &[]);
        assert_eq!(
            c.stream.conn.protocol_version(),
            Some(version.version),
            "negotiated"
        );
        echo_every_kind(&mut c);
        close(&mut c, code);
    }
    assert_eq!(gw.counter("ringway_upgrades_total"), 2.0);
    assert!(eventually(WAIT, || gw.metric("ringway_upgrades_active") == Some(0.0)));
}

#[test]
fn wss_echo_on_the_epoll_driver_too() {
    let ws = WsServer::start();
    let (gw, ca) = gateway(ws.addr, &[("io", "\"epoll\"")]);
    assert_eq!(gw.io(), "epoll");
    let mut c = wss(&gw, &ca, "/echo");
    echo_every_kind(&mut c);
    close(&mut c, 1000);
}

#[test]
fn the_upstream_sees_the_handshake_with_https_forwarded() {
    let ws = WsServer::start();
    let (gw, ca) = gateway(ws.addr, &[]);
    let mut c = wss(&gw, &ca, "/headers");
    let (head, seen) = c.recv();
    assert_eq!(head, 0x80 | TEXT);
    let seen: Value = serde_json::from_slice(&seen).expect("headers JSON");
    assert_eq!(seen["upgrade"], serde_json::json!(["websocket"]), "{seen}");
    assert_eq!(seen["connection"], serde_json::json!(["upgrade"]), "{seen}");
    assert_eq!(seen["x-forwarded-proto"][0], "https", "{seen}");
    echo(&mut c, TEXT, b"after the headers");
}

#[test]
fn a_key_update_mid_tunnel_is_answered_and_traffic_goes_on() {
    let ws = WsServer::start();
    let (gw, ca) = gateway(ws.addr, &[]);
    let mut c = wss(&gw, &ca, "/echo");
    for round in 0..3u8 {
        // TLS 1.3 KeyUpdate with update_requested: the gateway's read half
        // must answer with its own, between the write half's records.
        c.stream.conn.refresh_traffic_keys().expect("key update");
        c.send(BINARY, &bytes(200_000));
        c.send(TEXT, &[b'a' + round; 10]);
        assert_eq!(c.recv(), (0x80 | BINARY, bytes(200_000)));
        assert_eq!(c.recv(), (0x80 | TEXT, vec![b'a' + round; 10]));
    }
    close(&mut c, 1000);
}

/// A raw upstream that answers 101 and then, by path: `/client-first`
/// reads to the end and answers `got:` and what it read, then closes;
/// `/server-first` sends `server-done`, ends its side (FIN) and reads to
/// the end; `/push` sends `PUSH` bytes and a FIN while it reads to the
/// end. What it read is sent on the channel.
const PUSH: usize = 32 << 20;

fn half_close_upstream() -> (SocketAddr, mpsc::Receiver<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let _ = s.set_read_timeout(Some(WAIT));
            let mut head = Vec::new();
            let mut b = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut b) {
                    Ok(n) if n > 0 => head.extend_from_slice(&b[..n]),
                    _ => return,
                }
            }
            let switch = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
            );
            let _ = s.write_all(switch.as_bytes());
            let push = head.starts_with(b"GET /push ");
            if push {
                let mut w = s.try_clone().expect("clone");
                std::thread::spawn(move || {
                    let _ = w.write_all(&bytes(PUSH));
                    let _ = w.shutdown(std::net::Shutdown::Write);
                });
            }
            let server_first = head.starts_with(b"GET /server-first ");
            if server_first {
                let _ = s.write_all(b"server-done");
                let _ = s.shutdown(std::net::Shutdown::Write);
            }
            let mut got = Vec::new();
            let _ = s.read_to_end(&mut got);
            if !server_first && !push {
                let _ = s.write_all(&[&b"got:"[..], &got].concat());
            }
            let _ = tx.send(got);
        }
    });
    (addr, rx)
}

/// Reads the client's plaintext to its end; the end must be a
/// close_notify (rustls reports a TCP end without one as an error).
fn read_to_close_notify(c: &mut WsClient<TlsClient>) -> Vec<u8> {
    c.read_to_end()
        .unwrap_or_else(|e| panic!("no clean close_notify: {e}"))
}

fn send_close_notify(c: &mut WsClient<TlsClient>) {
    c.stream.conn.send_close_notify();
    c.stream.flush().expect("flush close_notify");
}

#[test]
fn close_notify_and_fin_are_passed_on_as_half_closes_both_ways() {
    let (addr, seen) = half_close_upstream();
    let (gw, ca) = gateway(addr, &[]);
    let bytes_each_way = || {
        (
            gw.counter("ringway_upgrade_bytes_total{direction=\"to_upstream\"}"),
            gw.counter("ringway_upgrade_bytes_total{direction=\"to_client\"}"),
        )
    };

    // The client's close_notify reaches the upstream as a FIN; what the
    // upstream sends after it still reaches the client, then close_notify.
    let mut c = wss(&gw, &ca, "/client-first");
    c.send_raw(b"hello");
    send_close_notify(&mut c);
    assert_eq!(seen.recv_timeout(WAIT).expect("upstream saw"), b"hello");
    assert_eq!(read_to_close_notify(&mut c), b"got:hello");
    assert!(eventually(WAIT, || gw.metric("ringway_upgrades_active") == Some(0.0)));
    // Plaintext bytes, counted exactly.
    assert_eq!(bytes_each_way(), (5.0, 9.0));

    // The upstream's FIN reaches the client as close_notify; the client
    // may still send (TLS 1.3 half-close), and that reaches the upstream.
    let mut c = wss(&gw, &ca, "/server-first");
    assert_eq!(read_to_close_notify(&mut c), b"server-done");
    c.send_raw(b"late");
    send_close_notify(&mut c);
    assert_eq!(seen.recv_timeout(WAIT).expect("upstream saw"), b"late");
    let (closed, rest) = c.closed_within(WAIT);
    assert!(closed && rest.is_empty(), "{rest:?}");
    assert!(eventually(WAIT, || gw.metric("ringway_upgrades_active") == Some(0.0)));
    assert_eq!(bytes_each_way(), (5.0 + 4.0, 9.0 + 11.0));

    // A TCP FIN without close_notify (a truncation) is passed on the same
    // way: the upgraded protocol, not the gateway, tells it from a clean end.
    let mut c = wss(&gw, &ca, "/client-first");
    c.send_raw(b"cut");
    c.stream
        .sock
        .shutdown(std::net::Shutdown::Write)
        .expect("FIN");
    assert_eq!(seen.recv_timeout(WAIT).expect("upstream saw"), b"cut");
    assert_eq!(read_to_close_notify(&mut c), b"got:cut");
}

#[test]
fn a_client_that_sends_everything_before_reading_is_not_held_up() {
    // 32 MiB each way, more than the sockets' buffers hold: while the
    // gateway's write to the client waits for the client to read, the
    // client's bytes must still flow to the upstream (as on a plain
    // tunnel), or the client, reading only once its write is done, never
    // reads.
    let (addr, seen) = half_close_upstream();
    // A stall fails in 20 s (the gateway closes it idle), not in 60. Not
    // less: the gateway's write to the client may wait that long for the
    // client to finish writing on a loaded machine (a debug build moving
    // 32 MiB beside other tests), and such a write counts as idle.
    let (gw, ca) = gateway(addr, &[("upgrade_idle_timeout_ms", "20000")]);
    let mut c = wss(&gw, &ca, "/push");
    let sent = bytes(PUSH);
    c.send_raw(&sent);
    send_close_notify(&mut c);
    let got = read_to_close_notify(&mut c);
    assert!(
        got == sent,
        "{} bytes came back, not the {PUSH} sent",
        got.len()
    );
    let up = seen.recv_timeout(WAIT).expect("upstream saw");
    assert!(up == sent, "the upstream got {} bytes", up.len());
}

#[test]
fn the_upstream_closing_ends_the_wss_connection_with_close_notify() {
    let ws = WsServer::start();
    let (gw, ca) = gateway(ws.addr, &[]);
    let mut c = wss(&gw, &ca, "/bye");
    assert_eq!(c.recv(), (0x80 | TEXT, b"bye".to_vec()));
    let (head, got) = c.recv();
    assert_eq!(head, 0x80 | CLOSE);
    assert_eq!(got, [&1000u16.to_be_bytes()[..], b"done"].concat());
    c.send(CLOSE, &1000u16.to_be_bytes());
    // The server ends TCP after the close handshake: a close_notify here.
    assert_eq!(read_to_close_notify(&mut c), b"");
    drop(c);
    assert!(eventually(WAIT, || gw.metric("ringway_upgrades_active") == Some(0.0)));
}

#[test]
fn the_idle_timeout_closes_an_idle_wss_connection_and_traffic_keeps_it() {
    // Margins of hundreds of ms: the machine may be busy with other tests.
    let ws = WsServer::start();
    let (gw, ca) = gateway(ws.addr, &[("upgrade_idle_timeout_ms", "1000")]);
    idles_out_unless_busy(&gw, |path| wss(&gw, &ca, path));
}

#[test]
fn graceful_shutdown_closes_an_open_wss_connection_within_grace_and_exits() {
    let ws = WsServer::start();
    let (mut gw, ca) = gateway(ws.addr, &[("shutdown_grace_ms", "700")]);
    let mut c = wss(&gw, &ca, "/echo");
    echo(&mut c, TEXT, b"before");
    // Served while the 700 ms grace period runs, closed at its end.
    drained_on_sigterm(&mut gw, &mut c, BINARY, &bytes(65_536));
}
