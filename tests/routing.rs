//! Route matching and rewriting: host exact / wildcard / none, exact path
//! and segment-aware prefixes, methods (405 + `allow`), header matchers,
//! the specificity order and file-order ties, strip/rewrite prefix, request
//! and response header edits, and the 404 shape. Which route matched is
//! read from the `x-upstream` header each test upstream stamps on replies.

mod common;

use common::*;

fn route_to(c: &mut RawClient, path: &str, host: &str, headers: &[(&str, &str)]) -> Response {
    c.roundtrip(&req("GET", path, host, headers, b""))
}

fn which(
    c: &mut RawClient,
    method: &str,
    path: &str,
    host: &str,
    headers: &[(&str, &str)],
) -> String {
    let r = c.roundtrip(&req(method, path, host, headers, b""));
    match r.upstream() {
        Some(u) => u.to_string(),
        None => format!("{} {}", r.status, r.error_code().unwrap_or_default()),
    }
}

#[test]
fn host_exact_beats_wildcard_beats_none() {
    let (a, b, c, d) = (
        Upstream::echo("a"),
        Upstream::echo("b"),
        Upstream::echo("c"),
        Upstream::echo("d"),
    );
    // Least specific first: file order must not matter when specificity differs.
    let gw = Gateway::start(&build(
        &[],
        &[
            ("a", a.addr()),
            ("b", b.addr()),
            ("c", c.addr()),
            ("d", d.addr()),
        ],
        r#"
[[routes]]
name = "none"
path_prefix = "/"
upstream = "c"

[[routes]]
name = "wild"
path_prefix = "/"
host = "*.example.com"
upstream = "b"

[[routes]]
name = "wild-longer"
path_prefix = "/"
host = "*.eu.example.com"
upstream = "d"

[[routes]]
name = "exact"
path_prefix = "/"
host = "api.example.com"
upstream = "a"
"#,
    ));
    let mut cl = gw.client();
    let cases = [
        ("api.example.com", "a"),
        ("www.example.com", "b"),
        ("a.b.example.com", "b"),
        ("x.eu.example.com", "d"),
        ("example.com", "c"),
        ("other.org", "c"),
        // Case, a port and a trailing dot do not matter.
        ("API.Example.COM", "a"),
        ("Www.EXAMPLE.com", "b"),
        ("api.example.com:8080", "a"),
        ("api.example.com.", "a"),
    ];
    for (host, want) in cases {
        assert_eq!(which(&mut cl, "GET", "/x", host, &[]), want, "Host: {host}");
    }
    // No Host at all (HTTP/1.0): only the host-less route can match.
    let mut cl = gw.client();
    let r = cl.roundtrip(b"GET /x HTTP/1.0\r\n\r\n");
    assert_eq!(r.upstream(), Some("c"), "{}", r.summary());
}

#[test]
fn exact_path_beats_prefix_and_longer_prefix_wins_segment_aware() {
    let (a, b, c) = (
        Upstream::echo("a"),
        Upstream::echo("b"),
        Upstream::echo("c"),
    );
    let gw = Gateway::start(&build(
        &[],
        &[("a", a.addr()), ("b", b.addr()), ("c", c.addr())],
        r#"
[[routes]]
name = "api"
path_prefix = "/api"
upstream = "c"

[[routes]]
name = "users"
path_prefix = "/api/users"
upstream = "b"

[[routes]]
name = "me"
path = "/api/users/me"
upstream = "a"
"#,
    ));
    let mut cl = gw.client();
    let cases = [
        ("/api/users/me", "a"),
        ("/api/users/me?x=1", "a"),
        ("/api/users/me/x", "b"),
        ("/api/users/7", "b"),
        ("/api/users", "b"),
        ("/api/users/", "b"),
        ("/api/usersX", "c"),
        ("/api/users-me", "c"),
        ("/api", "c"),
        ("/api/", "c"),
        ("/apix", "404 route_not_found"),
        ("/", "404 route_not_found"),
    ];
    for (path, want) in cases {
        assert_eq!(which(&mut cl, "GET", path, "h", &[]), want, "path {path}");
    }
}

