//! `[[routes]]` validation: every rule, with its key and line.

use super::*;
use crate::http::Method;
use crate::route::{HostMatch, PathMatch, PathRewrite, RouteMatch};

/// Lines 1-6: a valid server and one upstream named "users".
const BASE: &str = "[server]
listen = \"127.0.0.1:8080\"

[[upstreams]]
name = \"users\"
targets = [\"127.0.0.1:3001\"]
";

/// BASE plus one route: `[[routes]]` on line 8, then name, upstream, and
/// `extra` from line 11.
fn route(extra: &str) -> String {
    format!("{BASE}\n[[routes]]\nname = \"r\"\nupstream = \"users\"\n{extra}\n")
}

/// Exactly one error, at `key` on `line`; returns its message.
pub fn only(src: &str, key: &str, line: usize) -> String {
    let errs = match load_str(src, "t.toml") {
        Ok(_) => panic!("expected an error for:\n{src}"),
        Err(e) => e.0,
    };
    assert_eq!(errs.len(), 1, "{src}\n{errs:#?}");
    assert_eq!(
        (errs[0].key.as_str(), errs[0].line),
        (key, Some(line)),
        "{src}\n{errs:#?}"
    );
    errs[0].message.clone()
}

fn ok(src: &str) -> Compiled {
    load_str(src, "t.toml").unwrap_or_else(|e| panic!("{src}\n{e}"))
}

#[test]
fn path_rules() {
    only(&route(""), "routes[0]", 8);
    let m = only(
        &route("path = \"/a\"\npath_prefix = \"/a\""),
        "routes[0].path_prefix",
        12,
    );
    assert!(m.contains("mutually exclusive"), "{m}");
    only(&route("path = \"a\""), "routes[0].path", 11);
    only(
        &route("path_prefix = \"/a//b\""),
        "routes[0].path_prefix",
        11,
    );
    only(
        &route("path_prefix = \"/a/../b\""),
        "routes[0].path_prefix",
        11,
    );
    only(&route("path = \"/a?x=1\""), "routes[0].path", 11);
}

#[test]
fn method_rules() {
    let m = only(
        &route("path = \"/\"\nmethods = [\"get\", \"FETCH\"]"),
        "routes[0].methods[1]",
        12,
    );
    assert!(m.contains("FETCH") && m.contains("known: GET"), "{m}");
    only(
        &route("path = \"/\"\nmethods = []"),
        "routes[0].methods",
        12,
    );
    let c = ok(&route("path = \"/\"\nmethods = [\"post\", \"Get\"]"));
    assert_eq!(c.router.routes()[0].allow(), "GET, POST");
}

#[test]
fn host_rules() {
    for bad in ["*", "a:80", "a..b", "*.*.b", "x/y", ""] {
        let m = only(
            &route(&format!("path = \"/\"\nhost = \"{bad}\"")),
            "routes[0].host",
            12,
        );
        assert!(m.contains("host"), "{m}");
    }
    let c = ok(&route("path = \"/\"\nhost = \"*.Example.COM.\""));
    assert_eq!(
        c.router.routes()[0].host(),
        &HostMatch::Suffix(b".example.com".as_slice().into())
    );
}

#[test]
fn header_matcher_rules() {
    only(
        &route("path = \"/\"\nheaders = { \"x a\" = true }"),
        "routes[0].headers.x a",
        12,
    );
    only(
        &route("path = \"/\"\nheaders = { x-a = \"a\\r\\nb\" }"),
        "routes[0].headers.x-a",
        12,
    );
    only(
        &route("path = \"/\"\nheaders = { x-a = \"a\\u0000\" }"),
        "routes[0].headers.x-a",
        12,
    );
    let m = only(
        &route("path = \"/\"\nheaders = { x-a = true, X-A = false }"),
        "routes[0].headers.x-a",
        12,
    );
    assert!(m.contains("twice"), "{m}");
}

#[test]
fn upstream_reference_rules() {
    let m = only(
        &route("path = \"/\"").replace("upstream = \"users\"", "upstream = \"nope\""),
        "routes[0].upstream",
        10,
    );
    assert!(m.contains("defined: users"), "{m}");
    let none = "[server]\nlisten = \"127.0.0.1:1\"\n[[routes]]\nname = \"r\"\npath = \"/\"\nupstream = \"u\"\n";
    let m = only(none, "routes[0].upstream", 6);
    assert!(m.contains("no [[upstreams]]"), "{m}");
    let missing = "[server]\nlisten = \"127.0.0.1:1\"\n[[routes]]\nname = \"r\"\npath = \"/\"\n";
    only(missing, "routes[0].upstream", 3);
}

#[test]
fn name_rules() {
    let two = format!(
        "{}\n[[routes]]\nname = \"r\"\npath = \"/b\"\nupstream = \"users\"\n",
        route("path = \"/a\"")
    );
    let m = only(&two, "routes[1].name", 14);
    assert!(m.contains("duplicate") && m.contains("routes[0]"), "{m}");
    only(
        &route("path = \"/\"").replace("name = \"r\"", "name = \"has space\""),
        "routes[0].name",
        9,
    );
    only(
        &route("path = \"/\"").replace("name = \"r\"\n", ""),
        "routes[0].name",
        8,
    );
    for dots in [".", ".."] {
        let m = only(
            &route("path = \"/\"").replace("name = \"r\"", &format!("name = \"{dots}\"")),
            "routes[0].name",
            9,
        );
        assert!(m.contains("other than . and .."), "{m}");
    }
    assert_eq!(crate::config::check_name("v1.2"), Ok(()));
    assert_eq!(crate::config::check_name(".hidden"), Ok(()));
    assert_eq!(crate::config::check_name("..."), Ok(()));
}

#[test]
fn rewrite_rules() {
    let m = only(
        &route("path_prefix = \"/api\"\nstrip_prefix = \"/api\"\nrewrite_prefix = \"/v2\""),
        "routes[0].rewrite_prefix",
        13,
    );
    assert!(m.contains("mutually exclusive"), "{m}");
    only(
        &route("path = \"/api\"\nrewrite_prefix = \"/v2\""),
        "routes[0].rewrite_prefix",
        12,
    );
    only(
        &route("path_prefix = \"/api\"\nrewrite_prefix = \"v2\""),
        "routes[0].rewrite_prefix",
        12,
    );
    only(
        &route("path_prefix = \"/api\"\nstrip_prefix = \"/\""),
        "routes[0].strip_prefix",
        12,
    );
    let m = only(
        &route("path_prefix = \"/api/users\"\nstrip_prefix = \"/v1\""),
        "routes[0].strip_prefix",
        12,
    );
    assert!(m.contains("never apply"), "{m}");
    only(
        &route("path = \"/api\"\nstrip_prefix = \"/api/users\""),
        "routes[0].strip_prefix",
        12,
    );

    let c = ok(&route(
        "path_prefix = \"/api/users\"\nstrip_prefix = \"/api/\"",
    ));
    assert_eq!(
        c.router.routes()[0].rewrite,
        PathRewrite::Strip(b"/api".as_slice().into())
    );
    let c = ok(&route("path_prefix = \"/\"\nstrip_prefix = \"/api\""));
    assert_eq!(
        c.router.routes()[0].rewrite,
        PathRewrite::Strip(b"/api".as_slice().into())
    );
    let c = ok(&route(
        "path_prefix = \"/api/users\"\nrewrite_prefix = \"/v2/users\"",
    ));
    let r = &c.router.routes()[0];
    assert_eq!(
        r.path(),
        &PathMatch::Prefix(b"/api/users".as_slice().into())
    );
    let mut out = Vec::new();
    assert!(r.rewrite_path(b"/api/users/7", &mut out));
    assert_eq!(out, b"/v2/users/7");
}

#[test]
fn header_edit_rules() {
    for (edit, key) in [
        (
            "request_headers = { set = { Content-Length = \"1\" } }",
            "request_headers.set.Content-Length",
        ),
        (
            "request_headers = { add = { host = \"x\" } }",
            "request_headers.add.host",
        ),
        (
            "request_headers = { remove = [\"Connection\"] }",
            "request_headers.remove[0]",
        ),
        (
            "response_headers = { set = { transfer-encoding = \"chunked\" } }",
            "response_headers.set.transfer-encoding",
        ),
        (
            "response_headers = { remove = [\"te\", \"x-ok\"] }",
            "response_headers.remove[0]",
        ),
        (
            "response_headers = { add = { x-request-id = \"1\" } }",
            "response_headers.add.x-request-id",
        ),
        (
            "request_headers = { set = { X-Real-IP = \"1.2.3.4\" } }",
            "request_headers.set.X-Real-IP",
        ),
        (
            "request_headers = { set = { \"a b\" = \"1\" } }",
            "request_headers.set.a b",
        ),
        (
            "request_headers = { set = { x-a = \"1\\n2\" } }",
            "request_headers.set.x-a",
        ),
        (
            "request_headers = { set = { x-a = \"1\" }, add = { X-A = \"2\" } }",
            "request_headers.add.X-A",
        ),
        (
            "request_headers = { set = { x-a = \"1\" }, remove = [\"x-a\"] }",
            "request_headers.remove[0]",
        ),
        ("request_headers = { sett = {} }", "request_headers.sett"),
        (
            "request_headers = { set = { X-Forwarded-Proto = \"https\" } }",
            "request_headers.set.X-Forwarded-Proto",
        ),
        (
            "request_headers = { add = { x-forwarded-for = \"1.2.3.4\" } }",
            "request_headers.add.x-forwarded-for",
        ),
        (
            "request_headers = { remove = [\"Via\"] }",
            "request_headers.remove[0]",
        ),
    ] {
        let m = only(
            &route(&format!("path = \"/\"\n{edit}")),
            &format!("routes[0].{key}"),
            12,
        );
        assert!(!m.is_empty());
    }
    let src = route("path = \"/\"\n[routes.request_headers]\nset = { x-b = \"2\", x-a = \"1\" }\nadd = { x-c = \"3\" }\nremove = [\"Cookie\"]");
    let c = ok(&src);
    let e = &c.router.routes()[0].request_headers;
    assert_eq!(&*e.rendered, b"x-a: 1\r\nx-b: 2\r\nx-c: 3\r\n");
    assert_eq!(&*e.remove, [b"cookie".to_vec().into_boxed_slice()]);
    assert!(e.drops(b"X-B") && e.drops(b"cookie") && !e.drops(b"x-c"));
}

#[test]
fn specificity_comes_from_the_file() {
    let src = format!(
        "{BASE}
[[routes]]
name = \"catch-all\"
path_prefix = \"/\"
upstream = \"users\"

[[routes]]
name = \"api-get\"
path_prefix = \"/api\"
methods = [\"GET\"]
upstream = \"users\"

[[routes]]
name = \"api\"
path_prefix = \"/api\"
upstream = \"users\"
"
    );
    let c = ok(&src);
    let names: Vec<&str> = c.router.routes().iter().map(|r| &*r.name).collect();
    assert_eq!(names, ["api-get", "api", "catch-all"]);
    let find = |m| match c.router.find_in(m, None, b"/api/x", std::iter::empty()) {
        RouteMatch::Found(r) => r.name.to_string(),
        other => format!("{other:?}"),
    };
    assert_eq!(find(Method::Get), "api-get");
    assert_eq!(find(Method::Put), "api");
}

#[test]
fn path_mode_and_case_and_original_path_keys() {
    let server = |extra: &str| BASE.replace("listen = ", &format!("{extra}\nlisten = "));
    let c = ok(&server(
        "escaped_slashes = \"decode\"\npath_params = \"strip\"",
    ));
    assert_eq!(
        c.server.path_mode.escaped_slashes,
        crate::http::EscapedSlashes::Decode
    );
    assert_eq!(
        c.server.path_mode.path_params,
        crate::http::PathParams::Strip
    );
    assert_eq!(ok(BASE).server.path_mode, crate::http::PathMode::default());
    let m = only(
        &server("escaped_slashes = \"merge\""),
        "server.escaped_slashes",
        2,
    );
    assert!(m.contains("\"reject\" or \"decode\""), "{m}");
    let m = only(&server("path_params = \"keep\""), "server.path_params", 2);
    assert!(m.contains("\"reject\" or \"strip\""), "{m}");

    let c = ok(&route(
        "path_prefix = \"/admin\"\ncase_sensitive = false\noriginal_path_header = \"X-Original-Path\"",
    ));
    let r = &c.router.routes()[0];
    assert_eq!(
        r.original_path_header.as_deref(),
        Some(&b"x-original-path"[..])
    );
    // A client's own copy is dropped so it cannot pass for the gateway's.
    assert!(r.request_headers.drops(b"X-Original-Path"));
    let any = |p: &str| {
        c.router
            .find_in(Method::Get, None, p.as_bytes(), std::iter::empty())
    };
    assert!(matches!(any("/ADMIN/x"), RouteMatch::Found(_)));
    let c = ok(&route("path_prefix = \"/admin\""));
    assert!(c.router.routes()[0].original_path_header.is_none());
    let strict = |p: &str| {
        c.router
            .find_in(Method::Get, None, p.as_bytes(), std::iter::empty())
    };
    assert!(matches!(strict("/ADMIN/x"), RouteMatch::NotFound));
    for bad in [
        "x original",
        "host",
        "content-length",
        "x-forwarded-for",
        "via",
    ] {
        let src = route(&format!("path = \"/a\"\noriginal_path_header = \"{bad}\""));
        only(&src, "routes[0].original_path_header", 12);
    }
    // The gateway writes that header: a route edit of it would be a second line.
    let m = only(
        &route("path = \"/a\"\noriginal_path_header = \"x-orig\"\nrequest_headers = { set = { X-Orig = \"1\" } }"),
        "routes[0].original_path_header",
        12,
    );
    assert!(m.contains("two"), "{m}");
    // Response edits of the request-side names stay allowed.
    ok(&route(
        "path = \"/\"\nresponse_headers = { set = { via = \"edge\" } }",
    ));
    only(
        &route("path = \"/a\"\ncase_sensitive = \"no\""),
        "routes[0].case_sensitive",
        12,
    );
}

#[test]
fn upgrade_tokens() {
    let prefix = "path_prefix = \"/\"\n";
    let c = ok(&route(prefix));
    assert!(c.router.routes()[0].upgrade.is_empty(), "none by default");
    let c = ok(&route(&format!(
        "{prefix}upgrade = [\"WebSocket\", \"h2c\"]"
    )));
    let got: Vec<&[u8]> = c.router.routes()[0].upgrade.iter().map(|t| &**t).collect();
    assert_eq!(got, [&b"websocket"[..], b"h2c"], "stored lower-case");
    let m = only(
        &route(&format!("{prefix}upgrade = []")),
        "routes[0].upgrade",
        12,
    );
    assert!(m.contains("omit"), "{m}");
    for bad in ["web socket", "", "websocket/13", "a,b"] {
        let src = route(&format!("{prefix}upgrade = [\"websocket\", {bad:?}]"));
        let m = only(&src, "routes[0].upgrade[1]", 12);
        assert!(m.contains("not a token"), "{m}");
    }
    let m = only(
        &route(&format!("{prefix}upgrade = [\"websocket\", \"WEBSOCKET\"]")),
        "routes[0].upgrade[1]",
        12,
    );
    assert!(m.contains("twice"), "{m}");
}
