//! TLS configuration on the wire (docs/tls.md): `ringway check` naming
//! each bad `[tls]` key, certificates swapped under load (by a reload and
//! by new file contents) with no failed handshake, and `tls_listen` as a
//! restart-only key. Handshakes, SNI, versions and clients are in
//! tls_termination.rs.

mod common;

#[path = "common/tls.rs"]
mod tls;

use std::time::Duration;

use common::*;
use tls::{
    client_config, connect, exchange, tls_gateway as gateway, tls_section, ClientOpts, Leaf, TestCa,
};

#[test]
fn tls_config_errors_name_their_keys() {
    let ca = TestCa::new();
    let a = ca.leaf(&["a.test"]);
    let b = ca.leaf(&["b.test"]);
    let not_pem = std::env::temp_dir().join(format!("ringway-tls-notpem-{}", std::process::id()));
    std::fs::write(&not_pem, "hello").expect("write");
    let server = "[server]\nlisten = \"127.0.0.1:0\"\ntls_listen = \"127.0.0.1:0\"\n\n";
    let cases: Vec<(String, &str, &str)> = vec![
        (String::from(server), "server.tls_listen", "needs certificates"),
        (
            format!("{server}[tls]\nmin_version = \"1.1\"\n[[tls.certificates]]\ncert = \"{}\"\nkey = \"{}\"\n", a.cert.display(), a.key.display()),
            "tls.min_version",
            "\"1.2\" or \"1.3\"",
        ),
        (
            format!("{server}[tls]\n[[tls.certificates]]\ncert = \"/nonexistent.pem\"\nkey = \"{}\"\n", a.key.display()),
            "tls.certificates[0].cert",
            "cannot read",
        ),
        (
            format!("{server}[tls]\n[[tls.certificates]]\ncert = \"{}\"\nkey = \"{}\"\n", not_pem.display(), a.key.display()),
            "tls.certificates[0].cert",
            "no CERTIFICATE",
        ),
        (
            format!("{server}[tls]\n[[tls.certificates]]\ncert = \"{}\"\nkey = \"{}\"\n", a.cert.display(), b.key.display()),
            "tls.certificates[0].key",
            "does not match",
        ),
        (
            format!("{server}[tls]\n[[tls.certificates]]\ncert = \"{}\"\nkey = \"env:RINGWAY_TEST_UNSET_TLS_KEY\"\n", a.cert.display()),
            "tls.certificates[0].key",
            "not set",
        ),
        (
            format!("{server}[tls]\n[[tls.certificates]]\ncert = \"{}\"\nkey = \"{}\"\ndefault = true\n[[tls.certificates]]\ncert = \"{}\"\nkey = \"{}\"\ndefault = true\n", a.cert.display(), a.key.display(), b.cert.display(), b.key.display()),
            "tls.certificates[1].default",
            "already the default",
        ),
        (
            format!("{server}[tls]\n[[tls.certificates]]\ncert = \"{}\"\nkey = \"{}\"\n[[tls.certificates]]\ncert = \"{}\"\nkey = \"{}\"\nnames = [\"A.test\"]\n", a.cert.display(), a.key.display(), b.cert.display(), b.key.display()),
            "tls.certificates[1].names",
            "also a name of tls.certificates[0]",
        ),
        (
            format!("{server}[tls]\n[[tls.certificates]]\ncert = \"{}\"\nkey = \"{}\"\nnames = [\"*.test\"]\n", a.cert.display(), a.key.display()),
            "tls.certificates[0].names",
            "two labels",
        ),
        (
            format!("[server]\nlisten = \"127.0.0.1:0\"\n[tls]\n[[tls.certificates]]\ncert = \"{}\"\nkey = \"{}\"\n", a.cert.display(), a.key.display()),
            "tls",
            "without server.tls_listen",
        ),
        (
            format!("[server]\nlisten = \"127.0.0.1:18080\"\ntls_listen = \"127.0.0.1:18080\"\n[tls]\n[[tls.certificates]]\ncert = \"{}\"\nkey = \"{}\"\n", a.cert.display(), a.key.display()),
            "server.tls_listen",
            "is also server.listen",
        ),
        (
            format!("{server}[tls]\nclient_ca = \"/nonexistent/ca.pem\"\n[[tls.certificates]]\ncert = \"{}\"\nkey = \"{}\"\n", a.cert.display(), a.key.display()),
            "tls.client_ca",
            "cannot read",
        ),
    ];
    for (toml, key, words) in cases {
        let path = write_config(&toml);
        let out = run_cli(&["check", "--config", path.to_str().expect("path")]);
        let text = format!("{}{}", out.stdout, out.stderr);
        assert_eq!(out.status.code(), Some(2), "{key}: {text}");
        let line = text
            .lines()
            .find(|l| l.contains(&format!(": {key}: ")))
            .unwrap_or_else(|| panic!("no error at {key}: {text}"));
        assert!(line.contains(words), "{key}: {line}");
        // Never a byte of a key in an error.
        assert!(!text.contains("PRIVATE KEY"), "{text}");
    }
}

/// How a test replaces the served certificate.
#[derive(Clone, Copy, Debug)]
enum Swap {
    /// A config naming other files, then SIGHUP.
    Reload,
    /// New contents in the same files (renamed into place, certificate
    /// first, as a renewal tool does), and nothing else.
    Files,
}

