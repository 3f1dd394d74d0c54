//! Client certificates on the wire (docs/tls.md, "Client certificates"):
//! a server CA and two client CAs made here with rcgen, a real gateway
//! with `client_ca`/`client_auth`, and real clients (rustls over a std
//! socket, curl `--cert`, Python `ssl`). What the upstream received is
//! asserted, not what the gateway says it sent.

mod common;

#[path = "common/tls.rs"]
mod tls;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use tls::{client_config, connect, exchange, tls_section_with, ClientOpts, Leaf, TestCa};

/// The identity headers the gateway sets, and Envoy's, which it drops.
const IDENTITY: [&str; 4] = [
    "x-client-cert-subject",
    "x-client-cert-san",
    "x-client-cert-verified",
    "x-forwarded-client-cert",
];

/// Forged copies a client sends of every identity header.
const FORGED: [(&str, &str); 4] = [
    ("X-Client-Cert-Subject", "CN=admin,O=Acme"),
    ("x-client-cert-san", "admin.internal.test"),
    ("X-Client-Cert-Verified", "SUCCESS"),
    (
        "X-Forwarded-Client-Cert",
        "By=spiffe://evil;Subject=\"CN=admin\"",
    ),
];

const SVC_SUBJECT: &str = "CN=svc-a,O=Acme";
const SVC_SAN: &str = "svc-a.internal.test,spiffe://acme/svc-a,svc-a@acme.test";

struct Pki {
    server_ca: TestCa,
    api: Leaf,
    wild: Leaf,
    /// Signed by the `client_ca`: allowed by `peers`.
    svc: Leaf,
    /// Signed by the `client_ca`: allowed by `ops` only.
    ops: Leaf,
    /// The same names as `svc`, signed by another CA.
    stranger: Leaf,
    /// The `client_ca` file.
    client_ca: PathBuf,
    /// The other CA's PEM file.
    other_ca: PathBuf,
}

fn pki() -> Pki {
    let server_ca = TestCa::new();
    let clients = TestCa::new();
    let other = TestCa::new();
    let svc_sans = [
        "dns:svc-a.internal.test",
        "uri:spiffe://acme/svc-a",
        "email:svc-a@acme.test",
    ];
    Pki {
        api: server_ca.leaf(&["api.test"]),
        wild: server_ca.leaf(&["*.wild.test"]),
        svc: clients.client("Acme", "svc-a", &svc_sans),
        ops: clients.client("Acme", "ops", &["dns:ops.admin.test"]),
        stranger: other.client("Acme", "svc-a", &svc_sans),
        client_ca: clients.pem_file(),
        other_ca: other.pem_file(),
        server_ca,
    }
}

/// Routes: `/svc` behind `peers` (SANs under `*.internal.test`), `/ops`
/// behind `ops` (one subject), everything else open.
const ROUTES: &str =
    "[[routes]]\nname = \"svc\"\npath_prefix = \"/svc\"\nupstream = \"u\"\nauth = [\"peers\"]\n\n\
[[routes]]\nname = \"ops\"\npath_prefix = \"/ops\"\nupstream = \"u\"\nauth = [\"ops\"]\n\n\
[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n\n\
[auth.peers]\nkind = \"mtls\"\nallow_sans = [\"*.internal.test\"]\n\n\
[auth.ops]\nkind = \"mtls\"\nallow_subjects = [\"CN=ops,O=Acme\"]\n\n";

/// Both listeners in front of `up`, client certificates from `ca` with
/// `client_auth = mode`.
fn config(up: &Upstream, p: &Pki, ca: &Path, mode: &str) -> String {
    let mut cfg = build(
        &[("tls_listen", "\"127.0.0.1:0\"")],
        &[("u", up.addr())],
        ROUTES,
    );
    let keys = format!("client_ca = \"{}\"\nclient_auth = \"{mode}\"", ca.display());
    let certs = [(&p.api, ""), (&p.wild, "names = [\"*.wild.test\"]\n")];
    cfg.push_str(&tls_section_with(&keys, &certs));
    cfg
}

