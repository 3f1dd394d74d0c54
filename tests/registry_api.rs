//! The service registry over the wire: register, list, heartbeat past a
//! TTL, expiry without heartbeats, deregistration; the registry token (and
//! only it) opening the registry and nothing else; the limits (429
//! `registry_full`); a restart with `state_file`; `[registry] listen`; the
//! metrics; and `check` refusing a registry without a listener. Bad input
//! and path spellings: `registry_input.rs`.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::admin::*;
use common::registry::*;
use common::*;

#[test]
fn register_list_heartbeat_expire_and_deregister() {
    let token = SecretFile::new("reg-token", REG_TOKEN);
    let gw = Gateway::start(&config(&token, &[], ""));
    let a = gw.admin_addr();

    let r = register(
        a,
        "users",
        "u1",
        r#"{"addr": "127.0.0.1:9001", "weight": 5, "ttl_s": 1, "metadata": {"zone": "a"}}"#,
    );
    assert_eq!(r.status, 201, "{}", r.summary());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    assert_eq!(
        (
            &v["service"],
            &v["id"],
            &v["addr"],
            &v["weight"],
            &v["ttl_s"]
        ),
        (
            &"users".into(),
            &"u1".into(),
            &"127.0.0.1:9001".into(),
            &5.into(),
            &1.into()
        )
    );
    assert_eq!(v["metadata"]["zone"], "a");
    assert!(v["expires_in_ms"].as_u64().is_some_and(|ms| ms <= 1000));
    // Registering again is an update: 200, same instance.
    let again = r#"{"addr": "127.0.0.1:9001", "weight": 5, "ttl_s": 1}"#;
    let r = register(a, "users", "u1", again);
    assert_eq!(r.status, 200, "{}", r.summary());

    let all = call(a, "GET", "/registry/services", Some(REG_TOKEN), "");
    assert_eq!(all.status, 200, "{}", all.summary());
    let v = all.json();
    assert_eq!(v["services"][0]["name"], "users");
    assert_eq!(v["services"][0]["instances"][0]["addr"], "127.0.0.1:9001");
    assert!(v["services"][0]["instances"][0]["expires_in_ms"].is_u64());
    let one = call(a, "GET", &instance_path("users", "u1"), Some(REG_TOKEN), "");
    assert_eq!(one.json()["id"], "u1");

    // Heartbeats every 250 ms keep a 1 s instance for 2.4 s.
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(2400) {
        std::thread::sleep(Duration::from_millis(250));
        let r = heartbeat(a, "users", "u1");
        assert_eq!(r.status, 200, "{}", r.summary());
        assert!(r.json()["expires_in_ms"]
            .as_u64()
            .is_some_and(|ms| ms > 900));
        assert_eq!(listed(a, "users"), ["u1"]);
    }
    // No more heartbeats: gone within its TTL plus the reaper's tick.
    let stopped = Instant::now();
    assert!(
        eventually(Duration::from_secs(3), || listed(a, "users").is_empty()),
        "still listed after its TTL"
    );
    assert!(
        stopped.elapsed() >= Duration::from_millis(800),
        "expired early"
    );
    assert!(gw.wait_log("registry instance expired", Duration::from_secs(2)));
    assert_eq!(gw.counter("ringway_registry_expired_total"), 1.0);
    assert_error(&heartbeat(a, "users", "u1"), 404, "registry_not_found");

    // Deregistration: gone at once, and a second DELETE is a 404.
    let r = register(a, "users", "u2", r#"{"addr": "127.0.0.1:9002"}"#);
    assert_eq!(r.status, 201, "{}", r.summary());
    assert_eq!(r.json()["ttl_s"], 30, "the default TTL");
    let r = deregister(a, "users", "u2");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.json()["addr"], "127.0.0.1:9002");
    assert!(listed(a, "users").is_empty());
    assert_error(&deregister(a, "users", "u2"), 404, "registry_not_found");

    let m = gw.metrics();
    for (series, want) in [
        (
            "ringway_registry_operations_total{op=\"register\",result=\"created\"}",
            2.0,
        ),
        (
            "ringway_registry_operations_total{op=\"register\",result=\"ok\"}",
            1.0,
        ),
        (
            "ringway_registry_operations_total{op=\"deregister\",result=\"ok\"}",
            1.0,
        ),
        (
            "ringway_registry_operations_total{op=\"deregister\",result=\"not_found\"}",
            1.0,
        ),
        (
            "ringway_registry_operations_total{op=\"heartbeat\",result=\"not_found\"}",
            1.0,
        ),
        ("ringway_registry_all_instances", 0.0),
        ("ringway_registry_expired_total", 1.0),
    ] {
        assert_eq!(metric_in(&m, series), Some(want), "{series}\n{m}");
    }
}

