//! Hot reload on the wire: SIGHUP and `POST /reload` with valid and invalid
//! files, what a reload keeps (client connections, upstream pools, rate
//! and concurrency limit state), what it refuses to change without a
//! restart, a request in flight finishing on the configuration it started
//! on, `[server] watch`, and the generation each shard reports.

mod common;

use std::time::{Duration, Instant};

use common::admin::{admin, bearer, restart_keys, SecretFile};
use common::backend::{Backend, Mode};
use common::resilience::{target_healthy, target_view};
use common::*;

/// Two backends, `a` and `b`; routes from `routes` and extra `[server]` keys.
fn config(server: &[(&str, &str)], a: &Backend, b: &Backend, routes: &str) -> String {
    let mut out = server_section(server);
    out.push_str(&upstream_section("a", &[a.addr()], &[]));
    out.push_str(&upstream_section("b", &[b.addr()], &[]));
    out.push_str(routes);
    out
}

const ROUTE_A: &str = "[[routes]]\nname = \"ra\"\npath_prefix = \"/a\"\nupstream = \"a\"\n";
const ROUTE_B: &str = "[[routes]]\nname = \"rb\"\npath_prefix = \"/b\"\nupstream = \"b\"\n";

fn get_on(c: &mut RawClient, path: &str) -> Response {
    c.roundtrip(&get(path, "h"))
}

fn reload(gw: &Gateway) -> Response {
    admin(gw.admin_addr(), "POST", "/reload", &[])
}

