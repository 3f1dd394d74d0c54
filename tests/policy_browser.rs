//! Browser-facing policies on the wire: CORS preflights answered by the
//! gateway (even on routes that do not list OPTIONS, and before
//! authentication), `access-control-*` on responses for allowed origins
//! only (gateway errors included), and `security_headers`.

mod common;

use common::*;

const ROUTES: &str = r#"[auth.k]
kind = "api_key"
keys = [ { id = "a", sha256 = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae" } ]

[[routes]]
name = "api"
path_prefix = "/api"
methods = ["GET", "POST"]
upstream = "u"
auth = ["k"]
cors = { origins = ["https://app.example"], headers = ["x-api-key", "content-type"], credentials = true, max_age_s = 600 }
security_headers = { "x-frame-options" = "SAMEORIGIN", "referrer-policy" = false }

[[routes]]
name = "open"
path_prefix = "/open"
upstream = "u"
cors = { origins = ["*"] }
security_headers = true
"#;

/// An upstream that sends its own CORS and frame headers (which the
/// gateway must replace), behind a gateway on `ROUTES`.
fn start() -> (Upstream, Gateway) {
    let up = Upstream::start("u", |_| {
        let h =
            "access-control-allow-origin: https://evil.example\r\nx-frame-options: ALLOWALL\r\n";
        Reply::Raw(fixed_response(h, b"hi"))
    });
    let gw = Gateway::start(&build(&[], &[("u", up.addr())], ROUTES));
    (up, gw)
}

fn assert_no_cors(r: &Response) {
    let cors = r
        .headers()
        .iter()
        .any(|(n, _)| n.starts_with("access-control-"));
    assert!(!cors, "{}", r.summary());
}

fn preflight(c: &mut RawClient, path: &str, origin: &str, method: &str, headers: &str) -> Response {
    let mut h = vec![
        ("Origin", origin),
        ("Access-Control-Request-Method", method),
    ];
    if !headers.is_empty() {
        h.push(("Access-Control-Request-Headers", headers));
    }
    c.roundtrip(&req("OPTIONS", path, "h", &h, b""))
}

#[test]
fn preflights_are_answered_at_the_gateway() {
    let (up, gw) = start();
    let mut c = gw.client();
    let r = preflight(
        &mut c,
        "/api/x",
        "https://app.example",
        "POST",
        "X-Api-Key, Content-Type",
    );
    assert_eq!(r.status, 204, "{}", r.summary());
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(r.header("access-control-allow-methods"), Some("GET, POST"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("x-api-key, content-type")
    );
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    assert_eq!(r.header("vary"), Some("origin"));
    for (origin, method, headers) in [
        ("https://evil.example", "POST", ""),
        ("https://app.example", "DELETE", ""),
        ("https://app.example", "GET", "x-other"),
        ("https://app.example.evil", "GET", ""),
    ] {
        let r = preflight(&mut c, "/api/x", origin, method, headers);
        assert_eq!(r.status, 204, "{}", r.summary());
        assert_no_cors(&r);
    }
    let r = preflight(&mut c, "/open", "https://any.example", "PUT", "");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    up.assert_untouched("preflights never reach the upstream");
}

#[test]
fn responses_carry_cors_and_security_headers() {
    let (_up, gw) = start();
    let mut c = gw.client();
    let ok = [("Origin", "https://app.example"), ("X-Api-Key", "foo")];
    let r = c.roundtrip(&req("GET", "/api/x", "h", &ok, b""));
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(
        r.header_all("access-control-allow-origin"),
        vec!["https://app.example"],
        "upstream copy replaced"
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(r.header_all("x-frame-options"), vec!["SAMEORIGIN"]);
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        r.header("referrer-policy"),
        None,
        "turned off by the override"
    );
    assert_eq!(
        r.header("strict-transport-security"),
        None,
        "plain HTTP: no HSTS"
    );
    // A disallowed origin gets no CORS headers, not even the upstream's.
    let r = c.roundtrip(&req(
        "GET",
        "/api/x",
        "h",
        &[("Origin", "https://evil.example"), ("X-Api-Key", "foo")],
        b"",
    ));
    assert_eq!(r.status, 200);
    assert_no_cors(&r);
    // The gateway's own 401 carries CORS headers so the page can read it.
    let r = c.roundtrip(&req(
        "GET",
        "/api/x",
        "h",
        &[("Origin", "https://app.example")],
        b"",
    ));
    assert_error(&r, 401, "missing_credentials");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    let r = c.roundtrip(&req(
        "GET",
        "/open",
        "h",
        &[("Origin", "https://x.example")],
        b"",
    ));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
}

#[test]
fn bad_cors_and_security_config_is_reported() {
    let src = "[server]\nlisten = \"127.0.0.1:0\"\n\n[[upstreams]]\nname = \"u\"\ntargets = [\"127.0.0.1:9\"]\n\n\
        [[routes]]\nname = \"r\"\npath = \"/\"\nupstream = \"u\"\n\
        cors = { origins = [\"*\"], credentials = true }\n\
        security_headers = { \"x-custom\" = true }\n\n\
        [[routes]]\nname = \"s\"\npath = \"/s\"\nupstream = \"u\"\ncors = { origins = [\"app.example/\"] }\n";
    let path = write_config(src);
    let p = path.display().to_string();
    let out = run_cli(&["check", "--config", &p]);
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    for want in [
        format!("{p}:12: routes[0].cors.origins: \"*\" must be the only origin"),
        format!("{p}:13: routes[0].security_headers.x-custom: \"x-custom\" has no default value"),
        format!("{p}:19: routes[1].cors.origins[0]: \"app.example/\" is not an origin"),
    ] {
        assert!(
            out.stderr.contains(&want),
            "missing {want:?} in:\n{}",
            out.stderr
        );
    }
}