fn start(mode: &str) -> (Upstream, Pki, Gateway) {
    let up = Upstream::echo("u");
    let p = pki();
    let gw = Gateway::start(&config(&up, &p, &p.client_ca, mode));
    (up, p, gw)
}

fn opts(cert: Option<&Leaf>) -> ClientOpts {
    cert.map_or_else(ClientOpts::new, ClientOpts::with_cert)
}

/// One request over a new TLS connection for `sni`: status, body, head.
fn fetch(
    gw: &Gateway,
    p: &Pki,
    cert: Option<&Leaf>,
    sni: &str,
    req: &[u8],
) -> (u16, Vec<u8>, String) {
    let cfg = client_config(&p.server_ca, &opts(cert));
    let mut s = connect(gw.tls_addr(), cfg, sni).expect("handshake");
    exchange(&mut s, req)
}

/// The error code of a gateway JSON error body.
fn code(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).expect("json error body");
    v["error"]["code"].as_str().unwrap_or_default().to_string()
}

/// A handshake the gateway refuses: the client's error (TLS 1.2 fails in
/// the handshake; TLS 1.3 finishes on the client's side first, and the
/// refusal is the alert that answers its first record). Panics if served.
fn refused(gw: &Gateway, p: &Pki, cert: Option<&Leaf>) -> String {
    refused_with(gw, client_config(&p.server_ca, &opts(cert)))
}

/// `refused` for a client configuration of the caller's (one that may
/// hold a session to resume).
fn refused_with(gw: &Gateway, cfg: std::sync::Arc<rustls::ClientConfig>) -> String {
    match connect(gw.tls_addr(), cfg, "api.test") {
        Err(e) => e,
        Ok(mut s) => {
            let _ = s.write_all(&get("/", "api.test"));
            let _ = s.flush();
            let mut buf = [0u8; 256];
            match s.read(&mut buf) {
                Ok(0) => "closed without an alert".into(),
                Ok(n) => panic!("served: {:?}", String::from_utf8_lossy(&buf[..n])),
                Err(e) => e.to_string(),
            }
        }
    }
}

fn failures(gw: &Gateway, reason: &str) -> f64 {
    gw.counter(&format!(
        "ringway_tls_handshake_failures_total{{reason=\"{reason}\"}}"
    ))
}

/// Waits until the failure counter for `reason` reaches `n` (the shard
/// counts after the client has seen the alert).
fn counted(gw: &Gateway, reason: &str, n: f64) {
    assert!(
        eventually(Duration::from_secs(5), || failures(gw, reason) >= n),
        "{reason}: {}",
        failures(gw, reason)
    );
}

/// `curl` over TLS for `api.test` with extra arguments: (status, stderr).
fn curl(gw: &Gateway, p: &Pki, args: &[&str], path: &str) -> (String, String) {
    let port = gw.tls_addr().port();
    let out = Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(p.server_ca.pem_file())
        .args(["--resolve", &format!("api.test:{port}:127.0.0.1")])
        .args(["-o", "/dev/null", "-w", "%{http_code}"])
        .args(args)
        .arg(format!("https://api.test:{port}{path}"))
        .output()
        .expect("curl (CI installs it)");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn cert_args(leaf: &Leaf) -> [String; 4] {
    [
        "--cert".into(),
        leaf.cert.display().to_string(),
        "--key".into(),
        leaf.key.display().to_string(),
    ]
}

/// Asserts the upstream's last request carried exactly the gateway's
/// identity headers: `want` (name, value) and none of the others.
fn upstream_saw(up: &Upstream, want: &[(&str, &str)]) {
    let got = up.last();
    for name in IDENTITY {
        let expect: Vec<&str> = want
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| *v)
            .collect();
        assert_eq!(got.header_all(name), expect, "{name}\n{}", got.head_text());
    }
}