/// Waits until every shard reports generation `n` on `/metrics`.
fn wait_generation(gw: &Gateway, n: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let m = gw.metrics();
        let all = (0..gw.shards()).all(|s| {
            metric_in(&m, &format!("ringway_config_generation{{shard=\"{s}\"}}")) == Some(n as f64)
        });
        if all {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn sighup_and_post_reload_apply_a_valid_file_without_closing_connections() {
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let gw = Gateway::start(&config(&[], &a, &b, ROUTE_A));
    assert!(wait_generation(&gw, 1));
    let mut c = gw.client();
    assert_eq!(get_on(&mut c, "/a/1").upstream(), Some("a"));
    assert_error(&get_on(&mut c, "/b/1"), 404, "route_not_found");

    // SIGHUP: route /b appears; the same client connection sees it.
    gw.rewrite_config(&config(&[], &a, &b, &format!("{ROUTE_A}{ROUTE_B}")));
    gw.signal(libc::SIGHUP);
    assert!(gw.wait_log("config reloaded", Duration::from_secs(5)));
    let line = &gw.log_entries("config reloaded")[0];
    assert_eq!(
        (line["trigger"].as_str(), line["generation"].as_u64()),
        (Some("SIGHUP"), Some(2))
    );
    let r = get_on(&mut c, "/b/1");
    assert_eq!(
        (r.status, r.upstream()),
        (200, Some("b")),
        "{}",
        r.summary()
    );
    assert!(!r.says_close());

    // POST /reload: route /a goes; the answer names the generation.
    gw.rewrite_config(&config(&[], &a, &b, ROUTE_B));
    let r = reload(&gw);
    assert_eq!(r.status, 200, "{}", r.summary());
    let v = r.json();
    assert_eq!(v["generation"], 3, "{v}");
    assert_eq!(
        v["restart_required"].as_array().map(Vec::len),
        Some(0),
        "{v}"
    );
    assert_error(&get_on(&mut c, "/a/2"), 404, "route_not_found");
    assert_eq!(get_on(&mut c, "/b/2").upstream(), Some("b"));

    // Every shard takes it up (between requests, or on its 1 s tick).
    assert!(wait_generation(&gw, 3), "{}", gw.metrics());
    let cfg = admin(gw.admin_addr(), "GET", "/config", &[]).json();
    assert_eq!(cfg["generation"]["published"], 3, "{cfg}");
    assert_eq!(
        cfg["generation"]["shards"],
        serde_json::json!([3, 3]),
        "{cfg}"
    );
    assert_eq!(gw.metric("ringway_config_reloads_total"), Some(2.0));
    assert_eq!(
        gw.counter("ringway_connections_accepted_total"),
        1.0,
        "one client connection throughout"
    );
}

#[test]
fn an_invalid_file_changes_nothing_and_says_where() {
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let gw = Gateway::start(&config(&[], &a, &b, ROUTE_A));
    let bad = config(
        &[],
        &a,
        &b,
        &format!("{ROUTE_A}[[routes]]\nname = \"rx\"\npath_prefix = \"/x\"\nupstream = \"nope\"\n"),
    );
    gw.rewrite_config(&bad);
    // Read back: the suite may have added `[server]` keys above it.
    let written = std::fs::read_to_string(gw.config_path()).expect("config");
    let line = written
        .lines()
        .position(|l| l.contains("\"nope\""))
        .map(|i| i + 1);
    let r = reload(&gw);
    assert_error(&r, 400, "config_invalid");
    let msg = r.json()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let want = format!(
        "{}:{}: routes[1].upstream",
        gw.config_path().display(),
        line.unwrap_or(0)
    );
    assert!(msg.contains(&want), "{msg} lacks {want}");

    gw.signal(libc::SIGHUP);
    // The admin reload's line is already there: wait for the signal's.
    let failures = || gw.log_entries("config reload failed, nothing changed");
    assert!(eventually(Duration::from_secs(5), || failures().len() == 2));
    let failed = &failures()[1];
    assert_eq!(failed["trigger"], "SIGHUP", "{failed}");
    assert!(
        failed["errors"].as_str().unwrap_or("").contains(&want),
        "{failed}"
    );
    assert_eq!(gw.metric("ringway_config_reload_failures_total"), Some(2.0));
    assert_eq!(gw.metric("ringway_config_reloads_total"), Some(0.0));
    assert!(wait_generation(&gw, 1));
    assert_eq!(
        gw.client().roundtrip(&get("/a/1", "h")).upstream(),
        Some("a")
    );

    // A file that cannot be read is an error too, not a reload to nothing.
    std::fs::remove_file(gw.config_path()).expect("remove");
    let r = reload(&gw);
    assert_error(&r, 400, "config_invalid");
    assert!(
        r.text().contains("cannot read the configuration"),
        "{}",
        r.summary()
    );
    assert_eq!(
        gw.client().roundtrip(&get("/a/2", "h")).upstream(),
        Some("a")
    );
}

#[test]
fn listen_and_workers_need_a_restart_and_keep_their_running_values() {
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let gw = Gateway::start(&config(&[], &a, &b, ROUTE_A));
    gw.rewrite_config(&config(
        &[("workers", "3"), ("idle_timeout_ms", "12345")],
        &a,
        &b,
        ROUTE_A,
    ));
    let r = reload(&gw);
    assert_eq!(r.status, 200, "{}", r.summary());
    let v = r.json();
    let keys = restart_keys(&v);
    assert_eq!(keys, ["server.workers"], "{v}");
    assert!(gw.wait_log("config key needs a restart", Duration::from_secs(2)));
    let cfg = admin(gw.admin_addr(), "GET", "/config", &[]).json();
    assert_eq!(cfg["server"]["workers"], 2, "the running value: {cfg}");
    assert_eq!(
        cfg["server"]["idle_timeout_ms"], 12345,
        "the rest applies: {cfg}"
    );
    assert_eq!(gw.shards(), 2);

    let out = run_cli(&["check", "--config", &gw.config_path().display().to_string()]);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        out.stdout.contains("server.listen, server.workers"),
        "{}",
        out.stdout
    );
}

#[test]
fn upstream_pools_carry_over_an_unrelated_change_and_not_a_changed_upstream() {
    let up = Upstream::echo("u");
    let other = Backend::start("b");
    let routes = "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n";
    let base = |extra_route: &str, u_extra: &[(&str, &str)]| {
        let mut out = server_section(&[("workers", "1")]);
        out.push_str(&upstream_section("u", &[up.addr()], u_extra));
        out.push_str(&upstream_section("b", &[other.addr()], &[]));
        out.push_str(extra_route);
        out.push_str(routes);
        out
    };
    let gw = Gateway::start(&base("", &[]));
    for i in 0..3 {
        assert_eq!(
            gw.client().roundtrip(&get(&format!("/{i}"), "h")).status,
            200
        );
    }
    assert_eq!(up.connections(), 1);
    // A route added, the upstream untouched: its pooled connection stays.
    gw.rewrite_config(&base(ROUTE_B, &[]));
    assert_eq!(reload(&gw).status, 200);
    for i in 0..3 {
        assert_eq!(
            gw.client().roundtrip(&get(&format!("/k{i}"), "h")).status,
            200
        );
    }
    assert_eq!(
        up.connections(),
        1,
        "the pooled connection was carried over"
    );
    assert_eq!(gw.metric("ringway_upstream_connects_total"), Some(1.0));
    assert_eq!(gw.metric("ringway_upstream_reused_total"), Some(5.0));
    // The upstream's definition changed: its state (and pool) start afresh.
    gw.rewrite_config(&base(ROUTE_B, &[("connect_timeout_ms", "1500")]));
    assert_eq!(reload(&gw).status, 200);
    assert_eq!(gw.client().roundtrip(&get("/n", "h")).status, 200);
    assert_eq!(
        up.connections(),
        2,
        "a changed upstream opens its own connections"
    );
}

#[test]
fn rate_limit_state_carries_over_an_unchanged_limit_only() {
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let limited = |limit: u32, extra: &str| {
        let mut out = config(&[], &a, &b, "");
        out.push_str(&rate_limit_section(
            "per_ip",
            &[
                ("key", "\"ip\""),
                ("limit", &limit.to_string()),
                ("period", "\"1h\""),
                // A bucket of 3 tokens, refilled far slower than the test runs.
                ("burst", "2"),
            ],
        ));
        out.push_str(&format!(
            "[[routes]]\nname = \"ra\"\npath_prefix = \"/a\"\nupstream = \"a\"\nrate_limit = \"per_ip\"\n{extra}"
        ));
        out
    };
    let gw = Gateway::start(&limited(3, ""));
    for i in 0..3 {
        assert_eq!(
            gw.client().roundtrip(&get(&format!("/a/{i}"), "h")).status,
            200
        );
    }
    // Unrelated change (a response header on the route): the 3 stay spent.
    gw.rewrite_config(&limited(
        3,
        "response_headers = { set = { \"x-gen\" = \"2\" } }\n",
    ));
    assert_eq!(reload(&gw).status, 200);
    let r = gw.client().roundtrip(&get("/a/3", "h"));
    assert_error(&r, 429, "rate_limited");
    // The limit itself changed: a new definition starts with a full bucket.
    gw.rewrite_config(&limited(4, ""));
    assert_eq!(reload(&gw).status, 200);
    let r = gw.client().roundtrip(&get("/a/4", "h"));
    assert_eq!(r.status, 200, "{}", r.summary());
}

#[test]
fn a_request_in_flight_finishes_on_its_config_and_keeps_its_concurrency_slot() {
    let a = Backend::with_mode("a", Mode::Stall);
    let b = Backend::start("b");
    let route = |upstream: &str| {
        format!(
            "[[routes]]\nname = \"r\"\npath_prefix = \"/s\"\nupstream = \"{upstream}\"\nconcurrency_limit = 1\n"
        )
    };
    let gw = Gateway::start(&config(&[], &a, &b, &route("a")));
    let mut slow = gw.client();
    slow.send(&get("/s/1", "h"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while a.hits() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(a.hits(), 1, "the first request reached a");

    // The route moves to b, same limit: the request in flight still holds
    // the one slot, so a second one is refused until it ends.
    gw.rewrite_config(&config(&[], &a, &b, &route("b")));
    assert_eq!(reload(&gw).status, 200);
    assert_error(
        &gw.client().roundtrip(&get("/s/2", "h")),
        503,
        "concurrency_limited",
    );

    a.set(Mode::Ok);
    let r = slow.read_response();
    assert_eq!(
        (r.status, r.upstream()),
        (200, Some("a")),
        "finished on its own config"
    );
    let r = gw.client().roundtrip(&get("/s/3", "h"));
    assert_eq!(
        (r.status, r.upstream()),
        (200, Some("b")),
        "{}",
        r.summary()
    );
}

#[test]
fn watch_reloads_when_the_file_changes() {
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let gw = Gateway::start(&config(&[("watch", "true")], &a, &b, ROUTE_A));
    std::thread::sleep(Duration::from_millis(600));
    gw.rewrite_config(&config(
        &[("watch", "true")],
        &a,
        &b,
        &format!("{ROUTE_A}{ROUTE_B}"),
    ));
    assert!(gw.wait_log("config reloaded", Duration::from_secs(5)));
    assert_eq!(gw.log_entries("config reloaded")[0]["trigger"], "watch");
    assert_eq!(
        gw.client().roundtrip(&get("/b/1", "h")).upstream(),
        Some("b")
    );
    // An edit that does not parse is a failed reload; the running one stays.
    gw.rewrite_config("[server\n");
    assert!(gw.wait_log("config reload failed", Duration::from_secs(5)));
    assert_eq!(
        gw.client().roundtrip(&get("/b/2", "h")).upstream(),
        Some("b")
    );
}

const REG_TOKEN: &str = "reg-5d1c9e7a3b2f8a6c4e0d";

/// Upstream `checked` (`good` and `sick`, health-checked), a registry-fed
/// `users`, and, when `extra`, an upstream listed before both (so their
/// positions in the file move).
fn fleet_config(token: &SecretFile, good: &Backend, sick: &Backend, extra: bool) -> String {
    let mut out = server_section(&[]);
    if extra {
        out.push_str(&upstream_section("extra", &[good.addr()], &[]));
    }
    out.push_str(&upstream_section(
        "checked",
        &[good.addr(), sick.addr()],
        &[],
    ));
    out.push_str("[upstreams.health]\npath = \"/healthz\"\ninterval_ms = 100\ntimeout_ms = 100\nhealthy_threshold = 2\nunhealthy_threshold = 2\n\n");
    out.push_str("[[upstreams]]\nname = \"users\"\ndiscovery = \"registry\"\n\n");
    out.push_str(
        "[[routes]]\nname = \"users\"\npath_prefix = \"/users\"\nupstream = \"users\"\n\n",
    );
    out.push_str(
        "[[routes]]\nname = \"checked\"\npath_prefix = \"/c\"\nupstream = \"checked\"\n\n",
    );
    if extra {
        out.push_str(
            "[[routes]]\nname = \"extra\"\npath_prefix = \"/x\"\nupstream = \"extra\"\n\n",
        );
    }
    out.push_str(&format!("[registry]\ntoken = {}\n", token.spec()));
    out
}

#[test]
fn registry_instances_and_health_state_survive_a_reload_that_moves_upstreams() {
    let token = SecretFile::new("reload-registry", REG_TOKEN);
    let (good, sick) = (
        Backend::start("good"),
        Backend::with_mode("sick", Mode::HealthFail),
    );
    let u1 = Backend::start("u1");
    let gw = Gateway::start(&fleet_config(&token, &good, &sick, false));
    let auth = bearer(REG_TOKEN);
    let body = format!("{{\"addr\": \"{}\", \"ttl_s\": 60}}", u1.addr());
    let r = RawClient::connect(gw.admin_addr()).roundtrip(&req(
        "PUT",
        "/registry/services/users/instances/u1",
        "registry",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    ));
    assert_eq!(r.status, 201, "{}", r.summary());
    assert_eq!(
        gw.client().roundtrip(&get("/users/1", "h")).upstream(),
        Some("u1")
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while target_healthy(&gw, sick.addr()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!target_healthy(&gw, sick.addr()), "sick fails its checks");
    let before = target_view(&gw, sick.addr());

    // Upstreams move in the file (one added before them); their
    // definitions are unchanged, so their state goes on.
    gw.rewrite_config(&fleet_config(&token, &good, &sick, true));
    let r = reload(&gw);
    assert_eq!(r.status, 200, "{}", r.summary());
    let after = target_view(&gw, sick.addr());
    assert_eq!(after["healthy"], false, "still out: {after}");
    assert_eq!(
        after["health"]["transitions"], before["health"]["transitions"],
        "{after}"
    );
    for i in 0..20 {
        let r = gw.client().roundtrip(&get(&format!("/c/{i}"), "h"));
        assert_eq!(
            (r.status, r.upstream()),
            (200, Some("good")),
            "{}",
            r.summary()
        );
    }
    for i in 0..4 {
        let r = gw.client().roundtrip(&get(&format!("/users/{i}"), "h"));
        assert_eq!(
            (r.status, r.upstream()),
            (200, Some("u1")),
            "{}",
            r.summary()
        );
    }
    assert_eq!(
        gw.client().roundtrip(&get("/x/1", "h")).upstream(),
        Some("good")
    );
    // The checker follows the carried upstream: sick comes back when it heals.
    sick.set(Mode::Ok);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !target_healthy(&gw, sick.addr()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        target_healthy(&gw, sick.addr()),
        "{}",
        target_view(&gw, sick.addr())
    );
}

#[test]
fn a_file_discovered_upstream_keeps_following_its_file_across_reloads() {
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let targets = std::env::temp_dir().join(format!(
        "ringway-reload-targets-{}.json",
        std::process::id()
    ));
    let put = |addr: std::net::SocketAddr| {
        let tmp = targets.with_extension("tmp");
        std::fs::write(&tmp, format!("[{{\"addr\": \"{addr}\"}}]")).expect("write");
        std::fs::rename(&tmp, &targets).expect("rename");
    };
    put(a.addr());
    let cfg = |timeout_ms: u32, extra_route: &str| {
        let mut out = server_section(&[]);
        out.push_str(&format!(
            "[[upstreams]]\nname = \"legacy\"\ndiscovery = \"file\"\ntargets_file = {:?}\nconnect_timeout_ms = {timeout_ms}\n\n",
            targets.display().to_string()
        ));
        out.push_str("[[routes]]\nname = \"l\"\npath_prefix = \"/l\"\nupstream = \"legacy\"\n\n");
        out.push_str(extra_route);
        out
    };
    let to = |gw: &Gateway, want: &str| {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let r = gw.client().roundtrip(&get("/l/x", "h"));
            if r.upstream() == Some(want) || Instant::now() > deadline {
                return r.upstream().map(str::to_string);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let gw = Gateway::start(&cfg(1000, ""));
    assert_eq!(to(&gw, "a").as_deref(), Some("a"));
    // An unrelated change: the source keeps running and still feeds it.
    gw.rewrite_config(&cfg(1000, ROUTE_A).replace("upstream = \"a\"", "upstream = \"legacy\""));
    assert_eq!(reload(&gw).status, 200);
    assert_eq!(to(&gw, "a").as_deref(), Some("a"), "the set was kept");
    put(b.addr());
    assert_eq!(
        to(&gw, "b").as_deref(),
        Some("b"),
        "the file is still followed"
    );
    // The upstream's definition changes: fresh state, the source restarts
    // and gives it the file's set at once.
    gw.rewrite_config(&cfg(1500, ""));
    assert_eq!(reload(&gw).status, 200);
    assert_eq!(
        gw.client().roundtrip(&get("/l/y", "h")).upstream(),
        Some("b")
    );
    put(a.addr());
    assert_eq!(to(&gw, "a").as_deref(), Some("a"));
    let _ = std::fs::remove_file(&targets);
}

#[test]
fn reload_needs_post_the_admin_token_and_its_one_spelling() {
    let token = SecretFile::new("reload-admin", "adm-9c1e4b7a2f6d8e3a5b0c");
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let spec = token.spec();
    let gw = Gateway::start(&config(&[("admin_token", &spec)], &a, &b, ROUTE_A));
    let auth = bearer("adm-9c1e4b7a2f6d8e3a5b0c");
    let send = |method: &str, path: &str, headers: &[(&str, &str)]| {
        admin(gw.admin_addr(), method, path, headers)
    };
    // Without the token, with a wrong one: 401 and nothing reloaded.
    assert_error(&send("POST", "/reload", &[]), 401, "admin_unauthorized");
    let wrong = bearer("adm-0000000000000000000");
    let r = send("POST", "/reload", &[("Authorization", &wrong)]);
    assert_error(&r, 401, "admin_unauthorized");
    // A GET never reloads.
    let r = send("GET", "/reload", &[("Authorization", &auth)]);
    assert_error(&r, 405, "admin_method_not_allowed");
    assert_eq!(r.header("allow"), Some("POST"), "{}", r.summary());
    // Every spelling goes through the token check: none reloads without it.
    for path in [
        "/re%6Coad",
        "//reload",
        "/./reload",
        "/x/../reload",
        "/reload?x",
    ] {
        let r = send("POST", path, &[]);
        assert!(
            [400, 401, 404].contains(&r.status),
            "{path}: {}",
            r.summary()
        );
    }
    // With it, spellings of another path are not the endpoint.
    for path in ["/reload/", "/RELOAD", "/reload%2F", "/reloadx"] {
        let r = send("POST", path, &[("Authorization", &auth)]);
        assert!(
            r.status == 404 || r.status == 400,
            "{path}: {}",
            r.summary()
        );
    }
    assert!(gw.log_entries("config reloaded").is_empty());
    // With it: a reload, the first (generation 2: none of the above was one).
    let r = send("POST", "/reload", &[("Authorization", &auth)]);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.json()["generation"], 2);
}
