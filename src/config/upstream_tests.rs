//! `[[upstreams]]`: every key read, every default, and the errors of the
//! table's own keys (targets, balancing, limits), each on its key and line.
//! The sub-tables' rules are in `upstream_table_tests`; the helpers are shared.

use super::route_tests::only;
use super::upstream::*;
use super::*;

/// Lines 1-5: a server and an upstream "users" up to its name; `rest` from line 6.
pub fn up(rest: &str) -> String {
    format!("[server]\nlisten = \"127.0.0.1:8080\"\n\n[[upstreams]]\nname = \"users\"\n{rest}\n")
}

/// `up` with one target on line 6 and `extra` from line 7.
pub fn with(extra: &str) -> String {
    up(&format!("targets = [\"127.0.0.1:3001\"]\n{extra}"))
}

/// `with` and a `[upstreams.TABLE]` on line 7, `body` from line 8.
pub fn sub(table: &str, body: &str) -> String {
    with(&format!("[upstreams.{table}]\n{body}"))
}

pub fn ok(src: &str) -> UpstreamSpec {
    match load_str(src, "t.toml") {
        Ok(mut c) => c.upstreams.remove(0),
        Err(e) => panic!("{src}\n{e}"),
    }
}

/// `n` milliseconds.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn defaults() {
    let u = ok(&with(""));
    assert_eq!(&*u.weights, [1]);
    assert_eq!(u.balance, Balance::RoundRobin);
    assert_eq!(u.on_no_healthy, OnNoHealthy::Panic);
    assert_eq!(u.limits, Limits::default());
    assert_eq!(
        (
            u.limits.max_connections,
            u.limits.max_pending,
            u.limits.max_requests
        ),
        (1024, 1024, 1024)
    );
    assert_eq!(u.health, None);
    assert_eq!(u.outlier, OutlierSpec::default());
    assert_eq!(u.retry, RetrySpec::default());
    assert_eq!(u.connect_timeout, Duration::from_secs(5));
    // An empty sub-table is its defaults; `health` needs its `path`.
    let u = ok(&with(
        "outlier = {}\nretry = {}\nhealth = { path = \"/h\" }",
    ));
    assert_eq!(u.outlier, OutlierSpec::default());
    assert_eq!(u.retry, RetrySpec::default());
    assert_eq!(u.health, Some(HealthSpec::new("/h".into())));
    let h = HealthSpec::new("/h".into());
    assert_eq!((h.interval, h.timeout), (ms(1000), ms(500)));
    assert_eq!((h.healthy_threshold, h.unhealthy_threshold), (2, 3));
    assert_eq!((h.host, h.expect), (None, ExpectStatus::Success));
}

#[test]
fn every_key_is_read() {
    let u = ok(&up(
        r#"targets = ["127.0.0.1:3001", { addr = "127.0.0.1:3002", weight = 3 }]
balance = "hash"
hash_key = "header:X-User"
connect_timeout_ms = 4000
max_connections = 10
max_pending = 11
max_requests = 12
on_no_healthy = "reject"

[upstreams.health]
path = "/healthz?deep=1"
host = "users.internal:8080"
interval_ms = 2000
timeout_ms = 700
healthy_threshold = 4
unhealthy_threshold = 5
expect_status = [200, 204]

[upstreams.outlier]
consecutive_failures = 0
count_5xx = false
failure_ratio = 0.25
window_ms = 5000
min_requests = 7
base_ejection_ms = 1000
max_ejection_ms = 9000
max_ejection_percent = 34
half_open_probes = 2

[upstreams.retry]
retry_on = ["reset", "timeout", "5xx", "gateway_error", "retriable_status"]
retriable_status = [409, 429]
attempts = 3
per_try_timeout_ms = 800
max_replay_bytes = 0
budget_percent = 0
min_retries_per_s = 0
backoff_base_ms = 10
backoff_max_ms = 20"#,
    ));
    let t: Vec<std::net::SocketAddr> = vec![
        "127.0.0.1:3001".parse().unwrap(),
        "127.0.0.1:3002".parse().unwrap(),
    ];
    assert_eq!((&*u.targets, &*u.weights), (&t[..], &[1, 3][..]));
    assert_eq!(u.balance, Balance::Hash(HashKey::Header("x-user".into())));
    assert_eq!(u.connect_timeout, ms(4000));
    assert_eq!(
        u.limits,
        Limits {
            max_connections: 10,
            max_pending: 11,
            max_requests: 12
        }
    );
    assert_eq!(u.on_no_healthy, OnNoHealthy::Reject);
    let health = HealthSpec {
        path: "/healthz?deep=1".into(),
        host: Some("users.internal:8080".into()),
        interval: ms(2000),
        timeout: ms(700),
        healthy_threshold: 4,
        unhealthy_threshold: 5,
        expect: ExpectStatus::List([200, 204].into()),
    };
    assert_eq!(u.health, Some(health));
    let outlier = OutlierSpec {
        consecutive_failures: 0,
        count_5xx: false,
        failure_ratio: Some(0.25),
        window: ms(5000),
        min_requests: 7,
        base_ejection: ms(1000),
        max_ejection: ms(9000),
        max_ejection_percent: 34,
        half_open_probes: 2,
    };
    assert_eq!(u.outlier, outlier);
    let all = RetryOn::RESET
        | RetryOn::TIMEOUT
        | RetryOn::STATUS_5XX
        | RetryOn::GATEWAY_ERROR
        | RetryOn::RETRIABLE_STATUS;
    let retry = RetrySpec {
        retry_on: all,
        retriable_status: [409, 429].into(),
        attempts: 3,
        per_try_timeout: Some(ms(800)),
        max_replay_bytes: 0,
        budget_percent: 0,
        min_retries_per_s: 0,
        backoff_base: ms(10),
        backoff_max: ms(20),
    };
    assert_eq!(u.retry, retry);
}

