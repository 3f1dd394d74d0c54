//! The admin API's endpoints: `/readyz` turning 503 during a graceful
//! drain, `/routes`, `/config` with every secret redacted, `/shards` with
//! one entry per shard whose counts move, and bad admin requests held to
//! the data plane's parser and answered in the JSON error shape.

mod common;

use std::time::Duration;

use common::admin::*;
use common::mint::sha256_hex;
use common::*;

#[test]
fn readyz_is_200_when_serving_and_503_while_draining() {
    let up = Upstream::start("u", |rec| {
        if rec.target == "/slow" {
            Reply::Delay(Duration::from_millis(1500), Box::new(Reply::Echo))
        } else {
            Reply::Echo
        }
    });
    let mut gw = Gateway::start(&build(&[], &[("u", up.addr())], catch_all()));
    let a = gw.admin_addr();
    let r = admin(a, "GET", "/readyz", &[]);
    assert_text(&r, 200, "ready\n");

    let mut busy = gw.client();
    busy.send(&get("/slow", "h"));
    assert!(
        up.wait_requests(1, Duration::from_secs(5)),
        "slow request never arrived"
    );
    gw.signal(libc::SIGTERM);
    assert!(gw.wait_log("shutting down", Duration::from_secs(3)));

    let r = admin(a, "GET", "/readyz", &[]);
    assert_error(&r, 503, "not_ready");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| m.ends_with(": draining")),
        "{}",
        r.text()
    );
    assert_request_id(&r);
    // Still alive, and saying so, while the in-flight request finishes.
    assert_eq!(admin(a, "GET", "/healthz", &[]).status, 200);
    let shards = admin(a, "GET", "/shards", &[]).json();
    assert_eq!(shards["phase"], "draining");

    busy.set_timeout(Duration::from_secs(5));
    let r = busy.read_response();
    assert_eq!(r.status, 200, "{}", r.summary());
    let st = gw
        .wait_exit(Duration::from_secs(10))
        .expect("no exit after the drain");
    assert!(st.success(), "exit status {st}");
}

#[test]
fn routes_lists_each_routes_match_target_rewrite_and_policies() {
    let toml = format!(
        "{}{}{}",
        build(&[], &[("users", unused_addr()), ("orders", unused_addr())], ""),
        r#"
[rate_limits.per_ip]
key = "ip"
limit = 10
period = "1s"

[auth.keys]
kind = "api_key"
keys = [ { id = "k1", sha256 = "KEYHASH", scopes = ["read"] } ]

[[routes]]
name = "users"
host = "*.example.com"
path_prefix = "/api/users"
methods = ["GET", "POST"]
headers = { x-version = "2", x-debug = false, x-internal-key = "match-secret-4711" }
upstream = "users"
strip_prefix = "/api"
request_headers = { set = { x-env = "prod", authorization = "Bearer upstream-secret-0815" }, remove = ["x-drop"] }
rate_limit = "per_ip"
concurrency_limit = 7
auth = ["keys"]
require = { scopes = ["read"] }

[[routes]]
name = "orders"
path = "/orders"
upstream = "orders"
validate = { json = true }
cors = { origins = ["https://app.example"] }
"#,
        "\n[[routes]]\nname = \"old\"\npath_prefix = \"/v1\"\nupstream = \"orders\"\nrewrite_prefix = \"/v2\"\n"
    )
    .replace("KEYHASH", &sha256_hex("the-api-key"));
    let gw = Gateway::start(&toml);
    let r = admin(gw.admin_addr(), "GET", "/routes", &[]);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    for secret in ["match-secret-4711", "upstream-secret-0815"] {
        assert!(!r.text().contains(secret), "{secret} in {}", r.text());
    }
    let v = r.json();
    let routes = v["routes"].as_array().expect("routes");
    let names: Vec<&str> = routes.iter().filter_map(|r| r["name"].as_str()).collect();
    // Match order: the host route first, then the exact path, then the prefix.
    assert_eq!(names, ["users", "orders", "old"]);
    let users = &routes[0];
    assert_eq!(
        users["match"],
        serde_json::json!({
            "host": "*.example.com",
            "path_prefix": "/api/users",
            "methods": ["GET", "POST"],
            "headers": {"x-version": "2", "x-debug": false, "x-internal-key": "<redacted>"},
            "case_sensitive": true,
        })
    );
    assert_eq!(users["upstream"], "users");
    assert_eq!(
        users["rewrite"],
        serde_json::json!({"strip_prefix": "/api"})
    );
    assert_eq!(users["request_headers"]["set"]["x-env"], "prod");
    assert_eq!(
        users["request_headers"]["set"]["authorization"],
        "<redacted>"
    );
    assert_eq!(
        users["request_headers"]["remove"],
        serde_json::json!(["x-drop"])
    );
    let p = &users["policies"];
    assert_eq!(
        p["rate_limit"],
        serde_json::json!({"limits": ["per_ip"], "headers": true})
    );
    assert_eq!(p["concurrency_limit"], 7);
    assert_eq!(p["auth"]["policies"], serde_json::json!(["keys"]));
    assert_eq!(p["auth"]["require"]["scopes"], serde_json::json!(["read"]));
    let orders = &routes[1];
    assert_eq!(orders["match"]["path"], "/orders");
    assert_eq!(orders["match"]["methods"], serde_json::Value::Null);
    assert_eq!(orders["rewrite"], serde_json::Value::Null);
    assert_eq!(orders["policies"]["validate"]["json"], true);
    assert_eq!(orders["policies"]["validate"]["max_body_bytes"], 65536);
    assert_eq!(
        orders["policies"]["cors"]["origins"],
        serde_json::json!(["https://app.example"])
    );
    assert_eq!(
        routes[2]["rewrite"],
        serde_json::json!({"rewrite_prefix": "/v2"})
    );
}