/// Swaps the certificate while two clients make full handshakes (and a
/// request each) without pause; none may fail.
fn swap_under_load(how: Swap) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    let up = Upstream::echo("u");
    let ca = TestCa::new();
    let (old, new) = (ca.leaf(&["api.test"]), ca.leaf(&["api.test"]));
    let config = |leaf: &Leaf| {
        let mut cfg = build(
            &[("tls_listen", "\"127.0.0.1:0\"")],
            &[("u", up.addr())],
            "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n\n",
        );
        cfg.push_str(&tls_section("1.2", &[(leaf, "")]));
        cfg
    };
    let gw = Gateway::start(&config(&old));
    let addr = gw.tls_addr();
    let leaf_der = |s: &tls::TlsClient| s.conn.peer_certificates().expect("certs")[0].to_vec();
    let cfg = client_config(&ca, &ClientOpts::new());
    let before = leaf_der(&connect(addr, cfg.clone(), "api.test").expect("before"));

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut o = ClientOpts::new();
    o.versions = vec![&rustls::version::TLS13];
    let fresh = client_config_fresh(&o);
    let ca_der = ca.der();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (stop, ok, failed, fresh, ca_der) = (
                stop.clone(),
                ok.clone(),
                failed.clone(),
                fresh.clone(),
                ca_der.clone(),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    // A new config each time: no resumption, a full handshake.
                    let served = connect(addr, fresh(ca_der.clone()), "api.test")
                        .map(|mut s| exchange(&mut s, &get("/", "api.test")).0);
                    if served == Ok(200) {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    match how {
        Swap::Reload => {
            gw.rewrite_config(&config(&new));
            gw.signal(libc::SIGHUP);
            assert!(gw.wait_log("config reloaded", Duration::from_secs(5)));
        }
        Swap::Files => {
            let put = |from: &std::path::Path, to: &std::path::Path| {
                let tmp = to.with_extension("new");
                std::fs::copy(from, &tmp).expect("copy");
                std::fs::rename(&tmp, to).expect("rename");
            };
            put(&new.cert, &old.cert);
            // The watcher may see the certificate alone first: that set
            // does not load (the key does not match), the old one stays.
            std::thread::sleep(Duration::from_millis(700));
            put(&new.key, &old.key);
            assert!(gw.wait_log("tls certificates reloaded", Duration::from_secs(5)));
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("client thread");
    }
    let after = leaf_der(&connect(addr, cfg, "api.test").expect("after"));
    assert_ne!(before, after, "{how:?} serves the new certificate");
    assert_eq!(failed.load(Ordering::Relaxed), 0, "failed handshakes");
    let n = ok.load(Ordering::Relaxed);
    assert!(n > 10, "{n} handshakes");
}

#[test]
fn a_reload_swaps_certificates_under_load_with_no_failed_handshake() {
    swap_under_load(Swap::Reload);
}

#[test]
fn new_certificate_files_are_served_under_load_with_no_failed_handshake() {
    swap_under_load(Swap::Files);
}

/// A client configuration trusting `ca` only, with no session store shared
/// with any other connection.
fn client_config_fresh(
    o: &ClientOpts,
) -> impl Fn(rustls::pki_types::CertificateDer<'static>) -> std::sync::Arc<rustls::ClientConfig> + Clone
{
    let versions = o.versions.clone();
    move |ca| {
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca).expect("root");
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        std::sync::Arc::new(cfg)
    }
}

#[test]
fn tls_listen_waits_for_a_restart_and_config_shows_tls_without_keys() {
    let up = Upstream::echo("u");
    let ca = TestCa::new();
    let leaf = ca.leaf(&["api.test", "www.api.test"]);
    let section = tls_section("1.3", &[(&leaf, "")]);
    let gw = gateway(&up, "auto", 10_000, &section);
    let addr = gw.tls_addr();
    let cfg = common::admin::admin(gw.admin_addr(), "GET", "/config", &[]).json();
    // As configured (port 0: the OS picked the one `addr` has).
    assert_eq!(cfg["server"]["tls_listen"], "127.0.0.1:0", "{cfg}");
    let tls = &cfg["tls"];
    assert_eq!(tls["min_version"], "1.3", "{cfg}");
    let cert = &tls["certificates"][0];
    assert_eq!(
        cert["names"],
        serde_json::json!(["api.test", "www.api.test"]),
        "{cfg}"
    );
    assert_eq!(cert["default"], true, "{cfg}");
    assert_eq!(cert["key"], leaf.key.display().to_string(), "{cfg}");
    assert!(!cfg.to_string().contains("PRIVATE KEY"));

    // Another tls_listen: the running one stays, and the reload says so.
    let moved = format!("\"{}\"", unused_addr());
    let mut next = build(
        &[("tls_listen", &moved)],
        &[("u", up.addr())],
        "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n\n",
    );
    next.push_str(&section);
    gw.rewrite_config(&next);
    let r = common::admin::admin(gw.admin_addr(), "POST", "/reload", &[]);
    assert_eq!(r.status, 200, "{}", r.summary());
    let v = r.json();
    let keys = common::admin::restart_keys(&v);
    assert_eq!(keys, ["server.tls_listen"], "{v}");
    let s = connect(addr, client_config(&ca, &ClientOpts::new()), "api.test");
    assert!(
        s.is_ok(),
        "the running TLS listener still serves: {:?}",
        s.err()
    );
}