#[test]
fn each_balance_and_hash_key() {
    for (b, want) in [
        ("round_robin", Balance::RoundRobin),
        ("least_request", Balance::LeastRequest),
        ("ewma", Balance::Ewma),
    ] {
        assert_eq!(ok(&with(&format!("balance = \"{b}\""))).balance, want);
    }
    for (k, want) in [
        ("ip", HashKey::Ip),
        ("path", HashKey::Path),
        ("header:X-A", HashKey::Header("x-a".into())),
        ("cookie:Sid", HashKey::Cookie("Sid".into())),
        ("jwt:sub", HashKey::JwtClaim("sub".into())),
    ] {
        let u = ok(&with(&format!("balance = \"hash\"\nhash_key = \"{k}\"")));
        assert_eq!(u.balance, Balance::Hash(want));
    }
    let m = only(&with("balance = \"hash\""), "upstreams[0].hash_key", 4);
    assert!(m.contains("missing required key"), "{m}");
    let m = only(&with("hash_key = \"ip\""), "upstreams[0].hash_key", 7);
    assert!(m.contains("only used with balance = \"hash\""), "{m}");
    let m = only(
        &with("balance = \"ewma\"\nhash_key = \"ip\""),
        "upstreams[0].hash_key",
        8,
    );
    assert!(m.contains("balance = \"hash\""), "{m}");
    let m = only(&with("balance = \"random\""), "upstreams[0].balance", 7);
    assert!(m.contains("\"least_request\""), "{m}");
    for bad in [
        "header:a b",
        "header:",
        "cookie:",
        "cookie:a;b",
        "jwt:",
        "jwt:a b",
        "body",
        "IP",
    ] {
        let src = with(&format!("balance = \"hash\"\nhash_key = \"{bad}\""));
        only(&src, "upstreams[0].hash_key", 8);
    }
}

#[test]
fn target_tables_weights_and_duplicates() {
    let u = ok(&up(
        "targets = [{ addr = \"127.0.0.1:3001\" }, { addr = \"127.0.0.1:3002\", weight = 1000 }]",
    ));
    assert_eq!(&*u.weights, [1, 1000]);
    let m = only(
        &up("targets = [\"127.0.0.1:3001\", \"127.0.0.1:3002\", \"127.0.0.1:3001\"]"),
        "upstreams[0].targets[2]",
        6,
    );
    assert!(
        m.contains("already targets[0]") && m.contains("weight"),
        "{m}"
    );
    let m = only(
        &up("targets = [\n\"127.0.0.1:3001\",\n{ addr = \"127.0.0.1:3001\", weight = 2 },\n]"),
        "upstreams[0].targets[1].addr",
        8,
    );
    assert!(m.contains("already targets[0]"), "{m}");
    for (t, key) in [
        (
            "{ addr = \"127.0.0.1:3001\", weight = 0 }",
            "targets[0].weight",
        ),
        (
            "{ addr = \"127.0.0.1:3001\", weight = 1001 }",
            "targets[0].weight",
        ),
        ("{ addr = \"127.0.0.1:0\" }", "targets[0].addr"),
        ("{ weight = 2 }", "targets[0].addr"),
        ("\"127.0.0.1\"", "targets[0]"),
    ] {
        only(
            &up(&format!("targets = [{t}]")),
            &format!("upstreams[0].{key}"),
            6,
        );
    }
    let m = only(&up("targets = [1]"), "upstreams[0].targets[0]", 6);
    assert!(m.contains("weight = N"), "{m}");
    let m = only(
        &up("targets = [{ addr = \"127.0.0.1:3001\", wieght = 2 }]"),
        "upstreams[0].targets[0].wieght",
        6,
    );
    assert!(m.contains("unknown field `wieght`"), "{m}");
}

#[test]
fn limit_and_timeout_errors_name_the_key() {
    for bad in [
        "max_connections = 0",
        "max_pending = 0",
        "max_requests = 0",
        "max_requests = 4294967296",
        "on_no_healthy = \"fail\"",
        "connect_timeout_ms = 0",
    ] {
        let key = format!("upstreams[0].{}", bad.split(' ').next().unwrap_or(""));
        only(&with(bad), &key, 7);
    }
}

#[test]
fn errors_in_two_upstreams_name_each() {
    let src = format!(
        "{}\n[[upstreams]]\nname = \"b\"\ntargets = [\"127.0.0.1:1\"]\n[upstreams.retry]\nattempts = 0\n",
        with("balance = \"x\"")
    );
    let errs = load_str(&src, "t.toml")
        .err()
        .map(|e| e.0)
        .unwrap_or_default();
    let got: Vec<(&str, Option<usize>)> = errs.iter().map(|e| (e.key.as_str(), e.line)).collect();
    assert_eq!(
        got,
        [
            ("upstreams[0].balance", Some(7)),
            ("upstreams[1].retry.attempts", Some(13))
        ]
    );
}
