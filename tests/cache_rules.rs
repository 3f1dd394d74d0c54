//! Response caching on the wire, against a real origin that counts its
//! requests: freshness and `Age`, `Cache-Status`, HEAD and client
//! conditionals answered from a stored GET, `only-if-cached`, the
//! directives and headers that keep a response out of the store
//! (`no-store`, `private`, `Authorization`, `Set-Cookie`, `Vary: *`), `Vary`
//! variants, an over-size body passed whole but not stored, and
//! invalidation by unsafe methods.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;

/// An origin answering each path with the header lines `script` gives
/// it, and a body naming the path and how many requests came before it, so
/// a stored copy is recognisable.
fn origin(script: fn(&str) -> (u16, String, Vec<u8>)) -> Upstream {
    let n = Arc::new(AtomicUsize::new(0));
    Upstream::start("o", move |r| {
        let i = n.fetch_add(1, Ordering::SeqCst);
        let (status, headers, body) = script(&r.target);
        let body = if body.is_empty() {
            format!("{} #{i}", r.target).into_bytes()
        } else {
            body
        };
        let mut out = format!(
            "HTTP/1.1 {status} X\r\ncontent-length: {}\r\n{headers}\r\n",
            body.len()
        )
        .into_bytes();
        if r.method != "HEAD" {
            out.extend_from_slice(&body);
        }
        Reply::Raw(out)
    })
}

fn headers_for(target: &str) -> (u16, String, Vec<u8>) {
    let path = target.split('?').next().unwrap_or("");
    let h = match path {
        "/fresh" => "cache-control: max-age=60\r\netag: \"v1\"\r\n",
        "/aged" => "cache-control: max-age=60\r\nage: 20\r\n",
        "/no-store" => "cache-control: no-store, max-age=60\r\n",
        "/private" => "cache-control: private, max-age=60\r\n",
        "/public-auth" => "cache-control: public, max-age=60\r\n",
        "/cookie" => "cache-control: max-age=60\r\nset-cookie: a=b\r\n",
        "/vary" => "cache-control: max-age=60\r\nvary: accept-language\r\n",
        "/vary-star" => "cache-control: max-age=60\r\nvary: *\r\n",
        "/no-lifetime" => "",
        "/big" => {
            let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
            return (200, "cache-control: max-age=60\r\n".into(), body);
        }
        "/item" => "cache-control: max-age=60\r\n",
        "/created" => "location: /item\r\n",
        _ => "cache-control: max-age=60\r\n",
    };
    (200, h.to_string(), Vec::new())
}

fn gateway(up: &Upstream, cache: &str) -> Gateway {
    let routes = format!(
        "[caches.main]\nmax_bytes = 16777216\nmax_object_bytes = 1048576\n\n\
         [[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\ncache = {cache}\n"
    );
    Gateway::start(&build(&[], &[("u", up.addr())], &routes))
}

/// The scripted origin, a gateway caching it with route `cache` setting
/// `cache`, and a client.
fn setup(cache: &str) -> (Upstream, Gateway, RawClient) {
    let up = origin(headers_for);
    let gw = gateway(&up, cache);
    let c = gw.client();
    (up, gw, c)
}

fn hits(up: &Upstream, path: &str) -> usize {
    up.requests()
        .iter()
        .filter(|r| r.target.split('?').next() == Some(path))
        .count()
}

#[test]
fn a_fresh_response_is_served_from_cache_with_age_and_cache_status() {
    let (up, _gw, mut c) = setup("\"main\"");
    let first = c.roundtrip(&get("/fresh", "h"));
    assert_eq!(first.status, 200, "{}", first.summary());
    // ttl is max-age=60 less the age at receipt, in whole seconds (RFC 9111
    // 4.2.3): 0, or 1 when the request and its response straddle a second.
    let stored = first.header("cache-status").unwrap_or("");
    assert!(
        ["ttl=60", "ttl=59"]
            .iter()
            .any(|t| stored == format!("ringway; fwd=uri-miss; fwd-status=200; stored; {t}")),
        "{stored}"
    );
    let second = c.roundtrip(&get("/fresh", "h"));
    assert_eq!(second.status, 200);
    assert_eq!(second.body, first.body, "the stored body");
    assert_eq!(second.header("etag"), Some("\"v1\""));
    let status = second.header("cache-status").unwrap_or("");
    assert!(status.starts_with("ringway; hit; ttl="), "{status}");
    let age: u64 = second.header("age").unwrap_or("x").parse().expect("age");
    assert!(age <= 2, "age {age}");
    assert_eq!(hits(&up, "/fresh"), 1, "one origin request");
    // Another host is another key.
    c.roundtrip(&get("/fresh", "other"));
    assert_eq!(hits(&up, "/fresh"), 2);
    // A received Age counts in the stored response's age.
    c.roundtrip(&get("/aged", "h"));
    let r = c.roundtrip(&get("/aged", "h"));
    let age: u64 = r.header("age").unwrap_or("x").parse().expect("age");
    assert!((20..=22).contains(&age), "age {age}");
    assert_eq!(hits(&up, "/aged"), 1);
}

