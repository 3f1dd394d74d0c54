//! TLS to upstreams on the wire (docs/tls.md, "TLS to upstreams"): a real
//! HTTPS backend (rustls on std threads, `common/tls_backend.rs`) with
//! certificates generated here (rcgen), and a real gateway in front of it
//! with `tls = true`. Verification succeeds with `ca_file`, fails with a
//! 502 `upstream_tls` on an unknown CA or a wrong name, `sni` fixes the
//! name, upstream mTLS, pooling and resumption, and health checks over TLS.

mod common;

#[path = "common/tls.rs"]
mod tls;

#[path = "common/tls_backend.rs"]
mod tls_backend;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use tls::TestCa;
use tls_backend::TlsBackend;

/// A gateway with upstream `u` at `target`, `tls = true` and `extra` keys,
/// behind a catch-all route.
fn gateway(target: SocketAddr, extra: &[(&str, &str)]) -> Gateway {
    Gateway::start(&config(target, extra))
}

fn config(target: SocketAddr, extra: &[(&str, &str)]) -> String {
    let mut keys = vec![("tls", "true")];
    keys.extend_from_slice(extra);
    let mut cfg = server_section(&[]);
    cfg.push_str(&upstream_section("u", &[target], &keys));
    cfg.push_str("[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n");
    cfg
}

fn quoted(p: &std::path::Path) -> String {
    format!("\"{}\"", p.display())
}

fn tls_failures(gw: &Gateway, target: SocketAddr, reason: &str) -> f64 {
    gw.counter(&format!(
        "ringway_upstream_tls_failures_total{{upstream=\"u\",target=\"{target}\",reason=\"{reason}\"}}"
    ))
}

/// Asserts one GET is answered 502 `upstream_tls`, counted under `reason`
/// and logged with the upstream, the target and rustls' reason.
fn assert_tls_failure(gw: &Gateway, target: SocketAddr, reason: &str) {
    let r = gw.client().roundtrip(&get("/x", "api.test"));
    assert_error(&r, 502, "upstream_tls");
    // The first try and its one retry to the same (only) target.
    assert!(tls_failures(gw, target, reason) >= 1.0, "{}", gw.metrics());
    let lines = gw.log_entries("upstream TLS failed");
    let line = lines.last().expect("a log line for the failure");
    assert_eq!(line["upstream"], "u");
    assert_eq!(line["target"], target.to_string());
    assert_eq!(line["reason"], reason);
    assert!(line["detail"].as_str().is_some_and(|d| !d.is_empty()));
}

#[test]
fn ca_file_verifies_the_backend_and_the_bytes_come_through() {
    let ca = TestCa::new();
    let backend = TlsBackend::start(&ca.leaf(&["127.0.0.1"]), None);
    let gw = gateway(backend.addr(), &[("ca_file", &quoted(&ca.pem_file()))]);
    let r = gw.client().roundtrip(&get("/hello", "api.test"));
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.text(), "tls backend saw /hello");
    assert_eq!(r.header("x-tls-backend"), Some("yes"));
    // An IP target without `sni`: no SNI is sent, the IP SAN verified.
    assert_eq!(backend.last_sni(), Some(None));
    assert_eq!(tls_failures(&gw, backend.addr(), "unknown_ca"), 0.0);
}

#[test]
fn an_unknown_ca_is_a_502_upstream_tls() {
    let (ca, other) = (TestCa::new(), TestCa::named("another CA"));
    let backend = TlsBackend::start(&ca.leaf(&["127.0.0.1"]), None);
    let gw = gateway(backend.addr(), &[("ca_file", &quoted(&other.pem_file()))]);
    assert_tls_failure(&gw, backend.addr(), "unknown_ca");
    assert_eq!(backend.count(|s| &s.requests), 0, "nothing was sent");
    // Without ca_file the built-in public roots do not know the test CA.
    let gw = gateway(backend.addr(), &[]);
    assert_tls_failure(&gw, backend.addr(), "unknown_ca");
}

#[test]
fn a_wrong_name_fails_and_sni_names_the_certificate() {
    let ca = TestCa::new();
    let backend = TlsBackend::start(&ca.leaf(&["billing.internal"]), None);
    let ca_file = quoted(&ca.pem_file());
    let gw = gateway(backend.addr(), &[("ca_file", &ca_file)]);
    assert_tls_failure(&gw, backend.addr(), "bad_name");

    let gw = gateway(
        backend.addr(),
        &[("ca_file", &ca_file), ("sni", "\"billing.internal\"")],
    );
    let r = gw.client().roundtrip(&get("/sni", "api.test"));
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.text(), "tls backend saw /sni");
    assert_eq!(backend.last_sni(), Some(Some("billing.internal".into())));
}