#[test]
fn required_refuses_a_client_without_a_certificate_or_from_another_ca() {
    let (_up, p, gw) = start("required");
    let e = refused(&gw, &p, None);
    assert!(e.contains("alert"), "{e}");
    counted(&gw, "client_certificate_missing", 1.0);
    let e = refused(&gw, &p, Some(&p.stranger));
    assert!(e.contains("alert"), "{e}");
    counted(&gw, "client_certificate_invalid", 1.0);
    // A real client sees the refusal too.
    let (status, err) = curl(&gw, &p, &[], "/");
    assert_eq!(status, "000", "{err}");
    counted(&gw, "client_certificate_missing", 2.0);
}

#[test]
fn a_verified_certificate_is_forwarded_and_forged_copies_never_are() {
    let (up, p, gw) = start("required");
    let cfg = client_config(&p.server_ca, &ClientOpts::with_cert(&p.svc));
    let mut s = connect(gw.tls_addr(), cfg, "api.test").expect("handshake");
    let ours = [
        ("x-client-cert-verified", "SUCCESS"),
        ("x-client-cert-subject", SVC_SUBJECT),
        ("x-client-cert-san", SVC_SAN),
    ];
    // Twice on one connection: parsed at the handshake, sent on each request.
    for path in ["/one", "/two"] {
        let (status, _, _) = exchange(&mut s, &req("GET", path, "api.test", &FORGED, b""));
        assert_eq!(status, 200);
        upstream_saw(&up, &ours);
    }
    let mut args: Vec<String> = cert_args(&p.svc).into();
    for (k, v) in FORGED {
        args.extend(["-H".into(), format!("{k}: {v}")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (status, err) = curl(&gw, &p, &args, "/curl");
    assert_eq!(status, "200", "{err}");
    assert_eq!(up.last().target, "/curl");
    upstream_saw(&up, &ours);
}

#[test]
fn optional_serves_a_client_without_a_certificate_with_no_identity() {
    let (up, p, gw) = start("optional");
    let port = gw.tls_addr().port();
    let forged: String = FORGED
        .iter()
        .map(|(k, v)| format!("{k}: {}\\r\\n", v.replace('"', "\\\"")))
        .collect();
    let script = |cert: &str| {
        format!(
            "import ssl, socket\n\
             ctx = ssl.create_default_context(cafile={ca:?})\n\
             {cert}\n\
             raw = socket.create_connection(('127.0.0.1', {port}), timeout=10)\n\
             s = ctx.wrap_socket(raw, server_hostname='api.test')\n\
             s.sendall(b\"GET /py HTTP/1.1\\r\\nHost: api.test\\r\\n{forged}\\r\\n\")\n\
             print(s.recv(100).split(b'\\r\\n')[0].decode())\n",
            ca = p.server_ca.pem_file().display().to_string(),
        )
    };
    let python = |code: String| {
        let out = Command::new("python3")
            .args(["-c", &code])
            .output()
            .expect("python3 (CI installs it)");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (String::from_utf8_lossy(&out.stdout).trim().to_string(), err)
    };
    let (line, err) = python(script(""));
    assert_eq!(line, "HTTP/1.1 200 OK", "{err}");
    upstream_saw(&up, &[("x-client-cert-verified", "NONE")]);
    let load = format!(
        "ctx.load_cert_chain({:?}, {:?})",
        p.svc.cert.display().to_string(),
        p.svc.key.display().to_string()
    );
    let (line, err) = python(script(&load));
    assert_eq!(line, "HTTP/1.1 200 OK", "{err}");
    upstream_saw(
        &up,
        &[
            ("x-client-cert-verified", "SUCCESS"),
            ("x-client-cert-subject", SVC_SUBJECT),
            ("x-client-cert-san", SVC_SAN),
        ],
    );
    // Optional is not "anything goes": a presented certificate must verify.
    let e = refused(&gw, &p, Some(&p.stranger));
    assert!(e.contains("alert"), "{e}");
    counted(&gw, "client_certificate_invalid", 1.0);
}

#[test]
fn the_plain_listener_drops_forged_identity_headers() {
    // With mTLS configured, and on a gateway with no TLS at all.
    let (up, _p, gw) = start("optional");
    let plain_up = Upstream::echo("u");
    let plain = Gateway::start(&catch_all_on("auto", plain_up.addr()));
    for (gw, up) in [(&gw, &up), (&plain, &plain_up)] {
        let r = gw
            .client()
            .roundtrip(&req("GET", "/plain", "api.test", &FORGED, b""));
        assert_eq!(r.status, 200, "{}", r.summary());
        upstream_saw(up, &[]);
    }
}

#[test]
fn an_mtls_policy_answers_401_without_a_certificate_403_for_another_and_200() {
    let up = Upstream::echo("u");
    let p = pki();
    let log = p.client_ca.with_extension("access.log");
    let mut cfg = config(&up, &p, &p.client_ca, "optional");
    cfg.push_str(&format!(
        "[access_log]\noutput = \"file:{}\"\n",
        log.display()
    ));
    let gw = Gateway::start(&cfg);
    let (status, body, head) = fetch(&gw, &p, None, "api.test", &get("/svc", "api.test"));
    assert_eq!((status, code(&body).as_str()), (401, "missing_credentials"));
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: clientcertificate realm=\"ringway\"\r\n"),
        "{head}"
    );
    let r = gw.client().roundtrip(&get("/svc", "api.test"));
    assert_error(&r, 401, "missing_credentials");

    let svc = Some(&p.svc);
    let (status, _, _) = fetch(&gw, &p, svc, "api.test", &get("/svc/x", "api.test"));
    assert_eq!(status, 200, "a SAN under *.internal.test");
    // Proven but not allowed: 403, and no challenge (no other credential helps).
    let not_allowed = |cert: Option<&Leaf>, path: &str| {
        let (status, body, head) = fetch(&gw, &p, cert, "api.test", &get(path, "api.test"));
        assert_eq!(
            (status, code(&body).as_str()),
            (403, "client_certificate_not_allowed")
        );
        assert!(
            !head.to_ascii_lowercase().contains("www-authenticate"),
            "{head}"
        );
    };
    not_allowed(svc, "/ops");
    let ops = Some(&p.ops);
    let (status, _, _) = fetch(&gw, &p, ops, "api.test", &get("/ops", "api.test"));
    assert_eq!(status, 200, "the allowed subject");
    not_allowed(ops, "/svc");
    let n = gw.counter("ringway_errors_total{code=\"client_certificate_not_allowed\"}");
    assert_eq!(n, 2.0);
    // The access log names who called: the certificate's subject.
    let logged = |route: &str| {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|l| l["route"] == route && l["status"] == 200)
    };
    // Lines are written by whichever shard served each request, so wait for
    // both.
    let found = eventually(Duration::from_secs(5), || {
        logged("ops").is_some() && logged("svc").is_some()
    });
    assert!(found, "no access log line for ops or svc");
    assert_eq!(logged("ops").expect("line")["auth"], "CN=ops,O=Acme");
    assert_eq!(logged("svc").expect("line")["auth"], SVC_SUBJECT);
}

