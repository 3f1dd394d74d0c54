//! TLS termination on the wire (docs/tls.md): certificates generated here
//! (rcgen, a throwaway CA), a real gateway with `listen` and `tls_listen`,
//! and real clients: rustls over a std socket, plus curl and Python's `ssl`
//! where they are installed.

mod common;

#[path = "common/tls.rs"]
mod tls;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use tls::{
    client_config, connect, exchange, peer_names, tls_gateway as gateway, tls_section, ClientOpts,
    Leaf, TestCa, Trust,
};

/// An echo upstream, a CA, and a gateway with one certificate for
/// `api.test` at `min_version`.
fn one_certificate(min_version: &str, header_timeout_ms: u64) -> (Upstream, TestCa, Gateway) {
    let up = Upstream::echo("u");
    let ca = TestCa::new();
    let leaf = ca.leaf(&["api.test"]);
    let section = tls_section(min_version, &[(&leaf, "")]);
    let gw = gateway(&up, "auto", header_timeout_ms, &section);
    (up, ca, gw)
}

fn failures(gw: &Gateway, reason: &str) -> f64 {
    gw.counter(&format!(
        "ringway_tls_handshake_failures_total{{reason=\"{reason}\"}}"
    ))
}

struct Pki {
    ca: TestCa,
    api: Leaf,
    wild: Leaf,
    fallback: Leaf,
}

/// Three certificates: `api.test` (names from its SAN), `*.wild.test`
/// (names listed), and `fallback.test`, marked default.
fn pki() -> (Pki, String) {
    let ca = TestCa::new();
    let api = ca.leaf(&["api.test"]);
    let wild = ca.leaf(&["*.wild.test"]);
    let fallback = ca.leaf(&["fallback.test"]);
    let section = tls_section(
        "1.2",
        &[
            (&api, ""),
            (&wild, "names = [\"*.wild.test\"]\n"),
            (&fallback, "default = true\n"),
        ],
    );
    (
        Pki {
            ca,
            api,
            wild,
            fallback,
        },
        section,
    )
}

