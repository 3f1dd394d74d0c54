//! End-to-end tests of `load_str`: defaults, every validation error with its
//! key and line, the bundled files, and routing through a compiled config.

use super::*;
use crate::http::Method;
use crate::route::{PathRewrite, RouteMatch};

/// Lines 1-6: a valid server and one upstream named "users".
const BASE: &str = "[server]
listen = \"127.0.0.1:8080\"

[[upstreams]]
name = \"users\"
targets = [\"127.0.0.1:3001\"]
";

fn load(src: &str) -> Result<Compiled, ConfigErrors> {
    load_str(src, "t.toml")
}

fn errors(src: &str) -> Vec<ConfigError> {
    match load(src) {
        Ok(_) => panic!("expected errors for:\n{src}"),
        Err(e) => e.0,
    }
}

/// Exactly one error; checks its key and line and returns its message.
fn only(src: &str, key: &str, line: usize) -> String {
    let errs = errors(src);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(
        (errs[0].key.as_str(), errs[0].line),
        (key, Some(line)),
        "{errs:#?}"
    );
    errs[0].message.clone()
}

/// BASE plus one route (starting on line 8) with the given extra lines.
fn route(extra: &str) -> String {
    format!("{BASE}\n[[routes]]\nname = \"r\"\nupstream = \"users\"\n{extra}")
}

#[test]
fn defaults() {
    let c = load(&route("path_prefix = \"/\"\n")).unwrap();
    let s = &c.server;
    assert_eq!(s.listen, "127.0.0.1:8080".parse().ok());
    assert_eq!(s.workers, 0);
    assert_eq!(s.cpus, None);
    assert_eq!(s.io, IoMode::Auto);
    assert_eq!(s.ring_setup, RingSetup::Auto);
    assert_eq!(s.max_connections, 100_000);
    assert_eq!(s.max_header_bytes, 16_384);
    assert_eq!(s.max_body_bytes, 10_485_760);
    assert_eq!(s.header_timeout, Duration::from_secs(10));
    assert_eq!(s.idle_timeout, Duration::from_secs(60));
    assert_eq!(s.body_timeout, Duration::from_secs(60));
    assert_eq!(s.shutdown_grace, Duration::from_secs(30));
    assert_eq!(s.upgrade_idle_timeout, Duration::from_secs(60));
    assert_eq!(s.admin_listen, None);
    let u = &c.upstreams[0];
    assert_eq!(&*u.name, "users");
    assert_eq!(&*u.targets, ["127.0.0.1:3001".parse().unwrap()]);
    assert_eq!(u.connect_timeout, Duration::from_secs(5));
    assert_eq!(u.response_timeout, Duration::from_secs(15));
    assert_eq!(u.max_idle_per_shard, 64);
    assert_eq!(u.idle_timeout, Duration::from_secs(30));
    let r = &c.router.routes()[0];
    assert_eq!(r.rewrite, PathRewrite::None);
    assert!(r.request_headers.is_empty() && r.response_headers.is_empty());
}

#[test]
fn every_server_key_is_read() {
    let src = "[server]
listen = \"127.0.0.1:0\"
workers = 3
cpus = [1, 0]
io = \"epoll\"
max_connections = 7
max_header_bytes = 1024
max_body_bytes = 0
header_timeout_ms = 1
idle_timeout_ms = 2
body_timeout_ms = 4
shutdown_grace_ms = 3
admin_listen = \"127.0.0.1:0\"
";
    let s = load(src).unwrap().server;
    assert_eq!(s.listen.map(|l| l.port()), Some(0));
    assert_eq!(
        (s.workers, s.cpus.clone(), s.io),
        (3, Some(vec![1, 0]), IoMode::Epoll)
    );
    assert_eq!(
        (s.max_connections, s.max_header_bytes, s.max_body_bytes),
        (7, 1024, 0)
    );
    assert_eq!(s.header_timeout, Duration::from_millis(1));
    assert_eq!(s.idle_timeout, Duration::from_millis(2));
    assert_eq!(s.body_timeout, Duration::from_millis(4));
    assert_eq!(s.shutdown_grace, Duration::from_millis(3));
    assert_eq!(s.admin_listen, Some("127.0.0.1:0".parse().unwrap()));
}

#[test]
fn error_in_third_route_names_index_and_line() {
    let src = format!(
        "{BASE}
[[routes]]
name = \"a\"
path = \"/a\"
upstream = \"users\"

[[routes]]
name = \"b\"
path = \"/b\"
upstream = \"users\"

[[routes]]
name = \"c\"
path = \"/c\"
upstream = \"orders\"
"
    );
    let msg = only(&src, "routes[2].upstream", 21);
    assert!(
        msg.contains("\"orders\"") && msg.contains("defined: users"),
        "{msg}"
    );
    let shown = load(&src).err().unwrap().to_string();
    assert!(
        shown.starts_with("t.toml:21: routes[2].upstream: unknown upstream"),
        "{shown}"
    );
}

#[test]
fn all_errors_are_collected_in_line_order() {
    let src = "[server]
listen = \"nope\"
workers = 2000
io = \"kqueue\"

[[upstreams]]
name = \"u\"
targets = []

[[routes]]
name = \"r\"
upstream = \"missing\"
";
    let got: Vec<(String, Option<usize>)> =
        errors(src).into_iter().map(|e| (e.key, e.line)).collect();
    let want = [
        ("server.listen", 2),
        ("server.workers", 3),
        ("server.io", 4),
        ("upstreams[0].targets", 8),
        ("routes[0]", 10),
        ("routes[0].upstream", 12),
    ];
    let want: Vec<(String, Option<usize>)> = want
        .iter()
        .map(|(k, l)| (k.to_string(), Some(*l)))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn ring_setup_values_and_an_unknown_one() {
    for (text, want) in [
        ("auto", RingSetup::Auto),
        ("defer_taskrun", RingSetup::DeferTaskrun),
        ("coop_taskrun", RingSetup::CoopTaskrun),
        ("plain", RingSetup::Plain),
    ] {
        let src = BASE.replacen(
            "[server]\n",
            &format!("[server]\nring_setup = \"{text}\"\n"),
            1,
        );
        let src =
            format!("{src}\n[[routes]]\nname = \"r\"\nupstream = \"users\"\npath_prefix = \"/\"\n");
        assert_eq!(load(&src).unwrap().server.ring_setup, want, "{text}");
    }
    let src = BASE.replacen("[server]\n", "[server]\nring_setup = \"sqpoll\"\n", 1);
    let m = only(&src, "server.ring_setup", 2);
    assert!(m.contains("unknown ring setup \"sqpoll\""), "{m}");
}

#[test]
fn unknown_keys_and_wrong_types() {
    let m = only(&format!("{BASE}workers = 1\n"), "upstreams[0].workers", 7);
    assert!(m.contains("unknown field `workers`"), "{m}");
    let m = only(
        &route("path = \"/\"\npath_prefixx = \"/\"\n"),
        "routes[0].path_prefixx",
        12,
    );
    assert!(m.contains("unknown field"), "{m}");
    let m = only(&route("path = 5\n"), "routes[0].path", 11);
    assert!(m.contains("invalid type"), "{m}");
    let m = only(
        &route("path = \"/\"\nheaders = { x-a = 5 }\n"),
        "routes[0].headers.x-a",
        12,
    );
    assert!(m.contains("a string (exact value) or a boolean"), "{m}");
    only("[server]\nlisten = \"127.0.0.1:1\"\n[other]\n", "other", 3);
    let m = only(
        "[server]\nlisten = \"127.0.0.1:1\"\nworkers = -1\n",
        "server.workers",
        3,
    );
    assert!(m.contains("-1"), "{m}");
}

#[test]
fn syntax_error_stops_with_a_line() {
    let errs = errors("[server]\nlisten = \"127.0.0.1:1\"\n[[routes]\n");
    assert_eq!(errs[0].line, Some(3), "{errs:#?}");
    assert_eq!(errs[0].key, "");
}

/// `[server]` with `listen` on line 2 and `line3` on line 3.
fn server(line3: &str) -> String {
    format!("[server]\nlisten = \"127.0.0.1:8080\"\n{line3}\n")
}

#[test]
fn server_errors() {
    let errs = errors("[[upstreams]]\nname = \"u\"\ntargets = [\"127.0.0.1:1\"]\n");
    assert_eq!(
        (errs[0].key.as_str(), errs[0].line),
        ("server", None),
        "{errs:#?}"
    );
    only("[server]\nworkers = 1\n", "server.listen", 1);
    only("[server]\nlisten = \"127.0.0.1\"\n", "server.listen", 2);
    only(
        "[server]\nlisten = \"127.0.0.1:99999\"\n",
        "server.listen",
        2,
    );
    only(
        "[server]\nlisten = \"no such host!:80\"\n",
        "server.listen",
        2,
    );
    for bad in [
        "workers = 1025",
        "io = \"uring\"",
        "cpus = []",
        "max_connections = 0",
        "max_header_bytes = 1023",
        "max_header_bytes = 1048577",
        "header_timeout_ms = 0",
        "idle_timeout_ms = 0",
        "body_timeout_ms = 0",
        "body_timeout_ms = 86400001",
        "shutdown_grace_ms = 0",
        "shutdown_grace_ms = 86400001",
        "upgrade_idle_timeout_ms = 0",
        "upgrade_idle_timeout_ms = 86400001",
        "admin_listen = \"localhost\"",
        "admin_listen = \"127.0.0.1:8080\"",
    ] {
        let key = format!("server.{}", bad.split(' ').next().unwrap());
        only(&server(bad), &key, 3);
    }
    for ok in [
        "workers = 1024",
        "max_header_bytes = 1048576",
        "admin_listen = \"localhost:9901\"",
    ] {
        assert!(load(&server(ok)).is_ok(), "{ok}");
    }
}

/// BASE's upstream plus `line7` on line 7.
fn upstream(line7: &str) -> String {
    format!("{BASE}{line7}\n")
}

#[test]
fn upstream_errors() {
    for (bad, key) in [
        ("connect_timeout_ms = 0", "connect_timeout_ms"),
        ("response_timeout_ms = 0", "response_timeout_ms"),
        ("idle_timeout_ms = 0", "idle_timeout_ms"),
        ("max_idle_per_shard = -1", "max_idle_per_shard"),
    ] {
        only(&upstream(bad), &format!("upstreams[0].{key}"), 7);
    }
    assert_eq!(
        load(&upstream("max_idle_per_shard = 0")).unwrap().upstreams[0].max_idle_per_shard,
        0
    );
    let dup = format!("{BASE}\n[[upstreams]]\nname = \"users\"\ntargets = [\"127.0.0.1:1\"]\n");
    let m = only(&dup, "upstreams[1].name", 9);
    assert!(m.contains("duplicate"), "{m}");
    let src = "[server]\nlisten = \"127.0.0.1:1\"\n[[upstreams]]\nname = \"u\"\ntargets = [\n  \"127.0.0.1:1\",\n  \"127.0.0.1:0\",\n  \"x\",\n]\n";
    let errs = errors(src);
    let got: Vec<(&str, Option<usize>)> = errs.iter().map(|e| (e.key.as_str(), e.line)).collect();
    assert_eq!(
        got,
        [
            ("upstreams[0].targets[1]", Some(7)),
            ("upstreams[0].targets[2]", Some(8))
        ]
    );
    only(
        "[server]\nlisten = \"127.0.0.1:1\"\n[[upstreams]]\ntargets = [\"127.0.0.1:1\"]\n",
        "upstreams[0].name",
        3,
    );
    only(
        "[server]\nlisten = \"127.0.0.1:1\"\n[[upstreams]]\nname = \"u\"\n",
        "upstreams[0].targets",
        3,
    );
    only("[server]\nlisten = \"127.0.0.1:1\"\n[[upstreams]]\nname = \"a b\"\ntargets = [\"127.0.0.1:1\"]\n", "upstreams[0].name", 4);
}

#[test]
fn targets_resolve_host_names() {
    let c = load(&format!(
        "{BASE}\n[[upstreams]]\nname = \"l\"\ntargets = [\"localhost:3005\"]\n"
    ))
    .unwrap();
    let t = c.upstreams[1].targets[0];
    assert!(t.ip().is_loopback() && t.port() == 3005, "{t}");
}

#[test]
fn read_error_is_one_error_without_line() {
    let e = load_file(Path::new("/nonexistent/ringway.toml"))
        .err()
        .unwrap();
    assert_eq!(e.0.len(), 1);
    assert_eq!((e.0[0].line, e.0[0].key.as_str()), (None, ""));
    assert!(
        e.to_string()
            .starts_with("/nonexistent/ringway.toml: cannot read"),
        "{e}"
    );
}

#[test]
fn bundled_configs_are_valid() {
    // `ringway demo` puts the registry token in the variable; here a file.
    let token = std::env::temp_dir().join(format!("ringway-demo-{}.token", std::process::id()));
    std::fs::write(&token, "demo-0123456789abcdef").unwrap();
    let text = include_str!("../../config/demo.toml").replace(
        "env:RINGWAY_DEMO_REGISTRY_TOKEN",
        &format!("file:{}", token.display()),
    );
    let demo = load_str(&text, "demo.toml").unwrap_or_else(|e| panic!("{e}"));
    assert!(demo.registry.is_some());
    assert!(demo
        .upstreams
        .iter()
        .all(|u| matches!(u.discovery, super::upstream::Discovery::Registry { .. })));
    assert_eq!(demo.server.listen, "127.0.0.1:8080".parse().ok());
    assert_eq!(
        demo.server.admin_listen,
        Some("127.0.0.1:9901".parse().unwrap())
    );
    let names: Vec<&str> = demo.upstreams.iter().map(|u| &*u.name).collect();
    assert_eq!(names, ["users", "orders", "products"]);
    for u in &demo.upstreams {
        let path = u.health.as_ref().map(|h| &*h.path);
        assert_eq!(path, Some("/healthz"), "demo upstream {} checks", u.name);
    }
    assert_eq!(demo.router.len(), 3);
    let main = load_str(include_str!("../../config/ringway.toml"), "ringway.toml");
    let main = main.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(main.router.len(), 6);
    let checked = main.upstreams.iter().filter(|u| u.health.is_some()).count();
    assert_eq!(checked, 3, "ringway.toml shows health checks on");
    assert_eq!(main.auth.policies.len(), 1);
    let partner = main
        .router
        .routes()
        .iter()
        .find(|r| &*r.name == "partner-orders");
    // cors, auth + require, validate.
    assert_eq!(partner.map(|r| r.policies.len()), Some(3));
}

#[test]
fn compiled_routes_route_and_rewrite() {
    let c = load_str(include_str!("../../config/ringway.toml"), "ringway.toml").unwrap();
    let find = |m, host: &str, path: &str, hdrs: &[(&str, &str)]| {
        let it = hdrs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()));
        match c
            .router
            .find_in(m, Some(host.as_bytes()), path.as_bytes(), it)
        {
            RouteMatch::Found(r) => r.name.to_string(),
            RouteMatch::MethodNotAllowed { allow, .. } => format!("405 {allow}"),
            RouteMatch::NotFound => "404".into(),
        }
    };
    assert_eq!(
        find(Method::Get, "api.example.com", "/v1/accounts/7", &[]),
        "accounts"
    );
    let acme = [("X-Tenant", "acme")];
    assert_eq!(
        find(Method::Get, "api.example.com:443", "/v1/accounts/7", &acme),
        "accounts-canary"
    );
    let out = [("x-tenant", "acme"), ("x-canary-opt-out", "")];
    assert_eq!(
        find(Method::Get, "api.example.com", "/v1/accounts", &out),
        "accounts"
    );
    assert_eq!(
        find(Method::Get, "shop.example.com", "/catalog/42", &[]),
        "catalog"
    );
    assert_eq!(
        find(Method::Post, "shop.example.com", "/catalog/42", &[]),
        "405 GET, HEAD, OPTIONS"
    );
    assert_eq!(find(Method::Get, "other.org", "/healthz", &[]), "health");
    assert_eq!(find(Method::Get, "other.org", "/catalog/42", &[]), "static");
    assert_eq!(
        find(Method::Delete, "other.org", "/x", &[]),
        "405 GET, HEAD"
    );

    let by_name = |n: &str| c.router.routes().iter().find(|r| &*r.name == n).unwrap();
    let mut out = Vec::new();
    assert!(by_name("catalog").rewrite_path(b"/catalog/42", &mut out));
    assert_eq!(out, b"/v2/items/42");
    assert!(by_name("accounts").rewrite_path(b"/v1/accounts/7", &mut out));
    assert_eq!(out, b"/accounts/7");
    let acc = by_name("accounts");
    assert_eq!(acc.upstream, 0);
    assert!(acc.request_headers.drops(b"Cookie") && acc.request_headers.drops(b"x-gateway"));
    assert_eq!(&*acc.request_headers.rendered, b"x-gateway: ringway\r\n");
    assert!(acc.response_headers.drops(b"server"));
    let canary = by_name("accounts-canary");
    assert_eq!(canary.upstream, 1);
    assert_eq!(
        &*canary.request_headers.rendered,
        b"x-gateway: ringway\r\nx-canary: 1\r\n"
    );
}

