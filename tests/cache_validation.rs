//! Response caching over time, against a real origin that counts its
//! requests: a stale entry revalidated with its ETag and refreshed by a
//! 304 (headers updated, body kept), stale-if-error standing in for a 5xx,
//! stale-while-revalidate serving stale while exactly one request goes to
//! the origin, and 50 concurrent misses on 2 shards making one origin
//! request.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

fn gateway(up: &Upstream) -> Gateway {
    let routes = "[caches.main]\nmax_bytes = 16777216\n\n\
         [[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\ncache = \"main\"\n";
    Gateway::start(&build(&[], &[("u", up.addr())], routes))
}

fn response(status: u16, headers: &str, body: &str) -> Reply {
    Reply::Raw(
        format!(
            "HTTP/1.1 {status} X\r\ncontent-length: {}\r\n{headers}\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

/// `n` GETs of `path` at once, each on its own connection.
fn concurrent(gw: &Gateway, n: usize, path: &'static str) -> Vec<Response> {
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let addr = gw.addr();
            std::thread::spawn(move || RawClient::connect(addr).roundtrip(&get(path, "h")))
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("join"))
        .collect()
}

/// Waits until a `max-age=1` response is stale (ages are whole seconds).
fn until_stale() {
    std::thread::sleep(Duration::from_millis(2100));
}

#[test]
fn a_stale_entry_is_revalidated_and_a_304_refreshes_its_headers() {
    let n = Arc::new(AtomicUsize::new(0));
    let seen = n.clone();
    let up = Upstream::start("o", move |r| {
        let i = seen.fetch_add(1, Ordering::SeqCst);
        if r.header("if-none-match") == Some("\"e1\"") {
            // Fresh for the rest of the test once refreshed.
            let h = format!("cache-control: max-age=60\r\netag: \"e1\"\r\nx-version: {i}\r\n");
            return Reply::Raw(format!("HTTP/1.1 304 Not Modified\r\n{h}\r\n").into_bytes());
        }
        response(
            200,
            &format!("cache-control: max-age=1\r\netag: \"e1\"\r\nx-version: {i}\r\n"),
            "the body",
        )
    });
    let gw = gateway(&up);
    let mut c = gw.client();
    let first = c.roundtrip(&get("/r", "h"));
    assert_eq!(first.header("x-version"), Some("0"));
    until_stale();
    let second = c.roundtrip(&get("/r", "h"));
    assert_eq!(second.status, 200, "{}", second.summary());
    assert_eq!(second.text(), "the body", "the stored body");
    assert_eq!(second.header("x-version"), Some("1"), "the 304's header");
    let st = second.header("cache-status").unwrap_or("");
    assert!(st.contains("fwd=stale; fwd-status=304; stored"), "{st}");
    assert_eq!(up.last().header("if-none-match"), Some("\"e1\""));
    let third = c.roundtrip(&get("/r", "h"));
    assert!(third.header("cache-status").unwrap_or("").contains("hit"));
    assert_eq!(third.header("x-version"), Some("1"));
    assert_eq!(n.load(Ordering::SeqCst), 2);
    assert_eq!(
        gw.counter("ringway_cache_revalidated_total{cache=\"main\"}"),
        1.0
    );
}

#[test]
fn stale_if_error_serves_the_stale_copy_when_the_origin_answers_5xx() {
    let n = Arc::new(AtomicUsize::new(0));
    let seen = n.clone();
    let up = Upstream::start("o", move |r| {
        let i = seen.fetch_add(1, Ordering::SeqCst);
        let cc = match r.target.as_str() {
            "/sie" => "cache-control: max-age=1, stale-if-error=60\r\n",
            _ => "cache-control: max-age=1\r\n",
        };
        match i {
            0 | 1 => response(200, cc, "good"),
            _ => response(503, "", "down"),
        }
    });
    let gw = gateway(&up);
    let mut c = gw.client();
    c.roundtrip(&get("/sie", "h"));
    c.roundtrip(&get("/plain", "h"));
    until_stale();
    let r = c.roundtrip(&get("/sie", "h"));
    assert_eq!((r.status, r.text().as_str()), (200, "good"));
    let st = r.header("cache-status").unwrap_or("");
    assert!(st.contains("fwd=stale; fwd-status=503"), "{st}");
    // Without stale-if-error the 5xx goes through.
    let r = c.roundtrip(&get("/plain", "h"));
    assert_eq!((r.status, r.text().as_str()), (503, "down"));
}

#[test]
fn stale_while_revalidate_serves_stale_and_fetches_once() {
    let n = Arc::new(AtomicUsize::new(0));
    let seen = n.clone();
    let up = Upstream::start("o", move |_| {
        let i = seen.fetch_add(1, Ordering::SeqCst);
        // The first copy goes stale after a second; the refreshed one
        // stays fresh for the rest of the test.
        match i {
            0 => response(
                200,
                "cache-control: max-age=1, stale-while-revalidate=60\r\n",
                "v0",
            ),
            _ => {
                let r = response(200, "cache-control: max-age=60\r\n", &format!("v{i}"));
                Reply::Delay(Duration::from_millis(500), Box::new(r))
            }
        }
    });
    let gw = gateway(&up);
    gw.client().roundtrip(&get("/swr", "h"));
    until_stale();
    let rs = concurrent(&gw, 10, "/swr");
    let stale = rs.iter().filter(|r| r.text() == "v0").count();
    assert!(stale >= 9, "stale served at once: {stale}");
    assert!(rs.iter().all(|r| r.status == 200));
    assert_eq!(n.load(Ordering::SeqCst), 2, "one refresh");
    let r = gw.client().roundtrip(&get("/swr", "h"));
    assert_eq!(r.text(), "v1", "the refreshed copy");
}

#[test]
fn fifty_concurrent_misses_make_one_origin_request() {
    let up = Upstream::start("o", |_| {
        let r = response(200, "cache-control: max-age=60\r\n", "shared");
        Reply::Delay(Duration::from_millis(300), Box::new(r))
    });
    let gw = gateway(&up);
    let rs = concurrent(&gw, 50, "/c");
    assert!(rs.iter().all(|r| r.status == 200 && r.text() == "shared"));
    assert_eq!(up.requests().len(), 1, "one origin request");
    let collapsed = rs
        .iter()
        .filter(|r| r.header("cache-status").unwrap_or("").contains("collapsed"))
        .count();
    assert!(collapsed >= 1, "followers say collapsed");
    assert_eq!(gw.shards(), 2);
}

#[test]
fn stale_if_error_serves_the_stale_copy_when_the_origin_fails() {
    let n = Arc::new(AtomicUsize::new(0));
    let seen = n.clone();
    let up = Upstream::start("o", move |_| match seen.fetch_add(1, Ordering::SeqCst) {
        0 => response(
            200,
            "cache-control: max-age=1, stale-if-error=60\r\n",
            "good",
        ),
        _ => Reply::Close,
    });
    let gw = gateway(&up);
    let mut c = gw.client();
    c.roundtrip(&get("/down", "h"));
    until_stale();
    let r = c.roundtrip(&get("/down", "h"));
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "good"),
        "{}",
        r.summary()
    );
    let st = r.header("cache-status").unwrap_or("");
    assert!(
        st.contains("fwd=stale") && st.contains("detail=upstream_"),
        "{st}"
    );
    assert!(n.load(Ordering::SeqCst) >= 2, "the origin was tried");
}