fn sni_and_forwarding_on(io: &str) {
    let up = Upstream::echo("u");
    let (p, section) = pki();
    let gw = gateway(&up, io, 10_000, &section);
    let _ = (&p.api, &p.wild, &p.fallback);

    // An exact name, verified against the CA for that name.
    let cfg = client_config(&p.ca, &ClientOpts::new());
    let mut s = connect(gw.tls_addr(), cfg, "api.test").expect("api.test handshake");
    assert_eq!(peer_names(&s), ["api.test"]);
    assert_eq!(s.conn.alpn_protocol(), Some(&b"http/1.1"[..]), "ALPN");
    assert_eq!(
        s.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    let (status, _, _) = exchange(&mut s, &get("/a", "api.test"));
    assert_eq!(status, 200);
    let got = up.last();
    assert_eq!(
        got.header_all("x-forwarded-proto"),
        ["https"],
        "{}",
        got.head_text()
    );
    // Keep-alive and pipelining over TLS: two requests in one record.
    let two = [get("/b", "api.test"), get("/c", "api.test")].concat();
    s.write_all(&two).expect("write");
    let both = tls::read_responses(&mut s, 2);
    assert_eq!((both[0].0, both[1].0), (200, 200));
    assert_eq!(up.last().target, "/c");

    // A one-label wildcard.
    let cfg = client_config(&p.ca, &ClientOpts::new());
    let s = connect(gw.tls_addr(), cfg, "x.wild.test").expect("wildcard handshake");
    assert_eq!(peer_names(&s), ["*.wild.test"]);

    // No SNI: the default certificate.
    let mut o = ClientOpts::new();
    o.sni = false;
    let s = connect(gw.tls_addr(), client_config(&p.ca, &o), "fallback.test")
        .expect("no-SNI handshake");
    assert_eq!(peer_names(&s), ["fallback.test"]);

    // An unmatched name (and two labels under the wildcard): the default
    // too, as docs/tls.md says; the client's own check then fails, not ours.
    for name in ["nowhere.test", "a.b.wild.test"] {
        let mut o = ClientOpts::new();
        o.trust = Trust::Any;
        let s = connect(gw.tls_addr(), client_config(&p.ca, &o), name).expect("handshake");
        assert_eq!(peer_names(&s), ["fallback.test"], "{name}");
    }
    let err = connect(
        gw.tls_addr(),
        client_config(&p.ca, &ClientOpts::new()),
        "nowhere.test",
    )
    .expect_err("a verifying client refuses the default certificate for another name");
    assert!(err.contains("certificate"), "{err}");

    // The plain listener runs beside it and says http.
    let r = gw.client().roundtrip(&get("/plain", "api.test"));
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(up.last().header_all("x-forwarded-proto"), ["http"]);
    // Counted when the server has the client's Finished, which may be a
    // moment after the client is done; the refusing client sent an alert.
    assert!(eventually(Duration::from_secs(5), || {
        gw.counter("ringway_tls_handshakes_total") == 5.0 && failures(&gw, "alert_received") == 1.0
    }));
}

#[test]
fn sni_picks_the_certificate_alpn_is_http11_and_the_upstream_sees_https() {
    sni_and_forwarding_on("io_uring");
}

#[test]
fn sni_and_forwarding_on_epoll() {
    sni_and_forwarding_on("epoll");
}

#[test]
fn a_tls_connection_parks_between_requests_and_wakes_for_the_next() {
    // Idle past PARK_AFTER (100 ms): the connection gives its working set
    // and its TLS buffers back, and takes them again when bytes come.
    let (up, ca, gw) = one_certificate("1.2", 10_000);
    let cfg = client_config(&ca, &ClientOpts::new());
    let mut s = connect(gw.tls_addr(), cfg, "api.test").expect("handshake");
    for i in 0..3 {
        std::thread::sleep(Duration::from_millis(250));
        let path = format!("/idle{i}");
        assert_eq!(exchange(&mut s, &get(&path, "api.test")).0, 200);
        assert_eq!(up.last().target, path);
    }
    // Two pipelined requests after a park: both answered.
    std::thread::sleep(Duration::from_millis(250));
    let two = [get("/p1", "api.test"), get("/p2", "api.test")].concat();
    s.write_all(&two).expect("write");
    let both = tls::read_responses(&mut s, 2);
    assert_eq!((both[0].0, both[1].0), (200, 200));
}

#[test]
fn over_max_connections_the_tls_port_closes_without_a_handshake() {
    let up = Upstream::echo("u");
    let ca = TestCa::new();
    let leaf = ca.leaf(&["api.test"]);
    let mut cfg = build(
        &[("tls_listen", "\"127.0.0.1:0\""), ("max_connections", "1")],
        &[("u", up.addr())],
        "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n\n",
    );
    cfg.push_str(&tls_section("1.2", &[(&leaf, "")]));
    let gw = Gateway::start(&cfg);
    let tls_cfg = client_config(&ca, &ClientOpts::new());
    let mut first = connect(gw.tls_addr(), tls_cfg.clone(), "api.test").expect("first");
    assert_eq!(exchange(&mut first, &get("/", "api.test")).0, 200);
    assert!(connect(gw.tls_addr(), tls_cfg, "api.test").is_err());
    assert!(eventually(Duration::from_secs(5), || {
        gw.counter("ringway_connections_rejected_total") == 1.0
    }));
}

#[test]
fn hsts_from_security_headers_is_sent_on_tls_only() {
    let (_up, ca, gw) = one_certificate("1.2", 10_000);
    let cfg = client_config(&ca, &ClientOpts::new());
    let mut s = connect(gw.tls_addr(), cfg, "api.test").expect("handshake");
    let (status, _, head) = exchange(&mut s, &get("/hsts", "api.test"));
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("strict-transport-security: max-age=31536000\r\n"),
        "{head}"
    );
    // Other routes do not send it, and neither does the plain listener.
    let (_, _, head) = exchange(&mut s, &get("/other", "api.test"));
    assert!(
        !head.to_ascii_lowercase().contains("strict-transport"),
        "{head}"
    );
    let r = gw.client().roundtrip(&get("/hsts", "api.test"));
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(
        r.header("strict-transport-security"),
        None,
        "{}",
        r.summary()
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{}", r.summary());
}

#[test]
fn min_version_13_refuses_tls12_and_counts_it() {
    let (_up, ca, gw) = one_certificate("1.3", 10_000);
    let mut o = ClientOpts::new();
    o.versions = vec![&rustls::version::TLS12];
    let err = connect(gw.tls_addr(), client_config(&ca, &o), "api.test")
        .expect_err("TLS 1.2 must be refused");
    assert!(
        err.contains("ProtocolVersion") || err.contains("version"),
        "{err}"
    );
    let ok = connect(
        gw.tls_addr(),
        client_config(&ca, &ClientOpts::new()),
        "api.test",
    )
    .expect("TLS 1.3 handshake");
    assert_eq!(
        ok.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert!(eventually(Duration::from_secs(5), || failures(
        &gw,
        "protocol_version"
    ) == 1.0));
}

#[test]
fn sessions_resume_on_tls13_and_tls12() {
    let (_up, ca, gw) = one_certificate("1.2", 10_000);
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let mut o = ClientOpts::new();
        o.versions = vec![version];
        // One config: its session store carries the ticket to the next connection.
        let cfg = client_config(&ca, &o);
        let mut first = connect(gw.tls_addr(), cfg.clone(), "api.test").expect("first");
        assert_eq!(
            first.conn.handshake_kind(),
            Some(rustls::HandshakeKind::Full)
        );
        // TLS 1.3 tickets arrive after the handshake: a round trip reads them.
        assert_eq!(exchange(&mut first, &get("/", "api.test")).0, 200);
        let mut second = connect(gw.tls_addr(), cfg, "api.test").expect("second");
        assert_eq!(
            second.conn.handshake_kind(),
            Some(rustls::HandshakeKind::Resumed),
            "{version:?}"
        );
        assert_eq!(exchange(&mut second, &get("/", "api.test")).0, 200);
    }
}

#[test]
fn a_stalled_handshake_is_closed_after_header_timeout() {
    let (_up, _ca, gw) = one_certificate("1.2", 500);
    // Nothing at all, and the first 5 bytes of a ClientHello record.
    for bytes in [&b""[..], &[0x16, 0x03, 0x01, 0x02, 0x00][..]] {
        let mut s = TcpStream::connect(gw.tls_addr()).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s.write_all(bytes).expect("write");
        let start = Instant::now();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "expected a close, got {:?}", &buf[..n]);
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(3),
            "closed after {took:?}"
        );
    }
    assert!(eventually(Duration::from_secs(5), || failures(
        &gw, "timeout"
    ) == 2.0));
}

