//! Both formats: every field, absent fields, and client bytes that try to
//! break out of their string, field or line.

use std::net::SocketAddr;

use super::{write_combined, write_json, AccessRecord};
use crate::http::Version;

/// 2026-11-30T08:05:09.123456789Z
const TS: u64 = (20_787 * 86_400 + 8 * 3600 + 5 * 60 + 9) * 1_000_000_000 + 123_456_789;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Every field set.
pub(super) fn full() -> AccessRecord<'static> {
    AccessRecord {
        ts: TS,
        request_id: b"0af7651916cd43dd8448eb211c80319c",
        trace_id: Some([
            0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e,
            0x47, 0x36,
        ]),
        span_id: Some([0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]),
        client: addr("203.0.113.7:51234"),
        method: b"GET",
        path: b"/api/users/42",
        query: Some(b"expand=orders&x=1"),
        version: Version::Http11,
        host: Some(b"api.example.com"),
        user_agent: Some(b"curl/8.5.0"),
        referer: Some(b"https://example.com/"),
        route: Some("users"),
        upstream: Some("users"),
        target: Some(addr("10.0.0.5:3001")),
        status: 200,
        error_code: None,
        bytes_in: 87,
        bytes_out: 1532,
        duration_us: 1834,
        upstream_connect_us: Some(212),
        upstream_ttfb_us: Some(1450),
        retries: 1,
        shard: 3,
        tls: Some(false),
        auth: Some("key-ops"),
        rate_limit: None,
        cache: None,
    }
}

/// Only what every record has.
fn bare() -> AccessRecord<'static> {
    AccessRecord {
        ts: TS,
        request_id: b"",
        trace_id: None,
        span_id: None,
        client: addr("[2001:db8::1]:40000"),
        method: b"",
        path: b"",
        query: None,
        version: Version::Http11,
        host: None,
        user_agent: None,
        referer: None,
        route: None,
        upstream: None,
        target: None,
        status: 0,
        error_code: None,
        bytes_in: 0,
        bytes_out: 0,
        duration_us: 5,
        upstream_connect_us: None,
        upstream_ttfb_us: None,
        retries: 0,
        shard: 0,
        tls: None,
        auth: None,
        rate_limit: None,
        cache: None,
    }
}

fn json(r: &AccessRecord<'_>) -> String {
    let mut out = Vec::new();
    write_json(r, &mut out);
    String::from_utf8(out).expect("JSON lines are UTF-8")
}

fn combined(r: &AccessRecord<'_>) -> String {
    let mut out = Vec::new();
    write_combined(r, &mut out);
    String::from_utf8(out).expect("combined lines are ASCII")
}

/// One line, ending in `\n`, that parses as a JSON object.
fn parse(line: &str) -> serde_json::Map<String, serde_json::Value> {
    assert!(line.ends_with('\n'), "{line:?}");
    assert_eq!(line.matches('\n').count(), 1, "{line:?}");
    match serde_json::from_str(line) {
        Ok(serde_json::Value::Object(m)) => m,
        other => panic!("not a JSON object: {other:?}\n{line}"),
    }
}

#[test]
fn json_every_field() {
    assert_eq!(
        json(&full()),
        concat!(
            r#"{"ts":"2026-11-30T08:05:09.123456Z","request_id":"0af7651916cd43dd8448eb211c80319c","#,
            r#""trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","#,
            r#""client":"203.0.113.7:51234","method":"GET","path":"/api/users/42","#,
            r#""query":"expand=orders&x=1","host":"api.example.com","user_agent":"curl/8.5.0","#,
            r#""referer":"https://example.com/","route":"users","upstream":"users","#,
            r#""target":"10.0.0.5:3001","status":200,"bytes_in":87,"bytes_out":1532,"#,
            r#""duration_us":1834,"upstream_connect_us":212,"upstream_ttfb_us":1450,"#,
            r#""retries":1,"shard":3,"tls":false,"auth":"key-ops"}"#,
            "\n"
        )
    );
    let mut r = full();
    (r.error_code, r.rate_limit, r.status, r.tls, r.cache) = (
        Some("rate_limited"),
        Some("per-key"),
        429,
        Some(true),
        Some("hit"),
    );
    let m = parse(&json(&r));
    assert_eq!(m["error_code"], "rate_limited");
    assert_eq!(m["rate_limit"], "per-key");
    assert_eq!(m["status"], 429);
    assert_eq!(m["tls"], true);
    assert_eq!(m["cache"], "hit");
    assert_eq!(m.len(), 27, "every field of the record: {m:?}");
}

#[test]
fn json_leaves_absent_fields_out() {
    let line = json(&bare());
    assert_eq!(
        line,
        concat!(
            r#"{"ts":"2026-11-30T08:05:09.123456Z","client":"[2001:db8::1]:40000","method":"","#,
            r#""path":"","status":0,"bytes_in":0,"bytes_out":0,"duration_us":5,"retries":0,"#,
            r#""shard":0}"#,
            "\n"
        )
    );
    parse(&line);
}