#[test]
fn head_and_client_conditionals_are_answered_from_a_stored_get() {
    let (up, _gw, mut c) = setup("\"main\"");
    let first = c.roundtrip(&get("/fresh", "h"));
    c.send(&req("HEAD", "/fresh", "h", &[], b""));
    let head = c.read_response_with(ReadOpts {
        head_request: true,
        ..ReadOpts::default()
    });
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(
        head.header("content-length"),
        Some(first.body.len().to_string().as_str())
    );
    let cond = c.roundtrip(&req(
        "GET",
        "/fresh",
        "h",
        &[("if-none-match", "\"v1\"")],
        b"",
    ));
    assert_eq!(cond.status, 304, "{}", cond.summary());
    assert!(cond.body.is_empty());
    assert_eq!(cond.header("etag"), Some("\"v1\""));
    let other = c.roundtrip(&req(
        "GET",
        "/fresh",
        "h",
        &[("if-none-match", "\"v2\"")],
        b"",
    ));
    assert_eq!(other.status, 200);
    assert_eq!(other.body, first.body);
    assert_eq!(hits(&up, "/fresh"), 1);
}

#[test]
fn only_if_cached_miss_is_504_and_request_no_cache_goes_to_the_origin() {
    let (up, _gw, mut c) = setup("\"main\"");
    let r = c.roundtrip(&req(
        "GET",
        "/fresh",
        "h",
        &[("cache-control", "only-if-cached")],
        b"",
    ));
    assert_error(&r, 504, "not_cached");
    assert_eq!(hits(&up, "/fresh"), 0);
    c.roundtrip(&get("/fresh", "h"));
    let r = c.roundtrip(&req(
        "GET",
        "/fresh",
        "h",
        &[("cache-control", "only-if-cached")],
        b"",
    ));
    assert_eq!(r.status, 200);
    let r = c.roundtrip(&req(
        "GET",
        "/fresh",
        "h",
        &[("cache-control", "no-cache")],
        b"",
    ));
    assert_eq!(r.status, 200);
    let st = r.header("cache-status").unwrap_or("");
    assert!(st.contains("fwd=request"), "{st}");
    assert_eq!(hits(&up, "/fresh"), 2, "no-cache went to the origin");
    // The origin was asked conditionally, with the stored ETag.
    assert_eq!(up.last().header("if-none-match"), Some("\"v1\""));
}

#[test]
fn responses_the_rules_keep_out_are_never_served_from_cache() {
    let (up, _gw, mut c) = setup("\"main\"");
    let cases = [
        ("/no-store", vec![], "no-store"),
        ("/private", vec![], "private"),
        ("/cookie", vec![], "set-cookie"),
        ("/vary-star", vec![], "vary-star"),
        ("/no-lifetime", vec![], "no-lifetime"),
        (
            "/fresh",
            vec![("authorization", "Bearer x")],
            "authorization",
        ),
    ];
    for (path, h, why) in cases {
        for _ in 0..2 {
            let r = c.roundtrip(&req("GET", path, "auth", &h, b""));
            assert_eq!(r.status, 200, "{path}");
            let st = r.header("cache-status").unwrap_or("");
            assert!(st.contains(&format!("detail={why}")), "{path}: {st}");
            assert!(!st.contains("stored"), "{path}: {st}");
        }
        assert_eq!(hits(&up, path), 2, "{path}: both went to the origin");
    }
    // `public` lets a shared cache store an authorized response (§3.5).
    let auth = [("authorization", "Bearer x")];
    c.roundtrip(&req("GET", "/public-auth", "h", &auth, b""));
    let r = c.roundtrip(&req("GET", "/public-auth", "h", &auth, b""));
    assert!(r.header("cache-status").unwrap_or("").contains("hit"));
    assert_eq!(hits(&up, "/public-auth"), 1);
}

#[test]
fn route_options_store_set_cookie_and_authorized_responses() {
    let up = origin(headers_for);
    let gw = gateway(
        &up,
        "{ name = \"main\", cache_set_cookie = true, cache_authorized = true }",
    );
    let mut c = gw.client();
    let auth = [("authorization", "Bearer x")];
    for (path, h) in [("/cookie", &[][..]), ("/fresh", &auth[..])] {
        c.roundtrip(&req("GET", path, "h", h, b""));
        let r = c.roundtrip(&req("GET", path, "h", h, b""));
        assert!(
            r.header("cache-status").unwrap_or("").contains("hit"),
            "{path}"
        );
        assert_eq!(hits(&up, path), 1, "{path}");
    }
    let r = c.roundtrip(&get("/cookie", "h"));
    assert_eq!(r.header("set-cookie"), Some("a=b"), "kept when configured");
}