#[test]
fn plain_http_and_garbage_to_the_tls_port_fail_the_handshake_and_are_counted() {
    let (up, ca, gw) = one_certificate("1.2", 10_000);
    for bytes in [&get("/", "api.test")[..], &[0u8; 300][..]] {
        let mut s = TcpStream::connect(gw.tls_addr()).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s.write_all(bytes).expect("write");
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        // At most a TLS alert record, never an HTTP answer.
        assert!(
            !got.starts_with(b"HTTP/"),
            "{:?}",
            String::from_utf8_lossy(&got)
        );
        assert!(got.is_empty() || got[0] == 0x15, "{got:?}");
    }
    assert!(eventually(Duration::from_secs(5), || failures(
        &gw, "not_tls"
    ) == 2.0));
    assert_eq!(up.requests().len(), 0);
    // The listener still serves real clients afterwards.
    let s = connect(
        gw.tls_addr(),
        client_config(&ca, &ClientOpts::new()),
        "api.test",
    );
    assert!(s.is_ok(), "{:?}", s.err());
}

#[test]
fn a_client_without_http11_in_alpn_is_refused() {
    let (_up, ca, gw) = one_certificate("1.2", 10_000);
    let mut o = ClientOpts::new();
    o.alpn = vec![b"h2".to_vec()];
    assert!(connect(gw.tls_addr(), client_config(&ca, &o), "api.test").is_err());
    // No ALPN at all is fine (HTTP/1.1 is assumed).
    let mut o = ClientOpts::new();
    o.alpn = vec![];
    let mut s = connect(gw.tls_addr(), client_config(&ca, &o), "api.test").expect("no ALPN");
    assert_eq!(exchange(&mut s, &get("/", "api.test")).0, 200);
    assert!(eventually(Duration::from_secs(5), || failures(
        &gw, "no_alpn"
    ) == 1.0));
}