#[test]
fn methods_405_with_allow_and_method_set_is_more_specific() {
    let (a, b, c) = (
        Upstream::echo("a"),
        Upstream::echo("b"),
        Upstream::echo("c"),
    );
    let gw = Gateway::start(&build(
        &[],
        &[("a", a.addr()), ("b", b.addr()), ("c", c.addr())],
        r#"
[[routes]]
name = "m"
path_prefix = "/m"
methods = ["GET", "POST"]
upstream = "a"

[[routes]]
name = "n-any"
path_prefix = "/n"
upstream = "c"

[[routes]]
name = "n-delete"
path_prefix = "/n"
methods = ["DELETE"]
upstream = "b"
"#,
    ));
    let mut cl = gw.client();
    assert_eq!(which(&mut cl, "GET", "/m/1", "h", &[]), "a");
    let r = cl.roundtrip(&req("POST", "/m/1", "h", &[], b"x"));
    assert_eq!(r.upstream(), Some("a"), "{}", r.summary());

    let r = cl.roundtrip(&req("DELETE", "/m/1", "h", &[], b""));
    assert_error(&r, 405, "method_not_allowed");
    assert_eq!(r.header_all("allow"), vec!["GET, POST"], "{}", r.summary());
    // 405 keeps the connection.
    assert_eq!(which(&mut cl, "GET", "/m", "h", &[]), "a");

    // A route with a method set is more specific than one without.
    assert_eq!(which(&mut cl, "DELETE", "/n/1", "h", &[]), "b");
    assert_eq!(which(&mut cl, "GET", "/n/1", "h", &[]), "c");
    assert!(a.requests().iter().all(|r| r.method != "DELETE"));
}

#[test]
fn header_matchers_more_matchers_win_and_ties_go_to_file_order() {
    let ups: Vec<Upstream> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|n| Upstream::echo(n))
        .collect();
    let named: Vec<(&str, std::net::SocketAddr)> = ["a", "b", "c", "d", "e"]
        .iter()
        .zip(&ups)
        .map(|(n, u)| (*n, u.addr()))
        .collect();
    let gw = Gateway::start(&build(
        &[],
        &named,
        r#"
[[routes]]
name = "plain"
path_prefix = "/h"
upstream = "d"

[[routes]]
name = "tenant"
path_prefix = "/h"
headers = { "x-tenant" = "acme" }
upstream = "b"

[[routes]]
name = "nodebug"
path_prefix = "/h"
headers = { "x-debug" = false }
upstream = "c"

[[routes]]
name = "two"
path_prefix = "/h"
headers = { "x-tenant" = "acme", "x-beta" = true }
upstream = "a"

[[routes]]
name = "first"
path_prefix = "/t"
upstream = "a"

[[routes]]
name = "second"
path_prefix = "/t"
upstream = "e"
"#,
    ));
    let mut cl = gw.client();
    let w = |cl: &mut RawClient, h: &[(&str, &str)]| which(cl, "GET", "/h/1", "h", h);
    assert_eq!(w(&mut cl, &[("x-tenant", "acme"), ("x-beta", "yes")]), "a");
    // One matcher each: "tenant" comes before "nodebug" in the file.
    assert_eq!(w(&mut cl, &[("X-Tenant", "acme")]), "b");
    assert_eq!(w(&mut cl, &[("x-tenant", "other")]), "c");
    assert_eq!(w(&mut cl, &[("x-beta", "1")]), "c");
    assert_eq!(w(&mut cl, &[("x-tenant", "other"), ("x-debug", "1")]), "d");
    assert_eq!(w(&mut cl, &[("x-tenant", "acme"), ("x-debug", "1")]), "b");
    // A matcher header sent twice or as a list is refused before routing
    // (issue 10: the route chosen and the upstream must read one value);
    // the refusal closes the connection, so each gets its own.
    for dup in [
        &[
            ("x-tenant", "other"),
            ("x-tenant", "acme"),
            ("x-debug", "1"),
        ][..],
        &[("x-tenant", "other, acme")][..],
    ] {
        assert_eq!(w(&mut gw.client(), dup), "400 ambiguous_header");
    }
    // Identical routes: the first in the file wins.
    assert_eq!(which(&mut cl, "GET", "/t", "h", &[]), "a");
    assert_eq!(which(&mut cl, "GET", "/t/x", "h", &[]), "a");
}

#[test]
fn specificity_order_is_host_then_path_then_headers() {
    let (a, b, c) = (
        Upstream::echo("a"),
        Upstream::echo("b"),
        Upstream::echo("c"),
    );
    let gw = Gateway::start(&build(
        &[],
        &[("a", a.addr()), ("b", b.addr()), ("c", c.addr())],
        r#"
[[routes]]
name = "exact-path"
path = "/x"
headers = { "x-k" = true }
upstream = "b"

[[routes]]
name = "host"
host = "api.example.com"
path_prefix = "/"
upstream = "a"

[[routes]]
name = "short-prefix-with-header"
path_prefix = "/p"
headers = { "x-k" = true }
upstream = "a"

[[routes]]
name = "long-prefix"
path_prefix = "/p/q"
upstream = "c"
"#,
    ));
    let mut cl = gw.client();
    // Host exact outranks an exact path with a header matcher.
    assert_eq!(
        which(&mut cl, "GET", "/x", "api.example.com", &[("x-k", "1")]),
        "a"
    );
    assert_eq!(which(&mut cl, "GET", "/x", "other", &[("x-k", "1")]), "b");
    // A longer prefix outranks more header matchers.
    assert_eq!(
        which(&mut cl, "GET", "/p/q/1", "other", &[("x-k", "1")]),
        "c"
    );
    assert_eq!(which(&mut cl, "GET", "/p/1", "other", &[("x-k", "1")]), "a");
}

