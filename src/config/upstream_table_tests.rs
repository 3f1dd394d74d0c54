//! `[upstreams.health]`, `[upstreams.outlier]` and `[upstreams.retry]`:
//! every bad value's error on its key and line, and the cross-key rules.

use super::route_tests::only;
use super::upstream::*;
use super::upstream_tests::{ms, ok, sub};

#[test]
fn health_rules() {
    let m = only(
        &sub("health", "interval_ms = 100"),
        "upstreams[0].health.path",
        7,
    );
    assert!(m.contains("missing required key"), "{m}");
    // A default gives way to a written value; two written must be ordered.
    let h = ok(&sub("health", "path = \"/h\"\ninterval_ms = 200")).health;
    assert_eq!(h.map(|h| (h.interval, h.timeout)), Some((ms(200), ms(200))));
    let h = ok(&sub("health", "path = \"/h\"\ntimeout_ms = 3000")).health;
    assert_eq!(
        h.map(|h| (h.interval, h.timeout)),
        Some((ms(3000), ms(3000)))
    );
    let m = only(
        &sub(
            "health",
            "path = \"/h\"\ninterval_ms = 1000\ntimeout_ms = 1001",
        ),
        "upstreams[0].health.timeout_ms",
        10,
    );
    assert!(m.contains("at most interval_ms"), "{m}");
    let h = ok(&sub("health", "path = \"/h\"\nexpect_status = \"2XX\"")).health;
    assert_eq!(h.map(|h| h.expect), Some(ExpectStatus::Success));
    for (bad, key) in [
        ("path = \"healthz\"", "path"),
        ("path = \"/a b\"", "path"),
        ("path = \"/a#b\"", "path"),
        ("host = \"a b\"", "host"),
        ("host = \"a:b\"", "host"),
        ("host = \"[::1\"", "host"),
        ("interval_ms = 0", "interval_ms"),
        ("timeout_ms = 0", "timeout_ms"),
        ("healthy_threshold = 0", "healthy_threshold"),
        ("unhealthy_threshold = 0", "unhealthy_threshold"),
        ("expect_status = \"3xx\"", "expect_status"),
        ("expect_status = []", "expect_status"),
        ("expect_status = [200, 600]", "expect_status[1]"),
        ("expect_status = [99]", "expect_status[0]"),
        ("bogus = 1", "bogus"),
    ] {
        let src = sub("health", &format!("path = \"/h\"\n{bad}"));
        let src = src.replacen("path = \"/h\"\npath", "path", 1);
        let line = if bad.starts_with("path") { 8 } else { 9 };
        only(&src, &format!("upstreams[0].health.{key}"), line);
    }
    for host in ["users.internal", "10.0.0.1:8080", "[::1]:80", "[::1]"] {
        let src = sub("health", &format!("path = \"/h\"\nhost = \"{host}\""));
        assert_eq!(ok(&src).health.and_then(|h| h.host).as_deref(), Some(host));
    }
}

#[test]
fn outlier_rules() {
    for (bad, key) in [
        ("failure_ratio = 0.0", "failure_ratio"),
        ("failure_ratio = 1.5", "failure_ratio"),
        ("failure_ratio = nan", "failure_ratio"),
        ("window_ms = 1000", "window_ms"),
        ("min_requests = 5", "min_requests"),
        ("consecutive_failures = -1", "consecutive_failures"),
        ("count_5xx = 1", "count_5xx"),
        ("base_ejection_ms = 0", "base_ejection_ms"),
        ("max_ejection_ms = 0", "max_ejection_ms"),
        ("max_ejection_percent = 101", "max_ejection_percent"),
        ("half_open_probes = 0", "half_open_probes"),
    ] {
        let m = only(
            &sub("outlier", bad),
            &format!("upstreams[0].outlier.{key}"),
            8,
        );
        if matches!(key, "window_ms" | "min_requests") {
            assert!(m.contains("only used with failure_ratio"), "{m}");
        }
    }
    let m = only(
        &sub("outlier", "failure_ratio = 1\nmin_requests = 0"),
        "upstreams[0].outlier.min_requests",
        9,
    );
    assert!(m.contains("between 1 and"), "{m}");
    let o = ok(&sub(
        "outlier",
        "failure_ratio = 1\nbase_ejection_ms = 600000",
    ))
    .outlier;
    assert_eq!((o.failure_ratio, o.max_ejection), (Some(1.0), ms(600_000)));
    let m = only(
        &sub("outlier", "base_ejection_ms = 2000\nmax_ejection_ms = 1000"),
        "upstreams[0].outlier.base_ejection_ms",
        8,
    );
    assert!(m.contains("at most max_ejection_ms"), "{m}");
    let o = ok(&sub(
        "outlier",
        "max_ejection_percent = 0\nconsecutive_failures = 0",
    ))
    .outlier;
    assert_eq!((o.max_ejection_percent, o.consecutive_failures), (0, 0));
}

#[test]
fn retry_rules() {
    let r = ok(&sub("retry", "retry_on = []")).retry;
    assert_eq!(r.retry_on, RetryOn(0));
    for (bad, key) in [
        ("retry_on = [\"reset\", \"connect\"]", "retry_on[1]"),
        ("retry_on = [\"retriable_status\"]", "retry_on"),
        ("retriable_status = [503]", "retriable_status"),
        ("attempts = 0", "attempts"),
        ("attempts = 11", "attempts"),
        ("per_try_timeout_ms = 0", "per_try_timeout_ms"),
        ("max_replay_bytes = 16777217", "max_replay_bytes"),
        ("budget_percent = 101", "budget_percent"),
        ("min_retries_per_s = -1", "min_retries_per_s"),
        ("backoff_base_ms = 0", "backoff_base_ms"),
        ("backoff_max_ms = 0", "backoff_max_ms"),
    ] {
        let src = sub("retry", bad);
        let m = only(&src, &format!("upstreams[0].retry.{key}"), 8);
        if bad.starts_with("retriable_status = [503]") {
            assert!(m.contains("needs \"retriable_status\" in retry_on"), "{m}");
        }
    }
    let both = "retry_on = [\"retriable_status\"]\nretriable_status = [429, 600]";
    only(
        &sub("retry", both),
        "upstreams[0].retry.retriable_status[1]",
        9,
    );
    let m = only(
        &sub(
            "retry",
            "retry_on = [\"retriable_status\"]\nretriable_status = []",
        ),
        "upstreams[0].retry.retry_on",
        8,
    );
    assert!(m.contains("non-empty retriable_status"), "{m}");
    let m = only(
        &sub("retry", "backoff_base_ms = 300\nbackoff_max_ms = 200"),
        "upstreams[0].retry.backoff_base_ms",
        8,
    );
    assert!(m.contains("at most backoff_max_ms"), "{m}");
    let r = ok(&sub("retry", "backoff_base_ms = 1000\nattempts = 10")).retry;
    assert_eq!(
        (r.backoff_base, r.backoff_max, r.attempts),
        (ms(1000), ms(1000), 10)
    );
}
