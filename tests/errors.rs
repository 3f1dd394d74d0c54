//! The error contract of docs/errors.md: one JSON shape with exactly
//! `status`, `code`, `message`, `request_id`; the headers that go with it;
//! `x-request-id` equal to the body's id (also when the client chose it);
//! `ringway_errors_total{code}` and the other counters; and one
//! `request rejected` log line per error carrying the same code and id.

mod common;

use std::time::Duration;

use common::*;

fn gateway(up: &Upstream) -> Gateway {
    Gateway::start(&build(
        &[],
        &[("u", up.addr())],
        r#"
[[routes]]
name = "r"
path_prefix = "/api"
methods = ["GET"]
upstream = "u"
"#,
    ))
}

fn assert_shape(r: &Response, status: u16, code: &str) {
    assert_error(r, status, code);
    assert_eq!(
        r.header_all("content-type"),
        vec!["application/json"],
        "{}",
        r.summary()
    );
    assert_eq!(
        r.header("content-length")
            .and_then(|v| v.parse::<usize>().ok()),
        Some(r.body.len()),
        "{}",
        r.summary()
    );
    assert!(
        r.header("date").is_some(),
        "no date header: {}",
        r.summary()
    );
    let j = r.json();
    let obj = j.as_object().expect("object");
    assert_eq!(obj.keys().collect::<Vec<_>>(), vec!["error"], "{j}");
    let e = j["error"].as_object().expect("error object");
    let mut keys: Vec<&String> = e.keys().collect();
    keys.sort();
    assert_eq!(keys, vec!["code", "message", "request_id", "status"], "{j}");
    assert_eq!(e["status"], status);
    assert!(!e["message"].as_str().unwrap_or("").is_empty(), "{j}");
    let ids = r.header_all("x-request-id");
    assert_eq!(ids.len(), 1, "{}", r.summary());
    assert_eq!(e["request_id"].as_str(), Some(ids[0]), "{}", r.summary());
}

#[test]
fn error_shape_headers_and_ids() {
    let up = Upstream::echo("u");
    let gw = gateway(&up);
    let mut cl = gw.client();
    let r = cl.roundtrip(&get("/nope", "h"));
    assert_shape(&r, 404, "route_not_found");
    let id = r.header("x-request-id").unwrap_or_default();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "generated id {id:?}"
    );

    let r = cl.roundtrip(&req(
        "GET",
        "/nope",
        "h",
        &[("X-Request-Id", "client-id-1")],
        b"",
    ));
    assert_shape(&r, 404, "route_not_found");
    assert_eq!(r.header("x-request-id"), Some("client-id-1"));

    let r = cl.roundtrip(&req("DELETE", "/api/x", "h", &[], b""));
    assert_shape(&r, 405, "method_not_allowed");
    assert!(!r.says_close(), "{}", r.summary());

    // A framing error: same shape, plus `connection: close`.
    let mut cl = gw.client();
    let r = cl.roundtrip(b"POST /api HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    assert_shape(&r, 400, "conflicting_framing");
    assert!(r.says_close(), "{}", r.summary());
}

#[test]
fn gateway_errors_on_upstream_failure_have_the_same_shape() {
    let gw = Gateway::start(&build(
        &[],
        &[("u", unused_addr())],
        "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n",
    ));
    let mut cl = gw.client();
    let r = cl.roundtrip(&req("GET", "/", "h", &[("X-Request-Id", "abc")], b""));
    assert_shape(&r, 502, "upstream_unavailable");
    assert_eq!(r.header("x-request-id"), Some("abc"));
}