#[test]
fn only_the_registry_token_opens_the_registry_and_nothing_else() {
    let reg = SecretFile::new("reg-token", REG_TOKEN);
    let adm = SecretFile::new("adm-token", TOKEN);
    let gw = Gateway::start(&config(&reg, &[("admin_token", &adm.spec())], ""));
    let a = gw.admin_addr();
    let body = r#"{"addr": "127.0.0.1:9001"}"#;
    let paths = [
        ("GET", "/registry/services".to_string(), ""),
        ("GET", "/registry/services/users".to_string(), ""),
        ("PUT", instance_path("users", "u1"), body),
        (
            "PUT",
            format!("{}/heartbeat", instance_path("users", "u1")),
            "",
        ),
        ("DELETE", instance_path("users", "u1"), ""),
        ("GET", "/registry/nothing-here".to_string(), ""),
    ];
    for (method, path, body) in &paths {
        for token in [None, Some(TOKEN), Some("reg-5d2a8c1e9f4b7a6d3c0f")] {
            let r = call(a, method, path, token, body);
            assert_error(&r, 401, "registry_unauthorized");
            assert_eq!(
                r.header("www-authenticate"),
                Some("Bearer realm=\"ringway-registry\""),
                "{method} {path}: {}",
                r.summary()
            );
            assert_request_id(&r);
        }
    }
    assert!(listed(a, "users").is_empty(), "nothing was registered");
    // The registry token opens no admin endpoint.
    for path in ["/config", "/metrics", "/routes"] {
        let r = call(a, "GET", path, Some(REG_TOKEN), "");
        assert_error(&r, 401, "admin_unauthorized");
    }
    let r = call(a, "GET", "/config", Some(TOKEN), "");
    assert_eq!(r.status, 200, "{}", r.summary());
    let cfg = r.json();
    assert!(
        cfg["registry"]["token"]
            .as_str()
            .is_some_and(|t| t.starts_with("file:")),
        "{}",
        cfg["registry"]
    );
    assert!(
        !r.text().contains(REG_TOKEN),
        "the token's value is never shown"
    );
    // Counted as unauthorized, by operation.
    let mut c = RawClient::connect(a);
    c.set_timeout(Duration::from_secs(5));
    let m = c
        .roundtrip(&req(
            "GET",
            "/metrics",
            "admin",
            &[("Authorization", &bearer(TOKEN))],
            b"",
        ))
        .text();
    assert_eq!(
        metric_in(
            &m,
            "ringway_registry_operations_total{op=\"register\",result=\"unauthorized\"}"
        ),
        Some(3.0),
        "{m}"
    );
    assert_eq!(
        metric_in(
            &m,
            "ringway_registry_operations_total{op=\"other\",result=\"unauthorized\"}"
        ),
        Some(3.0),
        "{m}"
    );
    // The right token works.
    let r = register(a, "users", "u1", body);
    assert_eq!(r.status, 201, "{}", r.summary());
}

