//! Issue 10's rule on the wire: no spelling of a protected path may reach
//! the upstream through a less protected route. A table of spellings (encoded
//! and raw separators, `;` parameters, dot segments, trailing dots and
//! spaces, overlong UTF-8, case, trailing slash, absolute form, method case)
//! is sent to a gateway whose protected routes need a JWT and whose
//! catch-all `/` is public; each must be refused (400, with its code) or
//! answered 401, and the one recording upstream must see nothing. Then the
//! same spellings under `escaped_slashes = "decode"` + `path_params =
//! "strip"`: they reach the protected route, and with a token the upstream
//! receives exactly the normalised path (and, opted in, the raw one in a
//! header).

mod common;

use serde_json::json;

use common::mint::{now, Signer};
use common::*;

const SECRET: &str = "path-spellings-hs256-secret-0123456789abcdef";

/// `[auth.hs]` plus the protected routes and the public catch-all.
/// `/admin` ignores case (the upstream is taken to be Express- or
/// ASP.NET-like, see docs/config.md); `/exact/secret` and the
/// write methods on `/data` do not.
fn routes(admin_extra: &str) -> String {
    let file = write_config(SECRET);
    format!(
        r#"[auth.hs]
kind = "jwt"
algorithms = ["HS256"]
secret = "file:{}"

[[routes]]
name = "admin"
path_prefix = "/admin"
case_sensitive = false
upstream = "u"
auth = ["hs"]
{admin_extra}

[[routes]]
name = "secret"
path = "/exact/secret"
upstream = "u"
auth = ["hs"]

[[routes]]
name = "writes"
path_prefix = "/data"
methods = ["DELETE", "PUT", "POST", "PATCH"]
upstream = "u"
auth = ["hs"]

[[routes]]
name = "public"
path_prefix = "/"
upstream = "u"
"#,
        file.display()
    )
}

fn gateway(up: &Upstream, server: &[(&str, &str)], admin_extra: &str) -> Gateway {
    Gateway::start(&build(server, &[("u", up.addr())], &routes(admin_extra)))
}

fn token() -> String {
    let claims = json!({"sub": "user-1", "exp": now() + 600});
    Signer::hmac(SECRET.as_bytes(), "HS256").token(None, &claims)
}

