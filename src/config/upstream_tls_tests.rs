//! An upstream's TLS keys: defaults, the name each target verifies, what a
//! reload counts as the same upstream, and each key's errors on its line.

use super::route_tests::only;
use super::upstream_tests::{ok, up, with};
use rustls::pki_types::ServerName;

/// A PEM file in the temp dir holding `text`.
fn file(tag: &str, text: &str) -> String {
    let p = std::env::temp_dir().join(format!("ringway-uptls-{}-{tag}", std::process::id()));
    std::fs::write(&p, text).expect("write pem");
    p.display().to_string()
}

/// A self-signed certificate for `name` and its key, as PEM files.
fn pair(tag: &str, name: &str) -> (String, String) {
    let c = rcgen::generate_simple_self_signed(vec![name.to_string()]).expect("cert");
    (
        file(&format!("{tag}.crt"), &c.cert.pem()),
        file(&format!("{tag}.key"), &c.key_pair.serialize_pem()),
    )
}

fn ip(a: &str) -> ServerName<'static> {
    ServerName::IpAddress(a.parse::<std::net::IpAddr>().unwrap().into())
}

#[test]
fn plain_by_default_and_verifying_when_on() {
    assert!(ok(&with("")).tls.is_none());
    let t = ok(&with("tls = true")).tls.expect("tls");
    assert!(t.settings.verify, "verification is on unless written off");
    assert_eq!(t.settings.ca_file, None);
    assert_eq!(t.sni, None);
    assert_eq!(
        t.config.alpn_protocols,
        vec![b"http/1.1".to_vec()],
        "ALPN http/1.1"
    );
}

#[test]
fn each_target_verifies_its_own_name_unless_sni_says() {
    let t = ok(&with("tls = true")).tls.expect("tls");
    let a = "127.0.0.1:3001".parse().unwrap();
    assert_eq!(t.name_for(a), ip("127.0.0.1"), "an IP target: its IP");
    let t = ok(&up("targets = [\"localhost:3001\"]\ntls = true"))
        .tls
        .expect("tls");
    let resolved = ok(&up("targets = [\"localhost:3001\"]")).targets[0];
    assert_eq!(
        t.name_for(resolved),
        ServerName::try_from("localhost").unwrap(),
        "a named target: its name"
    );
    let t = ok(&with("tls = true\nsni = \"billing.internal\""))
        .tls
        .expect("tls");
    assert_eq!(
        t.name_for(a),
        ServerName::try_from("billing.internal").unwrap()
    );
    let dns = up("discovery = \"dns\"\ndns_name = \"api.internal:443\"\ntls = true");
    let t = ok(&dns).tls.expect("tls");
    assert_eq!(t.name_for(a), ServerName::try_from("api.internal").unwrap());
}

#[test]
fn a_changed_file_or_key_is_another_upstream() {
    let (cert, _) = pair("ca-a", "ca.test");
    let src = with(&format!("tls = true\nca_file = \"{cert}\""));
    let (a, b) = (ok(&src), ok(&src));
    assert_eq!(a, b, "same keys, same files: the same upstream");
    assert_ne!(a, ok(&with("tls = true")));
    assert_ne!(a, ok(&with("")));
    let (other, _) = pair("ca-b", "ca.test");
    std::fs::copy(&other, &cert).expect("replace the CA file");
    assert_ne!(a, ok(&src), "same path, new CA: a new upstream");
}

#[test]
fn errors_name_the_key() {
    let m = only(&with("ca_file = \"x.pem\""), "upstreams[0].ca_file", 7);
    assert!(m.contains("tls = true"), "{m}");
    let m = only(
        &with("tls = true\nca_file = \"/nonexistent/ca.pem\""),
        "upstreams[0].ca_file",
        8,
    );
    assert!(m.contains("/nonexistent/ca.pem"), "{m}");
    let (cert, key) = pair("client", "gw.test");
    let m = only(
        &with(&format!("tls = true\nclient_key = \"{key}\"")),
        "upstreams[0].client_cert",
        4,
    );
    assert!(m.contains("certificate"), "{m}");
    let m = only(
        &with(&format!("tls = true\nclient_cert = \"{cert}\"")),
        "upstreams[0].client_key",
        4,
    );
    assert!(m.contains("key"), "{m}");
    only(
        &with("tls = true\nsni = \"not a name\""),
        "upstreams[0].sni",
        8,
    );
    let m = only(
        &with(&format!(
            "tls = true\ntls_verify = false\nca_file = \"{cert}\""
        )),
        "upstreams[0].ca_file",
        9,
    );
    assert!(m.contains("tls_verify"), "{m}");
    let m = only(
        &with(&format!(
            "tls = true\nclient_cert = \"/nonexistent/c.pem\"\nclient_key = \"{key}\""
        )),
        "upstreams[0].client_cert",
        8,
    );
    assert!(m.contains("/nonexistent/c.pem"), "{m}");
    let (other_cert, _) = pair("other", "other.test");
    let m = only(
        &with(&format!(
            "tls = true\nclient_cert = \"{other_cert}\"\nclient_key = \"{key}\""
        )),
        "upstreams[0].client_key",
        9,
    );
    assert!(!m.contains("PRIVATE"), "no key material in errors: {m}");
    let srv = up("discovery = \"dns\"\ndns_name = \"_api._tcp.internal\"\ntls = true");
    only(&srv, "upstreams[0].tls", 8);
}

#[test]
fn client_key_from_the_environment() {
    let (cert, key) = pair("envkey", "gw.test");
    let pem = std::fs::read_to_string(&key).unwrap();
    std::env::set_var("RINGWAY_UPTLS_TEST_KEY", pem);
    let t = ok(&with(&format!(
        "tls = true\nclient_cert = \"{cert}\"\nclient_key = \"env:RINGWAY_UPTLS_TEST_KEY\""
    )))
    .tls
    .expect("tls");
    assert!(t.config.client_auth_cert_resolver.has_certs());
    let shown = format!("{t:?}");
    assert!(shown.contains("env:RINGWAY_UPTLS_TEST_KEY"), "{shown}");
    assert!(!shown.contains("BEGIN"), "Debug shows references only");
}