#[test]
fn host_must_be_the_sni_when_client_certificates_are_on() {
    let (_up, p, gw) = start("required");
    let port = gw.tls_addr().port();
    let svc = Some(&p.svc);
    let cfg = client_config(&p.server_ca, &ClientOpts::with_cert(&p.svc));
    let mut s = connect(gw.tls_addr(), cfg, "api.test").expect("handshake");
    let (status, _, _) = exchange(&mut s, &get("/", &format!("API.test:{port}")));
    assert_eq!(status, 200, "same name: port and case aside");
    let (status, body, head) = exchange(&mut s, &get("/", "other.test"));
    assert_eq!((status, code(&body).as_str()), (421, "misdirected_request"));
    assert!(
        head.starts_with("HTTP/1.1 421 Misdirected Request\r\n"),
        "{head}"
    );
    assert!(head.contains("connection: close"), "{head}");
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty(), "closed after the 421");

    // A wildcard certificate serves both names; the SNI sent decides.
    let (status, _, _) = fetch(&gw, &p, svc, "a.wild.test", &get("/", "a.wild.test"));
    assert_eq!(status, 200);
    let (status, _, _) = fetch(&gw, &p, svc, "a.wild.test", &get("/", "b.wild.test"));
    assert_eq!(
        status, 421,
        "b.wild.test over a connection made for a.wild.test"
    );

    // No SNI (addressed by IP): an IP Host passes, a name does not.
    let mut o = ClientOpts::with_cert(&p.svc);
    o.sni = false;
    let cfg = client_config(&p.server_ca, &o);
    let mut s = connect(gw.tls_addr(), cfg.clone(), "api.test").expect("no-SNI handshake");
    let (status, _, _) = exchange(&mut s, &get("/", &format!("127.0.0.1:{port}")));
    assert_eq!(status, 200);
    let mut s = connect(gw.tls_addr(), cfg, "api.test").expect("no-SNI handshake");
    let (status, _, _) = exchange(&mut s, &get("/", "api.test"));
    assert_eq!(status, 421, "a name the client withheld from SNI");

    let mut args: Vec<String> = cert_args(&p.svc).into();
    args.extend(["-H".into(), "Host: other.test".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (status, err) = curl(&gw, &p, &args, "/");
    assert_eq!(status, "421", "{err}");
    assert_eq!(
        gw.counter("ringway_errors_total{code=\"misdirected_request\"}"),
        4.0
    );
}

#[test]
fn an_https_only_gateway_starts_serves_and_checks() {
    let up = Upstream::echo("u");
    let ca = TestCa::new();
    let api = ca.leaf(&["api.test"]);
    let cfg = format!(
        "[server]\ntls_listen = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nworkers = 2\n\n{}\
         [[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n\n{}",
        upstream_section("u", &[up.addr()], &[]),
        tls_section_with("", &[(&api, "")]),
    );
    let mut gw = Gateway::start(&cfg);
    assert_eq!(
        gw.plain_addr(),
        None,
        "no plain listener, no addr in the line"
    );
    let s = connect(
        gw.tls_addr(),
        client_config(&ca, &ClientOpts::new()),
        "api.test",
    );
    let (status, _, _) = exchange(&mut s.expect("handshake"), &get("/tls-only", "api.test"));
    assert_eq!(status, 200);
    assert_eq!(up.last().target, "/tls-only");
    let mut admin = RawClient::connect(gw.admin_addr());
    assert_eq!(admin.roundtrip(&get("/readyz", "admin")).status, 200);
    let shown = common::admin::admin(gw.admin_addr(), "GET", "/config", &[]).json();
    assert_eq!(
        shown["server"]["listen"],
        serde_json::Value::Null,
        "{shown}"
    );
    assert_eq!(
        shown["tls"]["client_auth"],
        serde_json::Value::Null,
        "{shown}"
    );
    // A graceful stop with only the TLS accept loop to end.
    gw.signal(libc::SIGTERM);
    let status = gw.wait_exit(Duration::from_secs(10)).expect("exits");
    assert!(status.success(), "{status:?}");

    let path = write_config(&cfg);
    let out = run_cli(&["check", "--config", path.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(0), "{}{}", out.stdout, out.stderr);
    let neither = write_config("[server]\nworkers = 1\n");
    let out = run_cli(&["check", "--config", neither.to_str().expect("path")]);
    let text = format!("{}{}", out.stdout, out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains(": server.listen: ") && l.contains("server.tls_listen")),
        "{text}"
    );
}

#[test]
fn client_ca_follows_its_file_and_a_config_reload() {
    let up = Upstream::echo("u");
    let p = pki();
    // A copy the test may overwrite.
    let ca_file = p.client_ca.with_extension("live.pem");
    std::fs::copy(&p.client_ca, &ca_file).expect("copy CA");
    let gw = Gateway::start(&config(&up, &p, &ca_file, "required"));
    let shown = common::admin::admin(gw.admin_addr(), "GET", "/config", &[]).json();
    assert_eq!(shown["tls"]["client_auth"], "required", "{shown}");
    assert_eq!(
        shown["tls"]["client_ca"],
        ca_file.display().to_string(),
        "{shown}"
    );
    let get_ok = |cert: &Leaf| fetch(&gw, &p, Some(cert), "api.test", &get("/", "api.test")).0;
    assert_eq!(get_ok(&p.svc), 200);
    refused(&gw, &p, Some(&p.stranger));

    // The watcher takes its first stamps on its first poll (every 500 ms):
    // a change before that would be its starting point, not a change.
    std::thread::sleep(Duration::from_millis(700));
    // The file now holds the other CA, renamed into place as a renewal does.
    let tmp = ca_file.with_extension("new");
    std::fs::copy(&p.other_ca, &tmp).expect("copy");
    std::fs::rename(&tmp, &ca_file).expect("rename");
    assert!(gw.wait_log("tls certificates reloaded", Duration::from_secs(5)));
    assert_eq!(get_ok(&p.stranger), 200, "the new CA's client");
    refused(&gw, &p, Some(&p.svc));

    // A reload back to the first CA, now optional.
    gw.rewrite_config(&config(&up, &p, &p.client_ca, "optional"));
    gw.signal(libc::SIGHUP);
    assert!(gw.wait_log("config reloaded", Duration::from_secs(5)));
    assert_eq!(get_ok(&p.svc), 200);
    let (status, _, _) = fetch(&gw, &p, None, "api.test", &get("/", "api.test"));
    assert_eq!(status, 200, "optional: no certificate is served");
    refused(&gw, &p, Some(&p.stranger));
}

#[test]
fn a_session_is_not_resumed_under_other_client_certificate_rules() {
    let up = Upstream::echo("u");
    let p = pki();
    let gw = Gateway::start(&config(&up, &p, &p.client_ca, "optional"));
    // One client configuration: its session store offers the ticket.
    let cfg = client_config(&p.server_ca, &ClientOpts::with_cert(&p.svc));
    let visit = |cfg: &std::sync::Arc<rustls::ClientConfig>| {
        let mut s = connect(gw.tls_addr(), cfg.clone(), "api.test").expect("handshake");
        let (status, _, _) = exchange(&mut s, &get("/", "api.test"));
        assert_eq!(status, 200);
        s.conn.handshake_kind()
    };
    assert_eq!(visit(&cfg), Some(rustls::HandshakeKind::Full));
    assert_eq!(
        visit(&cfg),
        Some(rustls::HandshakeKind::Resumed),
        "same rules: resumed"
    );
    upstream_saw(
        &up,
        &[
            ("x-client-cert-verified", "SUCCESS"),
            ("x-client-cert-subject", SVC_SUBJECT),
            ("x-client-cert-san", SVC_SAN),
        ],
    );
    // The CA that signed svc is replaced: its ticket must not bring the
    // old identity back (rustls would not verify a resumed certificate).
    gw.rewrite_config(&config(&up, &p, &p.other_ca, "optional"));
    gw.signal(libc::SIGHUP);
    assert!(gw.wait_log("config reloaded", Duration::from_secs(5)));
    let e = refused_with(&gw, cfg);
    assert!(e.contains("alert"), "{e}");
    counted(&gw, "client_certificate_invalid", 1.0);
}