/// A file in the temp dir holding `text`, unique to this test process.
fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("ringway-cfg-{}-{name}", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p
}

/// BASE plus a jwt policy `h` (lines 8-11) with `algorithms` and `keys_line`.
fn jwt_policy(algorithms: &str, keys_line: &str) -> String {
    format!("{BASE}\n[auth.h]\nkind = \"jwt\"\nalgorithms = {algorithms}\n{keys_line}\n")
}

#[test]
fn hmac_secrets_must_be_as_long_as_every_listed_hash() {
    let secret = |len: usize| {
        let f = temp_file(&format!("secret-{len}"), &"s".repeat(len));
        format!("secret = \"file:{}\"", f.display())
    };
    for (algs, len, need) in [
        ("[\"HS384\"]", 47, "HS384 needs at least 48"),
        ("[\"HS256\", \"HS512\"]", 63, "HS512 needs at least 64"),
        ("[\"HS512\"]", 48, "HS512 needs at least 64"),
    ] {
        let msg = only(&jwt_policy(algs, &secret(len)), "auth.h.secret", 11);
        assert!(
            msg.contains(&format!("the secret is {len} bytes; {need}")),
            "{msg}"
        );
        assert!(!msg.contains(&"s".repeat(len)), "secret echoed: {msg}");
    }
    for (algs, len) in [
        ("[\"HS256\"]", 32),
        ("[\"HS384\"]", 48),
        ("[\"HS256\", \"HS512\"]", 64),
    ] {
        assert!(
            load(&jwt_policy(algs, &secret(len))).is_ok(),
            "{algs} {len}"
        );
    }
}