#[test]
fn errors_are_counted_by_code() {
    let up = Upstream::echo("u");
    let gw = gateway(&up);
    let mut cl = gw.client();
    for _ in 0..3 {
        assert_eq!(cl.roundtrip(&get("/nope", "h")).status, 404);
    }
    assert_eq!(
        cl.roundtrip(&req("POST", "/api", "h", &[], b"x")).status,
        405
    );
    assert_eq!(cl.roundtrip(&get("/api", "h")).status, 200);
    let mut bad = gw.client();
    assert_eq!(bad.roundtrip(b"GET / HTTP/1.1\r\n\r\n").status, 400);
    let m = gw.metrics();
    let v = |name: &str| metric_in(&m, name);
    assert_eq!(
        v("ringway_errors_total{code=\"route_not_found\"}"),
        Some(3.0),
        "{m}"
    );
    assert_eq!(
        v("ringway_errors_total{code=\"method_not_allowed\"}"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        v("ringway_errors_total{code=\"invalid_host\"}"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        v("ringway_errors_total{code=\"body_too_large\"}").unwrap_or(0.0),
        0.0,
        "{m}"
    );
    // The missing-Host head may or may not count as "parsed"; the five valid ones must.
    let total = v("ringway_request_heads_total").unwrap_or(0.0);
    assert!(
        (5.0..=6.0).contains(&total),
        "ringway_request_heads_total = {total}\n{m}"
    );
    assert_eq!(v("ringway_connections_accepted_total"), Some(2.0), "{m}");
}

#[test]
fn metrics_lists_every_documented_counter() {
    let up = Upstream::echo("u");
    let gw = gateway(&up);
    let mut cl = gw.client();
    assert_eq!(cl.roundtrip(&get("/nope", "h")).status, 404);
    let mut c = RawClient::connect(gw.admin_addr());
    let r = c.roundtrip(b"GET /metrics HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.summary());
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("text/plain"),
        "{}",
        r.summary()
    );
    let m = r.text();
    for name in [
        "ringway_request_heads_total",
        "ringway_requests_total{route=\"\",status_class=\"4xx\"}",
        "ringway_connections_accepted_total",
        "ringway_connections_rejected_total",
        "ringway_connections_active",
        "ringway_upstream_connects_total",
        "ringway_upstream_reused_total",
        "ringway_upstream_aborted_total",
        "ringway_errors_total{code=\"route_not_found\"}",
    ] {
        assert!(
            metric_in(&m, name).is_some(),
            "{name} missing from /metrics:\n{m}"
        );
    }
    for kind in ["header", "idle", "body"] {
        let name = format!("ringway_timeouts_total{{kind=\"{kind}\"}}");
        assert!(
            metric_in(&m, &name).is_some(),
            "{name} missing from /metrics:\n{m}"
        );
    }
}

#[test]
fn active_connections_gauge_follows_open_connections() {
    let up = Upstream::echo("u");
    let gw = gateway(&up);
    let mut open: Vec<RawClient> = (0..3).map(|_| gw.client()).collect();
    for c in open.iter_mut() {
        assert_eq!(c.roundtrip(&get("/api", "h")).status, 200);
    }
    assert_eq!(gw.metric("ringway_connections_active"), Some(3.0));
    open.clear();
    assert!(
        eventually(Duration::from_secs(3), || gw
            .metric("ringway_connections_active")
            == Some(0.0)),
        "gauge stuck at {:?}",
        gw.metric("ringway_connections_active")
    );
}

#[test]
fn each_error_logs_request_rejected_with_code_and_id() {
    let up = Upstream::echo("u");
    let gw = gateway(&up);
    let mut cl = gw.client();
    let client_addr = cl.local_addr().to_string();
    let r = cl.roundtrip(&get("/nope", "h"));
    let id = r.header("x-request-id").unwrap_or_default().to_string();
    let mut bad = gw.client();
    let bad_addr = bad.local_addr().to_string();
    let r2 = bad.roundtrip(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx",
    );
    assert_error(&r2, 400, "invalid_content_length");
    let id2 = r2.header("x-request-id").unwrap_or_default().to_string();
    // A success is not logged.
    assert_eq!(cl.roundtrip(&get("/api", "h")).status, 200);

    assert!(
        gw.wait_log("invalid_content_length", Duration::from_secs(2)),
        "{:?}",
        gw.logs()
    );
    let lines = gw.log_entries("request rejected");
    assert_eq!(
        lines.len(),
        2,
        "want exactly two `request rejected` lines: {:?}",
        gw.logs()
    );
    let find = |code: &str| {
        lines
            .iter()
            .find(|l| l["code"] == code)
            .unwrap_or_else(|| panic!("no line for {code}: {lines:?}"))
            .clone()
    };
    let l = find("route_not_found");
    assert_eq!(l["level"], "warn", "{l}");
    assert_eq!(l["status"], 404, "{l}");
    assert_eq!(l["request_id"].as_str(), Some(id.as_str()), "{l}");
    assert_eq!(l["client"].as_str(), Some(client_addr.as_str()), "{l}");
    assert!(l["shard"].as_u64().is_some_and(|s| s < 2), "{l}");
    assert!(l["ts"].is_string(), "{l}");
    let l = find("invalid_content_length");
    assert_eq!(l["status"], 400, "{l}");
    assert_eq!(l["request_id"].as_str(), Some(id2.as_str()), "{l}");
    assert_eq!(l["client"].as_str(), Some(bad_addr.as_str()), "{l}");
}

#[test]
fn every_log_line_is_json_with_ts_level_msg() {
    let up = Upstream::echo("u");
    let gw = gateway(&up);
    let mut cl = gw.client();
    assert_eq!(cl.roundtrip(&get("/nope", "h")).status, 404);
    assert!(gw.wait_log("request rejected", Duration::from_secs(2)));
    for line in gw.logs() {
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        for k in ["ts", "level", "msg"] {
            assert!(v[k].is_string(), "{k} missing in {line}");
        }
    }
    let l = &gw.log_entries("listening")[0];
    assert_eq!(l["level"], "info");
    assert_eq!(l["shards"], 2);
}