#[test]
fn config_shows_the_effective_config_with_every_secret_redacted() {
    let token = SecretFile::new("cfg-token", TOKEN);
    let hs = "hs256-secret-value-9c1e5b7a3d2f4e6a8b0c";
    let jwt_secret = SecretFile::new("jwt", hs);
    let api_hash = sha256_hex("the-api-key-value");
    let toml = format!(
        "{}[auth.jwt]\nkind = \"jwt\"\nalgorithms = [\"HS256\"]\nsecret = {}\n\n[auth.keys]\nkind = \"api_key\"\nkeys = [ {{ id = \"k1\", sha256 = \"{api_hash}\" }} ]\n\n[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\nauth = [\"jwt\", \"keys\"]\nrequest_headers = {{ set = {{ x-upstream-token = \"hdr-secret-31337\" }} }}\n",
        build(
            &[("admin_token", &token.spec()), ("trusted_proxies", "[\"10.0.0.0/8\"]")],
            &[("u", unused_addr())],
            ""
        ),
        jwt_secret.spec(),
    );
    let gw = Gateway::start(&toml);
    let r = admin(
        gw.admin_addr(),
        "GET",
        "/config",
        &[("Authorization", &bearer(TOKEN))],
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    let body = r.text();
    for secret in [
        TOKEN,
        hs,
        &api_hash,
        &api_hash.to_uppercase(),
        "hdr-secret-31337",
    ] {
        assert!(!body.contains(secret), "{secret} in {body}");
    }
    let v = r.json();
    let s = &v["server"];
    assert_eq!(
        s["admin_token"].as_str(),
        Some(&token.spec()[1..token.spec().len() - 1])
    );
    // Defaults filled in.
    assert_eq!(s["idle_timeout_ms"], 60000);
    assert_eq!(s["body_timeout_ms"], 60000);
    assert_eq!(s["workers"], 2);
    assert_eq!(s["escaped_slashes"], "reject");
    assert_eq!(s["trusted_proxies"], serde_json::json!(["10.0.0.0/8"]));
    let u = &v["upstreams"][0];
    assert_eq!(u["name"], "u");
    assert_eq!(u["connect_timeout_ms"], 5000);
    assert_eq!(u["balance"], "round_robin");
    assert_eq!(u["retry"]["attempts"], 2);
    assert_eq!(
        u["retry"]["retry_on"],
        serde_json::json!(["reset", "gateway_error"])
    );
    assert_eq!(u["outlier"]["consecutive_failures"], 5);
    assert_eq!(u["health"], serde_json::Value::Null);
    let jwt = &v["auth"]["jwt"];
    assert_eq!(jwt["kind"], "jwt");
    assert_eq!(
        jwt["secret"].as_str(),
        Some(&jwt_secret.spec()[1..jwt_secret.spec().len() - 1])
    );
    assert_eq!(jwt["algorithms"], serde_json::json!(["HS256"]));
    assert_eq!(jwt["source"], "bearer");
    assert_eq!(
        v["auth"]["keys"]["keys"][0],
        serde_json::json!({"id": "k1", "sha256": "<redacted>", "scopes": []})
    );
    assert_eq!(
        v["routes"][0]["request_headers"]["set"]["x-upstream-token"],
        "<redacted>"
    );
    assert_eq!(v["revocation"]["entries"], 0);
}

#[test]
fn shards_has_one_entry_per_shard_and_their_request_counts_move() {
    let up = Upstream::echo("u");
    let gw = Gateway::start(&build(&[], &[("u", up.addr())], catch_all()));
    let a = gw.admin_addr();
    let total = |v: &serde_json::Value, field: &str| -> u64 {
        v["shards"]
            .as_array()
            .map_or(0, |s| s.iter().filter_map(|e| e[field].as_u64()).sum())
    };
    let before = admin(a, "GET", "/shards", &[]).json();
    let list = before["shards"].as_array().expect("shards");
    assert_eq!(list.len(), 2, "{before}");
    for (i, s) in list.iter().enumerate() {
        assert_eq!(s["shard"], i);
        assert!(s["loop_lag_us"].as_u64().is_some(), "{s}");
    }
    assert_eq!(before["phase"], "ready");
    // Ten connections, one request each: the kernel spreads them over shards.
    let mut held = Vec::new();
    for _ in 0..10 {
        let mut c = gw.client();
        assert_eq!(c.roundtrip(&get("/x", "h")).status, 200);
        held.push(c);
    }
    let after = admin(a, "GET", "/shards", &[]).json();
    assert_eq!(
        total(&after, "requests_total") - total(&before, "requests_total"),
        10,
        "{after}"
    );
    assert_eq!(total(&after, "connections"), 10, "{after}");
    drop(held);
    assert!(eventually(Duration::from_secs(3), || {
        total(&admin(a, "GET", "/shards", &[]).json(), "connections") == 0
    }));
    // The lag gauge is published after the first whole second.
    assert!(eventually(Duration::from_secs(3), || {
        let m = gw.metrics();
        ["0", "1"].iter().all(|i| {
            metric_in(
                &m,
                &format!("ringway_shard_loop_lag_seconds{{shard=\"{i}\"}}"),
            )
            .is_some_and(|v| (0.0..1.0).contains(&v))
        })
    }));
}

#[test]
fn bad_admin_requests_get_the_json_error_shape() {
    let gw = Gateway::start(&build(&[], &[("u", unused_addr())], catch_all()));
    let ask = |raw: &[u8]| {
        let mut c = RawClient::connect(gw.admin_addr());
        c.set_timeout(Duration::from_secs(5));
        c.roundtrip(raw)
    };
    let long = format!(
        "GET /metrics HTTP/1.1\r\nHost: admin\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(9000)
    );
    for (raw, status, code) in [
        (&b"GET /metrics HTTP/1.1\r\n\r\n"[..], 400, "invalid_host"),
        (b"GET /metrics HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "invalid_host"),
        (b"get /metrics HTTP/1.1\r\nHost: admin\r\n\r\n", 400, "invalid_method"),
        (b"GET /metrics HTTP/3.0\r\nHost: admin\r\n\r\n", 505, "http_version_not_supported"),
        (b"GET /x%2Fmetrics HTTP/1.1\r\nHost: admin\r\n\r\n", 400, "ambiguous_path"),
        (b"GET /metrics HTTP/1.1\r\nHost: admin\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "conflicting_framing"),
        (b"GET /metrics HTTP/1.1\r\nHost: admin\r\nX-HTTP-Method-Override: DELETE\r\n\r\n", 400, "method_override_refused"),
        (long.as_bytes(), 431, "header_too_large"),
        (b"FROB /healthz HTTP/1.1\r\nHost: admin\r\n\r\n", 405, "admin_method_not_allowed"),
        (b"GET /metrics/ HTTP/1.1\r\nHost: admin\r\n\r\n", 404, "admin_not_found"),
    ] {
        let r = ask(raw);
        assert_error(&r, status, code);
        assert_eq!(r.header("content-type"), Some("application/json"), "{}", r.summary());
        assert!(r.says_close(), "{}", r.summary());
        assert_request_id(&r);
        let e = &r.json()["error"];
        assert_eq!(e["status"], status);
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // The path is normalised as on the data plane before it is routed.
    let r = ask(b"GET /x/../metrics?a=1 HTTP/1.1\r\nHost: admin\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.summary());
    // HEAD is not served, and its refusal has no body.
    let mut c = RawClient::connect(gw.admin_addr());
    c.set_timeout(Duration::from_secs(5));
    c.send(b"HEAD /healthz HTTP/1.1\r\nHost: admin\r\n\r\n");
    let r = c.read_response_with(ReadOpts {
        head_request: true,
        ..ReadOpts::default()
    });
    assert_eq!(r.status, 405, "{}", r.summary());
    assert_eq!(r.header("allow"), Some("GET"), "{}", r.summary());
    assert!(r.header("x-request-id").is_some(), "{}", r.summary());
    let (rest, closed) = c.read_until_close(Duration::from_secs(3));
    assert!(
        rest.is_empty() && closed,
        "bytes after a HEAD response: {rest:?}"
    );
}