#[test]
fn strip_prefix_and_rewrite_prefix() {
    let up = Upstream::echo("u");
    let gw = Gateway::start(&build(
        &[],
        &[("u", up.addr())],
        r#"
[[routes]]
name = "strip"
path_prefix = "/api/users"
strip_prefix = "/api"
upstream = "u"

[[routes]]
name = "rewrite"
path_prefix = "/api/orders"
rewrite_prefix = "/v2/orders"
upstream = "u"

[[routes]]
name = "strip-all"
path_prefix = "/svc"
strip_prefix = "/svc"
upstream = "u"
"#,
    ));
    let mut cl = gw.client();
    let cases = [
        ("/api/users/7?a=1&b=2", "/users/7?a=1&b=2"),
        ("/api/users", "/users"),
        ("/api/orders/9?x", "/v2/orders/9?x"),
        ("/api/orders", "/v2/orders"),
        ("/svc", "/"),
        ("/svc/a/b", "/a/b"),
    ];
    for (path, want) in cases {
        let r = route_to(&mut cl, path, "h", &[]);
        assert_eq!(r.status, 200, "{path}: {}", r.summary());
        assert_eq!(up.last().target, want, "{path}");
        assert_eq!(r.json()["target"], want);
    }
}

#[test]
fn request_header_set_add_remove() {
    let up = Upstream::echo("u");
    let gw = Gateway::start(&build(
        &[],
        &[("u", up.addr())],
        r#"
[[routes]]
name = "r"
path_prefix = "/"
upstream = "u"
request_headers = { set = { "x-gateway" = "ringway" }, add = { "x-extra" = "1" }, remove = ["cookie"] }
"#,
    ));
    let mut cl = gw.client();
    let r = route_to(
        &mut cl,
        "/a",
        "h",
        &[
            ("X-Gateway", "evil"),
            ("X-Extra", "0"),
            ("Cookie", "a=b"),
            ("cookie", "c=d"),
            ("X-Other", "kept"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    let got = up.last();
    assert_eq!(
        got.header_all("x-gateway"),
        vec!["ringway"],
        "{}",
        got.head_text()
    );
    let mut extra = got.header_all("x-extra");
    extra.sort();
    assert_eq!(extra, vec!["0", "1"], "{}", got.head_text());
    assert!(got.header_all("cookie").is_empty(), "{}", got.head_text());
    assert_eq!(got.header_all("x-other"), vec!["kept"]);
}

#[test]
fn response_header_set_and_remove() {
    let up = Upstream::start("u", |_| {
        Reply::Raw(fixed_response(
            "Server: upstreamd\r\nX-Served-By: other\r\nX-Keep: k\r\n",
            b"ok",
        ))
    });
    let gw = Gateway::start(&build(
        &[],
        &[("u", up.addr())],
        r#"
[[routes]]
name = "r"
path_prefix = "/"
upstream = "u"
response_headers = { set = { "x-served-by" = "gw" }, remove = ["server"] }
"#,
    ));
    let mut cl = gw.client();
    let r = route_to(&mut cl, "/", "h", &[]);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.header_all("x-served-by"), vec!["gw"], "{}", r.summary());
    assert!(
        !r.header_all("server").contains(&"upstreamd"),
        "server header not removed: {}",
        r.summary()
    );
    assert_eq!(r.header_all("x-keep"), vec!["k"]);
    assert_eq!(r.body, b"ok");
}

#[test]
fn not_found_is_json_and_keeps_the_connection() {
    let up = Upstream::echo("u");
    let gw = Gateway::start(&build(
        &[],
        &[("u", up.addr())],
        "[[routes]]\nname = \"r\"\npath_prefix = \"/api\"\nupstream = \"u\"\n",
    ));
    let mut cl = gw.client();
    let r = route_to(&mut cl, "/nope", "h", &[]);
    assert_error(&r, 404, "route_not_found");
    assert_eq!(r.header("content-type"), Some("application/json"));
    let j = r.json();
    assert_eq!(j["error"]["status"], 404);
    assert_eq!(j["error"]["request_id"].as_str(), r.header("x-request-id"));
    assert!(
        !r.says_close(),
        "404 must keep the connection: {}",
        r.summary()
    );
    let r = route_to(&mut cl, "/api/x", "h", &[]);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(up.requests().len(), 1);
}