#[test]
fn tls_verify_false_accepts_any_certificate_and_warns_at_load() {
    let ca = TestCa::new();
    let backend = TlsBackend::start(&ca.leaf(&["elsewhere.test"]), None);
    let gw = gateway(backend.addr(), &[("tls_verify", "false")]);
    assert!(gw.wait_log("verification is OFF", Duration::from_secs(5)));
    let r = gw.client().roundtrip(&get("/any", "api.test"));
    assert_eq!(r.status, 200, "{}", r.summary());
}

#[test]
fn upstream_mtls_needs_the_client_certificate() {
    let (ca, clients) = (TestCa::new(), TestCa::new());
    let backend = TlsBackend::start(&ca.leaf(&["127.0.0.1"]), Some(&clients));
    let ca_file = quoted(&ca.pem_file());

    // TLS 1.3: the refusal comes as an alert after the client's handshake.
    let gw = gateway(backend.addr(), &[("ca_file", &ca_file)]);
    assert_tls_failure(&gw, backend.addr(), "alert_received");
    drop(gw);

    let client = clients.leaf(&["gateway.test"]);
    let gw = gateway(
        backend.addr(),
        &[
            ("ca_file", &ca_file),
            ("client_cert", &quoted(&client.cert)),
            ("client_key", &quoted(&client.key)),
        ],
    );
    let r = gw.client().roundtrip(&get("/mtls", "api.test"));
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.text(), "tls backend saw /mtls");
    // `/config` shows the references as written, never the key.
    let r = common::admin::admin(gw.admin_addr(), "GET", "/config", &[]);
    assert_eq!(r.status, 200, "{}", r.summary());
    let key_path = client.key.display().to_string();
    assert_eq!(r.json()["upstreams"][0]["tls"]["client_key"], key_path);
    assert_eq!(r.json()["upstreams"][0]["tls"]["tls_verify"], true);
    assert!(!r.text().contains("PRIVATE KEY"), "{}", r.text());
    assert!(!r.text().contains(client.key_pem.lines().nth(1).unwrap()));
}

#[test]
fn tls_connections_are_pooled_and_reconnects_resume() {
    let ca = TestCa::new();
    let backend = TlsBackend::start(&ca.leaf(&["127.0.0.1"]), None);
    let ca_file = quoted(&ca.pem_file());
    let gw = Gateway::start(
        &config(backend.addr(), &[("ca_file", &ca_file)]).replace("workers = 2", "workers = 1"),
    );
    let mut c = gw.client();
    for i in 0..5 {
        let r = c.roundtrip(&get(&format!("/p{i}"), "api.test"));
        assert_eq!(r.status, 200, "{}", r.summary());
        assert_eq!(r.text(), format!("tls backend saw /p{i}"));
    }
    assert_eq!(backend.count(|s| &s.accepted), 1, "one pooled connection");
    assert_eq!(backend.count(|s| &s.handshakes), 1);
    assert_eq!(backend.count(|s| &s.requests), 5);

    // No pooling: every request opens a connection, and all but the first
    // resume the session the first one got (the client session cache).
    let backend = TlsBackend::start(&ca.leaf(&["127.0.0.1"]), None);
    let gw = gateway(
        backend.addr(),
        &[("ca_file", &ca_file), ("max_idle_per_shard", "0")],
    );
    for i in 0..4 {
        let r = gw.client().roundtrip(&get(&format!("/r{i}"), "api.test"));
        assert_eq!(r.status, 200, "{}", r.summary());
    }
    assert_eq!(backend.count(|s| &s.handshakes), 4);
    assert!(
        backend.count(|s| &s.resumed) >= 3,
        "resumed {} of 4",
        backend.count(|s| &s.resumed)
    );
}

#[test]
fn a_handshake_that_never_ends_is_bounded_by_connect_timeout() {
    // Accepts TCP (the kernel does), never answers the ClientHello.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let target = silent.local_addr().expect("addr");
    let gw = gateway(target, &[("connect_timeout_ms", "300")]);
    let t0 = std::time::Instant::now();
    let r = gw.client().roundtrip(&get("/slow", "api.test"));
    assert_error(&r, 504, "upstream_connect_timeout");
    // The try and its one connect retry, each cut at 300 ms.
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    drop(silent);
}