#[test]
fn jwks_file_errors_name_the_file_and_the_key() {
    let oct = |kid: &str, len: usize| serde_json::json!({"kty": "oct", "kid": kid, "k": crate::auth::b64::encode(&vec![1u8; len])});
    let write = |name: &str, keys: Vec<serde_json::Value>| {
        temp_file(name, &serde_json::json!({ "keys": keys }).to_string())
    };
    let dup = write("dup.json", vec![oct("a", 64), oct("a", 64)]);
    let msg = only(
        &jwt_policy("[\"HS256\"]", &format!("jwks_file = \"{}\"", dup.display())),
        "auth.h.jwks_file",
        11,
    );
    assert_eq!(
        msg,
        format!(
            "{}: keys[1] (kid \"a\"): kid \"a\" is also the kid of keys[0]",
            dup.display()
        )
    );
    let short = write("short.json", vec![oct("b", 48)]);
    let msg = only(
        &jwt_policy(
            "[\"HS512\"]",
            &format!("jwks_file = \"{}\"", short.display()),
        ),
        "auth.h.jwks_file",
        11,
    );
    assert!(
        msg.contains("keys[0] (kid \"b\"): the secret is 48 bytes; HS512"),
        "{msg}"
    );
    let enc = write(
        "enc.json",
        vec![serde_json::json!({"kty": "oct", "kid": "e", "use": "enc", "k": "AA"})],
    );
    let msg = only(
        &jwt_policy("[\"HS256\"]", &format!("jwks_file = \"{}\"", enc.display())),
        "auth.h.jwks_file",
        11,
    );
    assert!(msg.contains("no key of the JWK Set may verify"), "{msg}");
}
