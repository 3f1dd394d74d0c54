//! `[registry]`: absent, defaults, every key read, and each error on its
//! key and line (the registry needs a token and a listener).

use std::net::SocketAddr;

use super::route_tests::only;
use super::*;

/// A token file's `file:` reference (the file lives as long as the guard).
struct Token(std::path::PathBuf);

impl Token {
    fn new(name: &str, value: &str) -> Token {
        let p = std::env::temp_dir().join(format!(
            "ringway-registry-cfg-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::write(&p, format!("{value}\n")).unwrap();
        Token(p)
    }

    fn spec(&self) -> String {
        format!("\"file:{}\"", self.0.display())
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Lines 1-4: a server with an admin listener; `[registry]` on line 5,
/// its token on line 6, `body` from line 7.
fn with(token: &Token, body: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:8080\"\nadmin_listen = \"127.0.0.1:9901\"\n\n[registry]\ntoken = {}\n{body}\n",
        token.spec()
    )
}

fn spec(src: &str) -> Option<RegistrySpec> {
    match load_str(src, "t.toml") {
        Ok(c) => c.registry,
        Err(e) => panic!("{src}\n{e}"),
    }
}

#[test]
fn absent_table_means_no_registry() {
    assert!(spec("[server]\nlisten = \"127.0.0.1:8080\"\n").is_none());
}

#[test]
fn defaults() {
    let t = Token::new("defaults", "reg-token-0123456789");
    let r = spec(&with(&t, "")).expect("registry");
    assert_eq!(r.token.value(), b"reg-token-0123456789");
    assert_eq!(r.state_file, None);
    assert_eq!(r.listen, None);
    assert!(r.allow_cidrs.is_empty());
    assert_eq!((r.max_instances_per_service, r.max_instances), (256, 4096));
    assert_eq!((r.min_ttl_s, r.max_ttl_s, r.default_ttl_s), (1, 3600, 30));
}

#[test]
fn every_key_is_read() {
    let t = Token::new("every", "reg-token-0123456789");
    let state = std::env::temp_dir().join("ringway-registry-state.json");
    let r = spec(&with(
        &t,
        &format!(
            "state_file = \"{}\"\nlisten = \"127.0.0.1:9902\"\nallow_cidrs = [\"10.0.0.0/8\", \"fd00::/8\"]\nmax_instances_per_service = 10\nmax_instances = 20\nmin_ttl_s = 5\nmax_ttl_s = 60\ndefault_ttl_s = 15\n",
            state.display()
        ),
    ))
    .expect("registry");
    assert_eq!(r.state_file.as_deref(), Some(state.as_path()));
    assert_eq!(
        r.listen,
        Some("127.0.0.1:9902".parse::<SocketAddr>().unwrap())
    );
    assert_eq!(r.allow_cidrs.len(), 2);
    assert!(r.allow_cidrs[0].contains("10.1.2.3".parse().unwrap()));
    assert_eq!((r.max_instances_per_service, r.max_instances), (10, 20));
    assert_eq!((r.min_ttl_s, r.max_ttl_s, r.default_ttl_s), (5, 60, 15));
    // A small max_instances lowers the per-service default with it.
    let r = spec(&with(&t, "max_instances = 100")).expect("registry");
    assert_eq!(r.max_instances_per_service, 100);
    // Defaults follow the TTL bounds.
    let r = spec(&with(&t, "min_ttl_s = 60\nmax_ttl_s = 120")).expect("registry");
    assert_eq!(r.default_ttl_s, 60);
}

#[test]
fn the_token_is_required_long_and_not_the_admin_token() {
    let src = "[server]\nlisten = \"127.0.0.1:8080\"\nadmin_listen = \"127.0.0.1:9901\"\n\n[registry]\nstate_file = \"r.json\"\n";
    let m = only(src, "registry.token", 5);
    assert!(m.contains("missing required key"), "{m}");
    let short = Token::new("short", "short");
    let m = only(&with(&short, ""), "registry.token", 6);
    assert!(m.contains("at least 16"), "{m}");
    let src = "[server]\nlisten = \"127.0.0.1:8080\"\nadmin_listen = \"127.0.0.1:9901\"\n\n[registry]\ntoken = \"a-literal-token-0123456789\"\n";
    let m = only(src, "registry.token", 6);
    assert!(
        m.contains("never inline") && !m.contains("0123456789"),
        "{m}"
    );
    let t = Token::new("same", "shared-token-0123456789");
    let src = format!(
        "[server]\nlisten = \"127.0.0.1:8080\"\nadmin_listen = \"127.0.0.1:9901\"\nadmin_token = {}\n\n[registry]\ntoken = {}\n",
        t.spec(),
        t.spec()
    );
    let m = only(&src, "registry.token", 7);
    assert!(m.contains("server.admin_token"), "{m}");
}

#[test]
fn the_registry_needs_a_listener_of_its_own() {
    let t = Token::new("listener", "reg-token-0123456789");
    let src = format!(
        "[server]\nlisten = \"127.0.0.1:8080\"\n\n[registry]\ntoken = {}\n",
        t.spec()
    );
    let m = only(&src, "registry.listen", 4);
    assert!(m.contains("server.admin_listen"), "{m}");
    // Its own listen is enough.
    let ok = format!("{src}listen = \"127.0.0.1:9902\"\n");
    assert!(spec(&ok).is_some_and(|r| r.listen.is_some()));
    let clash = format!("{src}listen = \"127.0.0.1:8080\"\n");
    let m = only(&clash, "registry.listen", 6);
    assert!(m.contains("server.listen"), "{m}");
    let m = only(
        &with(&t, "listen = \"127.0.0.1:9901\""),
        "registry.listen",
        7,
    );
    assert!(m.contains("server.admin_listen"), "{m}");
    let m = only(&with(&t, "listen = \"nowhere\""), "registry.listen", 7);
    assert!(m.contains("host:port"), "{m}");
}

#[test]
fn every_bad_value_is_reported_at_its_key() {
    let t = Token::new("bad", "reg-token-0123456789");
    for (body, key, line, needle) in [
        (
            "state_file = \"/no/such/dir/r.json\"",
            "registry.state_file",
            7,
            "does not exist",
        ),
        (
            "state_file = \"/tmp\"",
            "registry.state_file",
            7,
            "is a directory",
        ),
        ("state_file = \"\"", "registry.state_file", 7, "empty path"),
        (
            "allow_cidrs = [\"10.0.0.0/8\", \"10.0.0.1/8\"]",
            "registry.allow_cidrs[1]",
            7,
            "bits set",
        ),
        (
            "allow_cidrs = []",
            "registry.allow_cidrs",
            7,
            "omit the key",
        ),
        (
            "max_instances = 0",
            "registry.max_instances",
            7,
            "between 1 and 100000",
        ),
        (
            "max_instances = 100001",
            "registry.max_instances",
            7,
            "between 1 and 100000",
        ),
        (
            "max_instances = 10\nmax_instances_per_service = 11",
            "registry.max_instances_per_service",
            8,
            "between 1 and 10",
        ),
        (
            "min_ttl_s = 0",
            "registry.min_ttl_s",
            7,
            "between 1 and 86400",
        ),
        (
            "min_ttl_s = 10\nmax_ttl_s = 5",
            "registry.max_ttl_s",
            8,
            "between 10 and 86400",
        ),
        (
            "max_ttl_s = 86401",
            "registry.max_ttl_s",
            7,
            "between 1 and 86400",
        ),
        (
            "max_ttl_s = 60\ndefault_ttl_s = 61",
            "registry.default_ttl_s",
            8,
            "between 1 and 60",
        ),
        ("ttl = 5", "registry.ttl", 7, "unknown field"),
    ] {
        let m = only(&with(&t, body), key, line);
        assert!(m.contains(needle), "{body}: {m}");
    }
}