#[test]
fn a_pooled_tls_connection_the_upstream_closed_is_not_an_error() {
    let ca = TestCa::new();
    let backend = TlsBackend::start(&ca.leaf(&["127.0.0.1"]), None);
    backend
        .seen
        .close_after
        .store(1, std::sync::atomic::Ordering::SeqCst);
    let gw = Gateway::start(
        &config(backend.addr(), &[("ca_file", &quoted(&ca.pem_file()))])
            .replace("workers = 2", "workers = 1"),
    );
    let mut c = gw.client();
    for i in 0..3 {
        // Let the close reach the gateway's pooled connection first.
        std::thread::sleep(Duration::from_millis(50));
        let r = c.roundtrip(&get(&format!("/s{i}"), "api.test"));
        assert_eq!(r.status, 200, "{}", r.summary());
        assert_eq!(r.text(), format!("tls backend saw /s{i}"));
    }
    assert_eq!(backend.count(|s| &s.accepted), 3, "a new connection each");
    assert_eq!(tls_failures(&gw, backend.addr(), "closed"), 0.0);
}

fn healthy(gw: &Gateway, target: SocketAddr) -> Option<f64> {
    gw.metric(&format!(
        "ringway_upstream_healthy{{upstream=\"u\",target=\"{target}\"}}"
    ))
}

const HEALTH: &str = "{ path = \"/healthz\", interval_ms = 200, timeout_ms = 200, healthy_threshold = 1, unhealthy_threshold = 1 }";

#[test]
fn health_checks_speak_tls() {
    let ca = TestCa::new();
    let backend = TlsBackend::start(&ca.leaf(&["127.0.0.1"]), None);
    let gw = gateway(
        backend.addr(),
        &[("ca_file", &quoted(&ca.pem_file())), ("health", HEALTH)],
    );
    let wait = Duration::from_secs(10);
    assert!(eventually(wait, || backend.count(|s| &s.checks) >= 2));
    assert!(eventually(wait, || healthy(&gw, backend.addr()) == Some(1.0)));
    backend
        .seen
        .unhealthy
        .store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(eventually(wait, || healthy(&gw, backend.addr()) == Some(0.0)));
    backend
        .seen
        .unhealthy
        .store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(eventually(wait, || healthy(&gw, backend.addr()) == Some(1.0)));

    // A certificate that does not verify fails the check: the target is down.
    let other = TestCa::named("another CA");
    let gw = gateway(
        backend.addr(),
        &[("ca_file", &quoted(&other.pem_file())), ("health", HEALTH)],
    );
    let last = || {
        let r = common::admin::admin(gw.admin_addr(), "GET", "/upstreams", &[]);
        r.json()["upstreams"][0]["targets"][0]["health"]["last"].clone()
    };
    assert!(
        eventually(wait, || last() == "TLS handshake failed"),
        "{}",
        last()
    );
    assert_eq!(healthy(&gw, backend.addr()), Some(0.0));
}

/// An upgrade to a TLS upstream tunnels over the upstream's TLS session:
/// a real wss:// server (Python `websockets`) echoes through the gateway,
/// small and large messages both ways, and closes cleanly.
#[test]
fn an_upgrade_to_a_tls_upstream_tunnels_over_its_session() {
    let ca = TestCa::new();
    let leaf = ca.leaf(&["127.0.0.1"]);
    let ws = common::ws::WsServer::start_tls(&leaf.cert, &leaf.key);
    let mut cfg = config(ws.addr, &[("ca_file", &quoted(&ca.pem_file()))]);
    cfg.push_str("upgrade = [\"websocket\"]\n");
    let gw = Gateway::start(&cfg);
    let mut c = common::ws::WsClient::upgraded(gw.addr(), "/echo", &[]);
    common::ws::echo_every_kind(&mut c);
    common::ws::close(&mut c, 1000);
    drop(c);
    let wait = Duration::from_secs(5);
    assert!(eventually(wait, || gw.metric("ringway_upgrades_active") == Some(0.0)));
    // Each direction's plaintext was counted, as for a plain tunnel.
    assert!(eventually(wait, || {
        gw.counter("ringway_upgrade_bytes_total{direction=\"to_upstream\"}") > 1_000_000.0
            && gw.counter("ringway_upgrade_bytes_total{direction=\"to_client\"}") > 1_000_000.0
    }));
}