#[test]
fn combined_every_field() {
    assert_eq!(
        combined(&full()),
        "203.0.113.7 - key-ops [30/Nov/2026:08:05:09 +0000] \
         \"GET /api/users/42?expand=orders&x=1 HTTP/1.1\" 200 1532 \
         \"https://example.com/\" \"curl/8.5.0\"\n"
    );
    let mut r = full();
    (r.version, r.query, r.auth) = (Version::Http10, None, None);
    assert!(combined(&r).starts_with(
        "203.0.113.7 - - [30/Nov/2026:08:05:09 +0000] \"GET /api/users/42 HTTP/1.0\" 200 "
    ));
}

#[test]
fn combined_writes_dashes_for_absent_fields() {
    assert_eq!(
        combined(&bare()),
        "2001:db8::1 - - [30/Nov/2026:08:05:09 +0000] \"-\" 499 0 \"-\" \"-\"\n"
    );
}

/// Bytes a client controls, each trying to end a string, a field or a line.
const HOSTILE: &[u8] = b"/a\r\n{\"forged\":1}\" \\x\0\x1b[31m\x7f\xff\xc3(\xe2\x82";

#[test]
fn json_escapes_hostile_bytes() {
    let mut r = full();
    (r.path, r.query, r.host, r.user_agent, r.referer) = (
        HOSTILE,
        Some(HOSTILE),
        Some(HOSTILE),
        Some(HOSTILE),
        Some(HOSTILE),
    );
    r.method = b"G\"ET\n";
    r.request_id = b"id\r\n";
    r.auth = Some("sub\n\"x\":\"y");
    let line = json(&r);
    let m = parse(&line);
    assert!(!m.contains_key("forged"));
    let want = "/a\r\n{\"forged\":1}\" \\x\0\x1b[31m\x7f\u{ff}\u{c3}(\u{e2}\u{82}";
    for k in ["path", "query", "host", "user_agent", "referer"] {
        assert_eq!(m[k], want, "{k}");
    }
    assert_eq!(m["method"], "G\"ET\n");
    assert_eq!(m["auth"], "sub\n\"x\":\"y");
    assert!(
        line.contains(
            r#""path":"/a\r\n{\"forged\":1}\" \\x\u0000\u001b[31m\u007f\u00ff\u00c3(\u00e2\u0082""#
        ),
        "{line}"
    );
    // Valid UTF-8 passes as it is.
    r.path = "/caf\u{e9}/\u{1f600}".as_bytes();
    assert_eq!(parse(&json(&r))["path"], "/caf\u{e9}/\u{1f600}");
}

#[test]
fn combined_escapes_hostile_bytes() {
    let mut r = full();
    (r.path, r.query, r.user_agent, r.referer) =
        (HOSTILE, Some(HOSTILE), Some(HOSTILE), Some(HOSTILE));
    r.auth = Some("a b\"c");
    let line = combined(&r);
    assert_eq!(line.matches('\n').count(), 1);
    let esc = r"/a\x0D\x0A{\x22forged\x22:1}\x22\x20\x5Cx\x00\x1B[31m\x7F\xFF\xC3(\xE2\x82";
    let esc_quoted = esc.replace(r"\x20", " ");
    assert_eq!(
        line,
        format!(
            "203.0.113.7 - a\\x20b\\x22c [30/Nov/2026:08:05:09 +0000] \"GET {esc}?{esc} HTTP/1.1\" 200 1532 \"{esc_quoted}\" \"{esc_quoted}\"\n"
        )
    );
    // Splitting on quotes gives the fields back: nothing inside forged one.
    assert_eq!(line.matches('"').count(), 6);
}

#[test]
fn a_64_kib_path_stays_one_line() {
    let path: Vec<u8> = (0..64 * 1024)
        .map(|i| [b'a', b'\n', b'"', 0xff][i % 4])
        .collect();
    let mut r = full();
    r.path = &path;
    let line = json(&r);
    let m = parse(&line);
    assert_eq!(
        m["path"].as_str().map(|p| p.chars().count()),
        Some(64 * 1024)
    );
    assert_eq!(m["status"], 200);
    let line = combined(&r);
    assert_eq!(line.matches('\n').count(), 1);
    assert!(line.len() > 3 * 64 * 1024 && line.ends_with("\"curl/8.5.0\"\n"));
}

#[test]
fn formatting_appends_without_touching_what_is_there() {
    let mut out = b"previous line\n".to_vec();
    write_json(&full(), &mut out);
    write_combined(&full(), &mut out);
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], "previous line");
    parse(&format!("{}\n", lines[1]));
    assert!(lines[2].starts_with("203.0.113.7 - "));
}