#[test]
fn freshness_directives_decide_what_is_reused() {
    let up = Upstream::start("o", |r| {
        let cc = match r.target.as_str() {
            "/s-maxage" => "cache-control: max-age=0, s-maxage=60\r\n",
            "/must" => "cache-control: max-age=1, must-revalidate\r\n",
            "/no-cache" => "cache-control: no-cache, max-age=60\r\netag: \"n\"\r\n",
            _ => "cache-control: max-age=1\r\n",
        };
        if r.header("if-none-match") == Some("\"n\"") {
            return Reply::Raw(format!("HTTP/1.1 304 Not Modified\r\n{cc}\r\n").into_bytes());
        }
        response(200, cc, &r.target)
    });
    let gw = gateway(&up);
    let mut c = gw.client();
    let count = |p: &str| up.requests().iter().filter(|r| r.target == p).count();
    for p in ["/s-maxage", "/must", "/plain", "/no-cache"] {
        c.roundtrip(&get(p, "h"));
    }
    // s-maxage wins over max-age=0 for a shared cache.
    c.roundtrip(&get("/s-maxage", "h"));
    assert_eq!(count("/s-maxage"), 1);
    // no-cache: every reuse is validated first (here: 304, then served).
    let r = c.roundtrip(&get("/no-cache", "h"));
    assert_eq!((r.status, r.text().as_str()), (200, "/no-cache"));
    assert!(r
        .header("cache-status")
        .unwrap_or("")
        .contains("fwd-status=304"));
    assert_eq!(count("/no-cache"), 2);
    until_stale();
    let stale_ok = [("cache-control", "max-stale=60")];
    let r = c.roundtrip(&req("GET", "/plain", "h", &stale_ok, b""));
    assert!(
        r.header("cache-status").unwrap_or("").contains("hit"),
        "max-stale"
    );
    assert_eq!(count("/plain"), 1);
    // must-revalidate: never served stale, whatever the request accepts.
    c.roundtrip(&req("GET", "/must", "h", &stale_ok, b""));
    assert_eq!(count("/must"), 2);
    // min-fresh asks for more freshness than is left.
    c.roundtrip(&get("/s-maxage", "h"));
    let r = c.roundtrip(&req(
        "GET",
        "/s-maxage",
        "h",
        &[("cache-control", "min-fresh=120")],
        b"",
    ));
    assert!(r.header("cache-status").unwrap_or("").contains("fwd="));
    assert_eq!(count("/s-maxage"), 2);
}
