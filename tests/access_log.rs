//! The access log on the wire (2 shards, a real file): one line per
//! request with every field, on success, an upstream error, 401, 429, a
//! client that left and a header timeout; sampling that still logs 5xx;
//! the combined format; SIGUSR1 reopening the file after a rename.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use common::mint::sha256_hex;
use common::*;

const WAIT: Duration = Duration::from_secs(5);

fn log_path(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ringway-access-{tag}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join("access.log")
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Waits until the file holds `n` lines; returns them parsed as JSON.
fn json_lines(path: &Path, n: usize) -> Vec<Value> {
    assert!(
        eventually(WAIT, || lines(path).len() >= n),
        "{} lines, wanted {n}: {:?}",
        lines(path).len(),
        lines(path)
    );
    lines(path)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// One route per case: `/ok` and `/slow` to a live upstream, `/dead` to a
/// port nobody listens on, `/key` behind an API key, `/limited` behind a
/// limit of one request an hour.
fn gateway(access_log: &str, up: &Upstream) -> Gateway {
    let dead = unused_addr();
    let mut cfg = server_section(&[("header_timeout_ms", "300")]);
    cfg.push_str(&upstream_section("u", &[up.addr()], &[]));
    cfg.push_str(&upstream_section("gone", &[dead], &[]));
    cfg.push_str(&rate_limit_section(
        "one_an_hour",
        &[("key", "\"ip\""), ("limit", "1"), ("period", "\"1h\"")],
    ));
    cfg.push_str(&format!(
        r#"[auth.partners]
kind = "api_key"
keys = [ {{ id = "partner-a", sha256 = "{}" }} ]

[[routes]]
name = "ok"
path_prefix = "/ok"
upstream = "u"

[[routes]]
name = "dead"
path_prefix = "/dead"
upstream = "gone"

[[routes]]
name = "key"
path_prefix = "/key"
upstream = "u"
auth = ["partners"]

[[routes]]
name = "limited"
path_prefix = "/limited"
upstream = "u"
rate_limit = "one_an_hour"

{access_log}
"#,
        sha256_hex("key-a-secret")
    ));
    Gateway::start(&cfg)
}

fn json_log(path: &Path, extra: &str) -> String {
    format!(
        "[access_log]\noutput = \"file:{}\"\n{extra}",
        path.display()
    )
}

fn hex(v: &Value, len: usize) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[test]
fn every_field_on_success_and_on_each_kind_of_failure() {
    let path = log_path("fields");
    let up = Upstream::start("u", |r| {
        if r.target.starts_with("/ok/slow") {
            Reply::Delay(Duration::from_millis(800), Box::new(Reply::Echo))
        } else {
            Reply::Echo
        }
    });
    let gw = gateway(&json_log(&path, ""), &up);

    // 1. Success, with a query, user agent, referer and a body.
    let mut c = gw.client();
    let r = c.roundtrip(&req(
        "POST",
        "/ok/a%20b?x=1",
        "api.test",
        &[("User-Agent", "probe/1.0"), ("Referer", "http://ref.test/")],
        b"hello",
    ));
    assert_eq!(r.status, 200, "{}", r.summary());
    let rid = r.header("x-request-id").unwrap_or_default().to_string();
    let sent = up
        .last()
        .header("traceparent")
        .unwrap_or_default()
        .to_string();
    // 2. An upstream nobody listens on.
    let r = gw.client().roundtrip(&get("/dead", "api.test"));
    assert_eq!(r.status, 502, "{}", r.summary());
    // 3. No API key.
    let r = gw.client().roundtrip(&get("/key", "api.test"));
    assert_eq!(r.status, 401, "{}", r.summary());
    // 4. Over the limit.
    assert_eq!(
        gw.client().roundtrip(&get("/limited", "api.test")).status,
        200
    );
    let r = gw.client().roundtrip(&get("/limited", "api.test"));
    assert_eq!(r.status, 429, "{}", r.summary());
    // 5. A client that resets the connection while the upstream works: the
    // response head cannot be written, so it got none (status 0, as
    // nginx's 499). A client that only half-closes still gets its answer.
    let mut gone = gw.client();
    gone.send(&get("/ok/slow", "api.test"));
    assert!(
        up.wait_requests(3, WAIT),
        "the slow request reached the upstream"
    );
    gone.reset();
    // 6. A head that never completes: 408 after header_timeout_ms.
    let mut slow = gw.client();
    slow.send(b"GET /ok HTTP/1.1\r\nHost: api.test\r\n");
    let r = slow.read_response();
    assert_eq!(r.status, 408, "{}", r.summary());

    let all = json_lines(&path, 7);
    let by = |pred: &dyn Fn(&Value) -> bool| -> Value {
        all.iter()
            .find(|l| pred(l))
            .cloned()
            .unwrap_or_else(|| panic!("no such line in {all:#?}"))
    };
    let ok = by(&|l| l["path"] == "/ok/a%20b");
    assert_eq!(ok["request_id"], rid.as_str());
    assert!(hex(&ok["trace_id"], 32) && hex(&ok["span_id"], 16), "{ok}");
    assert_eq!(
        sent.split('-').nth(1),
        ok["trace_id"].as_str(),
        "the log's trace id is the one sent upstream"
    );
    assert_eq!(sent.split('-').nth(2), ok["span_id"].as_str());
    assert!(
        ok["client"]
            .as_str()
            .is_some_and(|c| c.starts_with("127.0.0.1:")),
        "{ok}"
    );
    assert_eq!(ok["method"], "POST");
    assert_eq!(ok["query"], "x=1");
    assert_eq!(ok["host"], "api.test");
    assert_eq!(ok["user_agent"], "probe/1.0");
    assert_eq!(ok["referer"], "http://ref.test/");
    assert_eq!(ok["route"], "ok");
    assert_eq!(ok["upstream"], "u");
    assert_eq!(ok["target"], up.addr().to_string());
    assert_eq!(ok["status"], 200);
    assert!(ok.get("error_code").is_none(), "{ok}");
    assert!(ok["bytes_in"].as_u64().is_some_and(|n| n > 5), "{ok}");
    assert!(ok["bytes_out"].as_u64().is_some_and(|n| n > 100), "{ok}");
    assert!(ok["duration_us"].as_u64().is_some(), "{ok}");
    assert!(ok["upstream_ttfb_us"].as_u64().is_some(), "{ok}");
    assert_eq!(ok["retries"], 0);
    assert!(ok["shard"].as_u64().is_some_and(|s| s < 2), "{ok}");
    assert!(ok.get("auth").is_none() && ok.get("rate_limit").is_none());

    let dead = by(&|l| l["route"] == "dead");
    assert_eq!(dead["status"], 502);
    assert_eq!(dead["error_code"], "upstream_unavailable");
    assert_eq!(dead["upstream"], "gone");
    assert!(dead["target"].is_string(), "{dead}");

    let unauth = by(&|l| l["route"] == "key");
    assert_eq!(unauth["status"], 401);
    assert!(unauth["error_code"].is_string(), "{unauth}");
    assert!(unauth.get("upstream").is_none(), "never reached: {unauth}");

    let limited = by(&|l| l["route"] == "limited" && l["status"] == 429);
    assert_eq!(limited["rate_limit"], "one_an_hour");
    assert_eq!(limited["error_code"], "rate_limited");

    let left = by(&|l| l["path"] == "/ok/slow");
    assert_eq!(left["status"], 0, "the client left first: {left}");
    assert_eq!(left["route"], "ok");

    let timeout = by(&|l| l["status"] == 408);
    assert_eq!(timeout["error_code"], "request_timeout");
    assert!(timeout["request_id"].is_string(), "{timeout}");
}

#[test]
fn the_key_id_is_logged_never_the_key() {
    let path = log_path("auth");
    let up = Upstream::echo("u");
    let gw = gateway(&json_log(&path, ""), &up);
    let r = gw.client().roundtrip(&req(
        "GET",
        "/key",
        "h",
        &[("x-api-key", "key-a-secret")],
        b"",
    ));
    assert_eq!(r.status, 200, "{}", r.summary());
    let l = &json_lines(&path, 1)[0];
    assert_eq!(l["auth"], "partner-a");
    assert!(!lines(&path)[0].contains("key-a-secret"));
}

#[test]
fn sampling_drops_successes_but_never_errors() {
    let path = log_path("sample");
    let up = Upstream::echo("u");
    let gw = gateway(&json_log(&path, "sample = 0.0\n"), &up);
    for _ in 0..20 {
        assert_eq!(gw.client().roundtrip(&get("/ok", "h")).status, 200);
    }
    for _ in 0..3 {
        assert_eq!(gw.client().roundtrip(&get("/dead", "h")).status, 502);
    }
    let all = json_lines(&path, 3);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lines(&path).len(), 3, "only the 5xx: {:?}", lines(&path));
    assert!(all.iter().all(|l| l["status"] == 502));
}

#[test]
fn combined_format_for_the_tools_that_read_it() {
    let path = log_path("combined");
    let up = Upstream::echo("u");
    let gw = gateway(&json_log(&path, "format = \"combined\"\n"), &up);
    let r = gw.client().roundtrip(&req(
        "GET",
        "/ok/x?y=1",
        "h",
        &[("User-Agent", "probe \"q\""), ("Referer", "http://r/")],
        b"",
    ));
    assert_eq!(r.status, 200);
    assert!(eventually(WAIT, || !lines(&path).is_empty()));
    let line = &lines(&path)[0];
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
    assert!(line.contains("] \"GET /ok/x?y=1 HTTP/1.1\" 200 "), "{line}");
    assert!(
        line.ends_with("\"http://r/\" \"probe \\x22q\\x22\""),
        "{line}"
    );
}

#[test]
fn sigusr1_reopens_the_file_after_a_rename() {
    let path = log_path("rotate");
    let up = Upstream::echo("u");
    let gw = gateway(&json_log(&path, ""), &up);
    assert_eq!(gw.client().roundtrip(&get("/ok/before", "h")).status, 200);
    json_lines(&path, 1);
    let rotated = path.with_extension("log.1");
    std::fs::rename(&path, &rotated).expect("rename");
    // SAFETY: kill(2) on the gateway child's pid; no memory is involved.
    assert_eq!(unsafe { libc::kill(gw.pid() as i32, libc::SIGUSR1) }, 0);
    // The writer reopens within its poll interval; requests before that
    // may still go to the renamed file, so send until one lands anew.
    assert!(
        eventually(WAIT, || {
            let _ = gw.client().roundtrip(&get("/ok/after", "h"));
            !lines(&path).is_empty()
        }),
        "no new file at {}",
        path.display()
    );
    assert!(lines(&rotated)[0].contains("/ok/before"));
    assert!(lines(&path).iter().all(|l| l.contains("/ok/after")));
    assert_eq!(
        gw.client().roundtrip(&get("/ok", "h")).status,
        200,
        "still serving"
    );
}