#[test]
fn limits_answer_429_registry_full() {
    let token = SecretFile::new("reg-token", REG_TOKEN);
    let gw = Gateway::start(&config(
        &token,
        &[],
        "max_instances_per_service = 2\nmax_instances = 3\n",
    ));
    let a = gw.admin_addr();
    for id in ["a", "b"] {
        let r = register(a, "users", id, r#"{"addr": "127.0.0.1:9001", "ttl_s": 20}"#);
        assert_eq!(r.status, 201, "{}", r.summary());
    }
    let r = register(a, "users", "c", r#"{"addr": "127.0.0.1:9003"}"#);
    assert_error(&r, 429, "registry_full");
    let retry: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("retry-after");
    assert!((1..=20).contains(&retry), "retry-after {retry}");
    assert!(
        r.text().contains("max_instances_per_service"),
        "{}",
        r.text()
    );
    // Updating one already there is never refused.
    let r = register(
        a,
        "users",
        "a",
        r#"{"addr": "127.0.0.1:9009", "ttl_s": 20}"#,
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    let r = register(a, "orders", "a", r#"{"addr": "127.0.0.1:9101"}"#);
    assert_eq!(r.status, 201, "{}", r.summary());
    let r = register(a, "billing", "a", r#"{"addr": "127.0.0.1:9201"}"#);
    assert_error(&r, 429, "registry_full");
    assert!(r.text().contains("registry.max_instances"), "{}", r.text());
    assert_eq!(deregister(a, "users", "b").status, 200);
    let r = register(a, "billing", "a", r#"{"addr": "127.0.0.1:9201"}"#);
    assert_eq!(r.status, 201, "{}", r.summary());
}

/// A state file path in the temp dir, removed (with `.corrupt`) on drop.
struct StateFile(PathBuf);

impl StateFile {
    fn new(name: &str) -> StateFile {
        let p = std::env::temp_dir().join(format!(
            "ringway-registry-wire-{name}-{}.json",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&p);
        StateFile(p)
    }
}

impl Drop for StateFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_file(format!("{}.corrupt", self.0.display()));
    }
}

#[test]
fn a_restart_with_state_file_keeps_instances_until_their_ttl() {
    let token = SecretFile::new("reg-token", REG_TOKEN);
    let state = StateFile::new("restart");
    let extra = format!("state_file = \"{}\"\n", state.0.display());
    let toml = config(&token, &[], &extra);
    let mut gw = Gateway::start(&toml);
    assert!(gw.wait_log("registry state file absent", Duration::from_secs(1)));
    let a = gw.admin_addr();
    let long = r#"{"addr": "127.0.0.1:9001", "weight": 7, "ttl_s": 60, "metadata": {"v": "1.2"}}"#;
    assert_eq!(register(a, "users", "long", long).status, 201);
    let registered = Instant::now();
    let short = r#"{"addr": "127.0.0.1:9002", "ttl_s": 3}"#;
    assert_eq!(register(a, "users", "short", short).status, 201);
    assert_eq!(
        register(a, "orders", "gone", r#"{"addr": "127.0.0.1:9003"}"#).status,
        201
    );
    assert_eq!(deregister(a, "orders", "gone").status, 200);
    gw.signal(libc::SIGTERM);
    assert!(gw
        .wait_exit(Duration::from_secs(10))
        .is_some_and(|s| s.success()));

    let gw = Gateway::start(&toml);
    let a = gw.admin_addr();
    let loaded = gw.log_entries("registry state loaded");
    assert_eq!(loaded.len(), 1, "{:?}", gw.logs());
    assert_eq!(loaded[0]["instances"], 2);
    let mut ids = listed(a, "users");
    ids.sort();
    assert_eq!(ids, ["long", "short"]);
    assert!(
        listed(a, "orders").is_empty(),
        "the deregistration was saved"
    );
    let v = call(
        a,
        "GET",
        &instance_path("users", "long"),
        Some(REG_TOKEN),
        "",
    )
    .json();
    assert_eq!(
        (&v["weight"], &v["metadata"]["v"]),
        (&7.into(), &"1.2".into())
    );
    let left = v["expires_in_ms"].as_u64().expect("expires_in_ms");
    let elapsed = registered.elapsed().as_millis() as u64;
    assert!(
        left <= 60_000 - elapsed + 100 && left > 50_000,
        "{left} ms left after {elapsed} ms"
    );
    // The short one runs out on the new gateway, 3 s after it registered.
    assert!(eventually(Duration::from_secs(5), || {
        listed(a, "users") == ["long"]
    }));
    assert!(registered.elapsed() >= Duration::from_millis(2900));
}

#[test]
fn registry_listen_serves_the_registry_alone() {
    let token = SecretFile::new("reg-token", REG_TOKEN);
    let gw = Gateway::start(&config(&token, &[], "listen = \"127.0.0.1:0\"\n"));
    let own: SocketAddr = gw.log_entries("registry listening")[0]["addr"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("registry listening addr");
    assert_ne!(own, gw.admin_addr());
    let r = register(own, "users", "u1", r#"{"addr": "127.0.0.1:9001"}"#);
    assert_eq!(r.status, 201, "{}", r.summary());
    assert_eq!(listed(own, "users"), ["u1"]);
    // The admin listener does not serve the registry then...
    let r = call(
        gw.admin_addr(),
        "GET",
        "/registry/services",
        Some(REG_TOKEN),
        "",
    );
    assert_error(&r, 404, "admin_not_found");
    // ...and the registry's listener serves nothing else.
    let r = call(own, "GET", "/metrics", None, "");
    assert_error(&r, 401, "registry_unauthorized");
    let r = call(own, "GET", "/metrics", Some(REG_TOKEN), "");
    assert_error(&r, 404, "registry_not_found");
    assert!(gw.metrics().contains("ringway_registry_all_instances 1\n"));
}

#[test]
fn check_refuses_a_registry_without_a_listener() {
    let token = SecretFile::new("reg-token", REG_TOKEN);
    let toml = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[registry]\ntoken = {}\n",
        token.spec()
    );
    let path = write_config(&toml);
    let out = run_cli(&["check", "--config", path.to_str().expect("path")]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        out.stderr
            .contains(":4: registry.listen: the registry needs a listener"),
        "{}",
        out.stderr
    );
}