#[test]
fn large_bodies_cross_tls_both_ways_and_the_key_may_come_from_env() {
    let big = pattern(7, 3 << 20);
    let answer = fixed_response("", &big);
    let up = Upstream::start("u", move |r| {
        if r.target == "/down" {
            Reply::Raw(answer.clone())
        } else {
            Reply::Echo
        }
    });
    let ca = TestCa::new();
    let leaf = ca.leaf(&["api.test"]);
    // The key's PEM text in the environment the gateway inherits.
    let var = format!("RINGWAY_TEST_TLS_KEY_{}", std::process::id());
    std::env::set_var(&var, &leaf.key_pem);
    let section = format!(
        "[tls]\n[[tls.certificates]]\ncert = \"{}\"\nkey = \"env:{var}\"\n",
        leaf.cert.display()
    );
    let gw = gateway(&up, "auto", 10_000, &section);
    let cfg = client_config(&ca, &ClientOpts::new());
    let mut s = connect(gw.tls_addr(), cfg, "api.test").expect("handshake");
    let body = pattern(0, 1 << 20);
    let (status, _, _) = exchange(&mut s, &req("POST", "/up", "api.test", &[], &body));
    assert_eq!(status, 200);
    assert_eq!(fnv1a(&up.last().body), fnv1a(&body));
    let (status, got, _) = exchange(&mut s, &get("/down", "api.test"));
    assert_eq!(status, 200);
    assert_eq!(got.len(), big.len());
    assert_eq!(fnv1a(&got), fnv1a(&big));
    // A closing response ends with close_notify: a clean end of stream
    // (rustls reports a TCP close without it as UnexpectedEof).
    let close = req("GET", "/", "api.test", &[("Connection", "close")], b"");
    assert_eq!(exchange(&mut s, &close).0, 200);
    let mut rest = [0u8; 16];
    assert_eq!(s.read(&mut rest).expect("clean close"), 0);
}

#[test]
fn curl_and_python_ssl_get_through() {
    let (up, ca, gw) = one_certificate("1.2", 10_000);
    let ca_file = ca.pem_file();
    let port = gw.tls_addr().port();
    let url = format!("https://api.test:{port}/curl");
    let resolve = format!("api.test:{port}:127.0.0.1");
    // Both clients are required (CI installs them): a missing one fails.
    let out = std::process::Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&ca_file)
        .args([
            "--resolve",
            &resolve,
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &url,
        ])
        .output()
        .expect("curl (CI installs it)");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(up.last().target, "/curl");
    let script = format!(
        "import ssl, socket\n\
         ctx = ssl.create_default_context(cafile={ca:?})\n\
         def once(sess):\n\
         \x20   raw = socket.create_connection(('127.0.0.1', {port}), timeout=10)\n\
         \x20   s = ctx.wrap_socket(raw, server_hostname='api.test', session=sess)\n\
         \x20   s.sendall(b'GET /py HTTP/1.1\\r\\nHost: api.test\\r\\n\\r\\n')\n\
         \x20   assert s.recv(100).startswith(b'HTTP/1.1 200'), 'status'\n\
         \x20   return s\n\
         a = once(None)\n\
         b = once(a.session)\n\
         print(a.version(), b.session_reused)\n",
        ca = ca_file.display().to_string(),
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3 (CI installs it)");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "TLSv1.3 True",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