/// What the gateway must answer a spelling with.
#[derive(Clone, Copy, Debug)]
enum Want {
    /// 400 with this error code, connection closed.
    Refused(&'static str),
    /// 401: the protected route took it.
    Auth,
}

use Want::{Auth, Refused};

const AMBIG: Want = Refused("ambiguous_path");
const INVALID: Want = Refused("invalid_path");
const METHOD: Want = Refused("invalid_method");

/// (method, request-target, verdict) under the default modes.
const SPELLINGS: &[(&str, &str, Want)] = &[
    // Encoded and raw separators (High 1, Medium 3).
    ("GET", "/admin%2Fusers", AMBIG),
    ("GET", "/admin%2fusers", AMBIG),
    ("GET", "/admin%2F", AMBIG),
    ("GET", "/admin%5Cusers", AMBIG),
    ("GET", "/admin%5cusers", AMBIG),
    ("GET", "/admin\\users", AMBIG),
    ("GET", "/public\\..\\admin", AMBIG),
    ("GET", "/public/..%2Fadmin", AMBIG),
    ("GET", "/public/..%2fadmin", AMBIG),
    ("GET", "/public/..%5Cadmin", AMBIG),
    ("GET", "/..%2Fadmin", AMBIG),
    ("GET", "/public/%2e%2e%2fadmin", AMBIG),
    ("GET", "\\admin", INVALID),
    // `;` parameters.
    ("GET", "/admin;x=1", AMBIG),
    ("GET", "/admin;jsessionid=1/x", AMBIG),
    ("GET", "/admin%3Bx", AMBIG),
    ("GET", "/admin%3bx", AMBIG),
    ("GET", "/public/..;/admin", AMBIG),
    ("GET", "/admin/..;/admin", AMBIG),
    // Dot segments and merged slashes resolve onto the protected route.
    ("GET", "//admin", Auth),
    ("GET", "///admin//users", Auth),
    ("GET", "/./admin", Auth),
    ("GET", "/admin/.", Auth),
    ("GET", "/admin/./users", Auth),
    ("GET", "/public/../admin", Auth),
    ("GET", "/public/%2e%2e/admin", Auth),
    ("GET", "/public/%2E%2E/admin", Auth),
    ("GET", "/public/.%2e/admin", Auth),
    ("GET", "/%2e%2e/admin", Auth),
    ("GET", "/%2e/admin", Auth),
    // Unreserved escapes and case (the route sets case_sensitive = false).
    ("GET", "/%61dmin", Auth),
    ("GET", "/%41DMIN", Auth),
    ("GET", "/ADMIN", Auth),
    ("GET", "/Admin/users", Auth),
    // Trailing dots and spaces that Windows servers strip.
    ("GET", "/admin.", AMBIG),
    ("GET", "/admin..", AMBIG),
    ("GET", "/admin%2E", AMBIG),
    ("GET", "/admin%2e/users", AMBIG),
    ("GET", "/admin./users", AMBIG),
    ("GET", "/admin%20", AMBIG),
    ("GET", "/admin%20/users", AMBIG),
    ("GET", "/admin.%20", AMBIG),
    ("GET", "/admin/..%20/admin", AMBIG),
    // Overlong and other non-UTF-8 decodings (IIS read %C0%AF as '/').
    ("GET", "/public%C0%AFadmin", INVALID),
    ("GET", "/public/%C0%AE%C0%AE/admin", INVALID),
    ("GET", "/public/%E0%80%AF../admin", INVALID),
    ("GET", "/public/%F0%80%80%AF../admin", INVALID),
    ("GET", "/public/%c1%9c../admin", INVALID),
    ("GET", "/admin%FF", INVALID),
    ("GET", "/admin%u002f", INVALID),
    ("GET", "/admin%00", INVALID),
    ("GET", "/admin%zz", INVALID),
    ("GET", "/admin#x", INVALID),
    // The exact route: trailing slash and the rest.
    ("GET", "/exact/secret", Auth),
    ("GET", "/exact/secret/", Auth),
    ("GET", "/exact/secret/.", Auth),
    ("GET", "/exact//secret", Auth),
    ("GET", "/exact/./secret", Auth),
    ("GET", "/exact/x/../secret", Auth),
    ("GET", "/exact/%73ecret", Auth),
    ("GET", "/exact/secret%2f", AMBIG),
    ("GET", "/exact/secret%2F", AMBIG),
    ("GET", "/exact/secret%5C", AMBIG),
    ("GET", "/exact/secret;x", AMBIG),
    ("GET", "/exact/secret.", AMBIG),
    ("GET", "/exact/secret%20", AMBIG),
    // Absolute form and queries.
    ("GET", "http://h/admin%2Fx", AMBIG),
    ("GET", "http://h/admin", Auth),
    ("GET", "HTTP://h//admin/", Auth),
    ("GET", "http://h/public/../exact/secret/", Auth),
    ("GET", "/admin?x", Auth),
    ("GET", "/admin?/public", Auth),
    ("GET", "/admin/?a=%2F..", Auth),
    // Methods (High 2): exact, case-sensitive tokens.
    ("DELETE", "/data/x", Auth),
    ("PUT", "/data/x", Auth),
    ("PATCH", "//data/./x", Auth),
    ("POST", "/public/../data/x", Auth),
    ("delete", "/data/x", METHOD),
    ("Delete", "/data/x", METHOD),
    ("dElEtE", "/data/x", METHOD),
    ("put", "/data/x", METHOD),
    ("Post", "/data/x", METHOD),
    ("patch", "/data/x", METHOD),
    ("get", "/admin", METHOD),
    ("Get", "/public/x", METHOD),
    ("DELETE", "/data%2Fx", AMBIG),
    ("DELETE", "/data;x", AMBIG),
];

fn send(gw: &Gateway, method: &str, target: &str, hdrs: &[(&str, &str)]) -> (Response, RawClient) {
    let mut cl = gw.client();
    let body: &[u8] = if ["POST", "PUT", "PATCH"].contains(&method) {
        b"{}"
    } else {
        b""
    };
    let r = cl.roundtrip(&req(method, target, "h", hdrs, body));
    (r, cl)
}

#[test]
fn no_spelling_of_a_protected_path_reaches_the_upstream_unauthenticated() {
    assert!(SPELLINGS.len() >= 40);
    let up = Upstream::echo("u");
    let gw = gateway(&up, &[], "");

    // The setup is live: the catch-all is public, the routes need a token.
    let (r, _) = send(&gw, "GET", "/public/x", &[]);
    assert_eq!(r.status, 200, "{}", r.summary());
    let (r, _) = send(&gw, "DELETE", "/public/x", &[]);
    assert_eq!(r.status, 200, "{}", r.summary());
    let bearer = format!("Bearer {}", token());
    let (r, _) = send(&gw, "GET", "/ADMIN/x", &[("Authorization", &bearer)]);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(up.last().target, "/ADMIN/x", "case is forwarded as sent");
    let seen = up.requests().len();
    assert_eq!(seen, 3);

    let mut failures = Vec::new();
    for &(method, target, want) in SPELLINGS {
        let (r, mut cl) = send(&gw, method, target, &[]);
        let ok = match want {
            Refused(code) => {
                r.status == 400
                    && r.error_code().as_deref() == Some(code)
                    && cl.is_closed(std::time::Duration::from_secs(3))
            }
            Auth => r.status == 401 && r.error_code().as_deref() == Some("missing_credentials"),
        };
        if !ok {
            failures.push(format!(
                "{method} {target}: want {want:?}, got {}",
                r.summary()
            ));
        }
        let now_seen = up.requests();
        if now_seen.len() != seen {
            let last = &now_seen[now_seen.len() - 1];
            failures.push(format!(
                "{method} {target}: the upstream received {} {}",
                last.method, last.target
            ));
            panic!("{failures:#?}");
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn what_is_not_a_spelling_of_the_protected_path_stays_public_and_unchanged() {
    let up = Upstream::echo("u");
    let gw = gateway(&up, &[], "");
    // (target, forwarded): one decode by the upstream gives data, not a
    // separator (`%25`); a case-sensitive route keeps its case (as Envoy
    // and nginx); GET is not in the write route's methods; a longer segment
    // is another resource.
    for (method, target, fwd) in [
        ("GET", "/admin%252Fx", "/admin%252Fx"),
        ("GET", "/admin%252e", "/admin%252e"),
        ("GET", "/Exact/Secret", "/Exact/Secret"),
        ("GET", "/exact/secret/x", "/exact/secret/x"),
        ("GET", "/exact/secrets", "/exact/secrets"),
        ("GET", "/adminx", "/adminx"),
        ("GET", "/data/x", "/data/x"),
        ("PURGE", "/data/x", "/data/x"),
        ("GET", "/public/a.b%20c", "/public/a.b%20c"),
    ] {
        let (r, _) = send(&gw, method, target, &[]);
        assert_eq!(r.status, 200, "{method} {target}: {}", r.summary());
        let got = up.last();
        assert_eq!((got.method.as_str(), got.target.as_str()), (method, fwd));
    }
}

/// (target, path the upstream receives) under decode + strip.
const DECODED: &[(&str, &str)] = &[
    ("/admin%2Fusers", "/admin/users"),
    ("/admin%2fusers", "/admin/users"),
    ("/admin%5Cusers", "/admin/users"),
    ("/admin\\users", "/admin/users"),
    ("/public/..%2Fadmin", "/admin"),
    ("/public/..%5cadmin/x", "/admin/x"),
    ("/public\\..\\admin", "/admin"),
    ("/..%2Fadmin", "/admin"),
    ("/admin;x=1", "/admin"),
    ("/admin;jsessionid=1/x", "/admin/x"),
    ("/public/..;x/admin", "/admin"),
    ("/;x/admin", "/admin"),
    ("/ADMIN;x%2F/Users", "/ADMIN/Users"),
    ("/exact/secret%2f", "/exact/secret/"),
    ("/exact%2Fsecret", "/exact/secret"),
    ("/exact/secret;jsessionid=9", "/exact/secret"),
    ("/exact/x;a/..%2Fsecret", "/exact/secret"),
    ("http://h/admin%2Fx?q=%2F", "/admin/x?q=%2F"),
];

#[test]
fn decode_and_strip_route_the_decoded_path_and_forward_it() {
    let up = Upstream::echo("u");
    let server = [
        ("escaped_slashes", "\"decode\""),
        ("path_params", "\"strip\""),
    ];
    let gw = gateway(&up, &server, "original_path_header = \"x-original-path\"");
    let bearer = format!("Bearer {}", token());
    for &(target, _) in DECODED {
        let (r, _) = send(&gw, "GET", target, &[]);
        assert_error(&r, 401, "missing_credentials");
        assert!(up.requests().is_empty(), "{target} reached the upstream");
    }
    for &(target, fwd) in DECODED {
        let auth = [
            ("Authorization", bearer.as_str()),
            ("X-Original-Path", "/spoofed"),
        ];
        let (r, _) = send(&gw, "GET", target, &auth);
        assert_eq!(r.status, 200, "{target}: {}", r.summary());
        let got = up.last();
        assert_eq!(got.target, fwd, "{target}");
        // Only the admin route opts in to the raw path header, and there a
        // client's copy never passes through; elsewhere it is not touched.
        let raw = target.strip_prefix("http://h").unwrap_or(target);
        let raw = raw.split('?').next().unwrap_or(raw);
        let want: Vec<&str> = if fwd.starts_with("/admin") || fwd.starts_with("/ADMIN") {
            vec![raw]
        } else {
            vec!["/spoofed"]
        };
        assert_eq!(got.header_all("x-original-path"), want, "{target}");
    }
    // Still refused in these modes: a `%3B` is data (so `/admin%3Bx` is
    // another resource), trailing dots and spaces, bad UTF-8, method case.
    let (r, _) = send(&gw, "GET", "/admin%3Bx", &[]);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(up.last().target, "/admin%3Bx");
    for (method, target, code) in [
        ("GET", "/admin.", "ambiguous_path"),
        ("GET", "/admin.;x", "ambiguous_path"),
        ("GET", "/admin%2E%2F", "ambiguous_path"),
        ("GET", "/admin%20%2Fx", "ambiguous_path"),
        ("GET", "/public%C0%AFadmin", "invalid_path"),
        ("GET", "/public;%C0%AF/admin", "invalid_path"),
        ("delete", "/data%2Fx", "invalid_method"),
    ] {
        let before = up.requests().len();
        let (r, _) = send(&gw, method, target, &[]);
        assert_error(&r, 400, code);
        assert_eq!(up.requests().len(), before, "{target} reached the upstream");
    }
}

#[test]
fn the_original_path_header_is_opt_in_and_the_request_line_is_normalised() {
    let up = Upstream::echo("u");
    let gw = gateway(&up, &[], "original_path_header = \"x-original-path\"");
    let bearer = format!("Bearer {}", token());
    let auth = [("Authorization", bearer.as_str())];
    let (r, _) = send(&gw, "GET", "//ADMIN/./a/../%75sers?q=1", &auth);
    assert_eq!(r.status, 200, "{}", r.summary());
    let got = up.last();
    assert_eq!(got.target, "/ADMIN/users?q=1");
    assert_eq!(
        got.header_all("x-original-path"),
        ["//ADMIN/./a/../%75sers"]
    );
    let (r, _) = send(&gw, "GET", "/public/x", &[("x-original-path", "/admin")]);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(
        up.last().header_all("x-original-path"),
        ["/admin"],
        "a route without the key forwards the header untouched"
    );
}