#[test]
fn vary_keeps_one_variant_per_value() {
    let (up, _gw, mut c) = setup("\"main\"");
    let en = [("accept-language", "en")];
    let fr = [("accept-language", "fr")];
    let a = c.roundtrip(&req("GET", "/vary", "h", &en, b""));
    let b = c.roundtrip(&req("GET", "/vary", "h", &fr, b""));
    let st = b.header("cache-status").unwrap_or("");
    assert!(st.contains("fwd=vary-miss"), "{st}");
    assert_ne!(a.body, b.body);
    let a2 = c.roundtrip(&req("GET", "/vary", "h", &en, b""));
    let b2 = c.roundtrip(&req("GET", "/vary", "h", &fr, b""));
    assert_eq!((a2.body, b2.body), (a.body, b.body));
    assert_eq!(hits(&up, "/vary"), 2);
    // No header is a value of its own.
    c.roundtrip(&get("/vary", "h"));
    assert_eq!(hits(&up, "/vary"), 3);
}

#[test]
fn an_over_size_response_is_relayed_whole_and_not_stored() {
    let (up, _gw, mut c) = setup("\"main\"");
    for _ in 0..2 {
        let r = c.roundtrip(&get("/big", "h"));
        assert_eq!(r.status, 200);
        assert_eq!(r.body.len(), 3_000_000, "not truncated");
        assert!(r
            .body
            .iter()
            .enumerate()
            .all(|(i, &b)| b == (i % 251) as u8));
        let st = r.header("cache-status").unwrap_or("");
        assert!(st.contains("detail=too-large"), "{st}");
    }
    assert_eq!(hits(&up, "/big"), 2);
}

#[test]
fn a_successful_unsafe_method_invalidates_the_url_and_its_location() {
    let (up, _gw, mut c) = setup("\"main\"");
    c.roundtrip(&get("/item", "h"));
    c.roundtrip(&get("/created", "h"));
    c.roundtrip(&get("/item", "h"));
    assert_eq!(hits(&up, "/item"), 1);
    let r = c.roundtrip(&req("POST", "/created", "h", &[], b"x"));
    assert_eq!(r.status, 200);
    assert!(r
        .header("cache-status")
        .unwrap_or("")
        .contains("fwd=bypass"));
    // `Location: /item` named it: both are gone.
    c.roundtrip(&get("/item", "h"));
    c.roundtrip(&get("/created", "h"));
    assert_eq!(hits(&up, "/item"), 2);
    let created: Vec<String> = up
        .requests()
        .iter()
        .filter(|r| r.target == "/created")
        .map(|r| r.method.clone())
        .collect();
    assert_eq!(created, ["GET", "POST", "GET"]);
    let r = c.roundtrip(&req("DELETE", "/item", "h", &[], b""));
    assert_eq!(r.status, 200);
    c.roundtrip(&get("/item", "h"));
    c.roundtrip(&get("/item", "h"));
    // GET, GET after the POST, DELETE, GET after the DELETE (then a hit).
    assert_eq!(hits(&up, "/item"), 4);
}

#[test]
fn the_access_log_says_what_the_cache_did() {
    let up = origin(headers_for);
    let dir = std::env::temp_dir().join(format!("ringway-cache-log-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("access.log");
    let routes = format!(
        "[access_log]\noutput = \"file:{}\"\nformat = \"json\"\n\n\
         [caches.main]\nmax_bytes = 16777216\n\n\
         [[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\ncache = \"main\"\n",
        path.display()
    );
    let gw = Gateway::start(&build(&[], &[("u", up.addr())], &routes));
    let mut c = gw.client();
    c.roundtrip(&get("/fresh", "h"));
    c.roundtrip(&get("/fresh", "h"));
    c.roundtrip(&req("GET", "/vary", "h", &[("accept-language", "en")], b""));
    c.roundtrip(&req("GET", "/vary", "h", &[("accept-language", "fr")], b""));
    c.roundtrip(&req("POST", "/fresh", "h", &[], b"x"));
    let read = || std::fs::read_to_string(&path).unwrap_or_default();
    assert!(eventually(std::time::Duration::from_secs(5), || read()
        .lines()
        .count()
        >= 5));
    let cache: Vec<String> = read()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
        .map(|v| v["cache"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(cache, ["miss", "hit", "miss", "vary-miss", "bypass"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_upstream_failure_on_a_cached_route_still_says_what_the_cache_did() {
    let routes = "[caches.main]\nmax_bytes = 16777216\n\n\
         [[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\ncache = \"main\"\n";
    let gw = Gateway::start(&build(&[], &[("u", unused_addr())], routes));
    let r = gw.client().roundtrip(&get("/x", "h"));
    assert_error(&r, 502, "upstream_unavailable");
    assert_eq!(
        r.header("cache-status"),
        Some("ringway; fwd=uri-miss; detail=upstream_unavailable")
    );
}
