//! `[tls]` client certificates (`client_ca`, `client_auth`), `kind = "mtls"`
//! policies, and `server.listen` made optional by `tls_listen`: what loads,
//! and each error on its key.

use super::*;
use crate::auth::AuthPolicy;
use crate::tls::ClientAuth;

/// PEM files made with rcgen for one test (removed on drop).
struct Pems {
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
    ca: std::path::PathBuf,
}

impl Pems {
    fn new(tag: &str) -> Pems {
        let dir = std::env::temp_dir();
        let p = |n: &str| dir.join(format!("ringway-tlscfg-{}-{tag}-{n}", std::process::id()));
        let leaf = rcgen::generate_simple_self_signed(vec!["api.test".into()]).expect("leaf");
        let ca = rcgen::generate_simple_self_signed(vec!["clients.test".into()]).expect("ca");
        let out = Pems {
            cert: p("cert.pem"),
            key: p("key.pem"),
            ca: p("ca.pem"),
        };
        std::fs::write(&out.cert, leaf.cert.pem()).expect("write");
        std::fs::write(&out.key, leaf.key_pair.serialize_pem()).expect("write");
        std::fs::write(&out.ca, ca.cert.pem()).expect("write");
        out
    }

    /// A TLS-only server and `[tls]` with `extra` keys, then `rest`.
    fn config(&self, server: &str, extra: &str, rest: &str) -> String {
        format!(
            "[server]\n{server}\n\n[tls]\n{extra}\n[[tls.certificates]]\ncert = \"{}\"\nkey = \"{}\"\n\n{rest}",
            self.cert.display(),
            self.key.display()
        )
    }

    fn ca(&self) -> String {
        format!("client_ca = \"{}\"", self.ca.display())
    }
}

impl Drop for Pems {
    fn drop(&mut self) {
        for p in [&self.cert, &self.key, &self.ca] {
            let _ = std::fs::remove_file(p);
        }
    }
}

const BOTH: &str = "listen = \"127.0.0.1:0\"\ntls_listen = \"127.0.0.1:0\"";
const TLS_ONLY: &str = "tls_listen = \"127.0.0.1:0\"";

/// The one error `src` has; asserts its key and returns its message.
fn error_at(src: &str, key: &str) -> String {
    let errs = match load_str(src, "t.toml") {
        Ok(_) => panic!("expected an error at {key} for:\n{src}"),
        Err(e) => e.0,
    };
    assert_eq!(errs.len(), 1, "{src}\n{errs:#?}");
    assert_eq!(errs[0].key, key, "{errs:#?}");
    assert!(errs[0].line.is_some(), "{errs:#?}");
    errs[0].message.clone()
}

fn ok(src: &str) -> Compiled {
    load_str(src, "t.toml").unwrap_or_else(|e| panic!("{src}\n{e}"))
}

#[test]
fn client_ca_alone_means_required_and_optional_is_read() {
    let p = Pems::new("modes");
    let c = ok(&p.config(BOTH, &p.ca(), ""));
    let tls = c.tls.as_ref().expect("tls");
    assert_eq!(tls.client_auth(), Some(ClientAuth::Required));
    let src = p.config(BOTH, &format!("{}\nclient_auth = \"optional\"", p.ca()), "");
    assert_eq!(
        ok(&src).tls.as_ref().and_then(|t| t.client_auth()),
        Some(ClientAuth::Optional)
    );
    let none = ok(&p.config(BOTH, "", ""));
    assert_eq!(none.tls.as_ref().and_then(|t| t.client_auth()), None);
}

#[test]
fn client_certificate_errors_name_their_key() {
    let p = Pems::new("errors");
    let m = error_at(
        &p.config(BOTH, "client_auth = \"required\"", ""),
        "tls.client_auth",
    );
    assert!(m.contains("tls.client_ca"), "{m}");
    let m = error_at(
        &p.config(
            BOTH,
            &format!("{}\nclient_auth = \"sometimes\"", p.ca()),
            "",
        ),
        "tls.client_auth",
    );
    assert!(m.contains("\"required\" or \"optional\""), "{m}");
    let m = error_at(
        &p.config(BOTH, "client_ca = \"/nonexistent/ca.pem\"", ""),
        "tls.client_ca",
    );
    assert!(m.contains("cannot read"), "{m}");
    let key_as_ca = format!("client_ca = \"{}\"", p.key.display());
    let m = error_at(&p.config(BOTH, &key_as_ca, ""), "tls.client_ca");
    assert!(m.contains("no CERTIFICATE"), "{m}");
    assert!(!m.contains("PRIVATE KEY"), "{m}");
}

#[test]
fn mtls_policies_load_and_their_errors_name_their_key() {
    let p = Pems::new("policy");
    let policy = "[auth.peers]\nkind = \"mtls\"\nallow_subjects = [\"CN=svc,O=Acme\"]\nallow_sans = [\"*.svc.test\", \"spiffe://acme/a\"]\n";
    let c = ok(&p.config(BOTH, &p.ca(), policy));
    match &c.auth.policies[0] {
        AuthPolicy::Mtls(m) => {
            assert_eq!(&*m.name, "peers");
            assert_eq!(&*m.allow_subjects[0], "CN=svc,O=Acme");
            assert_eq!(m.allow_sans.len(), 2);
        }
        other => panic!("{other:?}"),
    }
    let bare = "[auth.peers]\nkind = \"mtls\"\n";
    assert!(ok(&p.config(BOTH, &p.ca(), bare)).auth.policies.len() == 1);
    let m = error_at(&p.config(BOTH, "", bare), "auth.peers.kind");
    assert!(m.contains("tls.client_ca"), "{m}");
    for (extra, key, words) in [
        (
            "allow_subjects = []",
            "auth.peers.allow_subjects",
            "empty list",
        ),
        (
            "allow_sans = [\"*.test\"]",
            "auth.peers.allow_sans[0]",
            "two labels",
        ),
        (
            "allow_sans = [\" \"]",
            "auth.peers.allow_sans[0]",
            "not a SAN",
        ),
        (
            "algorithms = [\"RS256\"]",
            "auth.peers.algorithms",
            "kind = \"jwt\"",
        ),
        ("keys = []", "auth.peers.keys", "kind = \"api_key\""),
    ] {
        let src = p.config(BOTH, &p.ca(), &format!("{bare}{extra}\n"));
        let m = error_at(&src, key);
        assert!(m.contains(words), "{key}: {m}");
    }
    let jwt = "[auth.tok]\nkind = \"jwt\"\nalgorithms = [\"HS256\"]\nsecret = \"env:RINGWAY_UNSET_MTLS_TEST\"\nallow_sans = [\"a.test\"]\n";
    let errs = load_str(&p.config(BOTH, &p.ca(), jwt), "t.toml").expect_err("errors");
    assert!(
        errs.0
            .iter()
            .any(|e| e.key == "auth.tok.allow_sans" && e.message.contains("kind = \"mtls\"")),
        "{errs:#?}"
    );
}

#[test]
fn listen_is_optional_once_tls_listen_is_set() {
    let p = Pems::new("listen");
    let c = ok(&p.config(TLS_ONLY, "", ""));
    assert_eq!(c.server.listen, None);
    assert!(c.server.tls_listen.is_some());
    let m = error_at("[server]\nworkers = 1\n", "server.listen");
    assert!(m.contains("server.tls_listen"), "{m}");
}
