//! Header rules on the wire: one-value headers (the fixed singletons and
//! every header a rate-limit key, credential or route matcher reads) sent
//! twice or as a list get 400 `ambiguous_header` and never reach the
//! upstream; names with `_` are dropped, refused or allowed; method-override
//! headers are refused; client addresses behind `trusted_proxies`; and a
//! non-canonical `Content-Length` is forwarded canonical.

mod common;

use serde_json::json;

use common::mint::{b64url, now, sha256_hex, Signer};
use common::*;

const SECRET: &str = "header-rules-secret-0123456789abcdef";

/// A gateway with: `/admin` behind an HS256 JWT (forwarding `sub` as
/// `x-user-id`), `/keys` behind an API key, `/v2` matched on `x-version`,
/// and a catch-all limited per `x-tenant`; `server` overrides `[server]`.
fn gateway(up: &Upstream, server: &[(&str, &str)]) -> Gateway {
    let secret = write_config(SECRET);
    let routes = format!(
        r#"[auth.hs]
kind = "jwt"
algorithms = ["HS256"]
secret = "file:{}"
forward_claims = {{ sub = "x-user-id" }}

[auth.keys]
kind = "api_key"
keys = [ {{ id = "k1", sha256 = "{}" }} ]

[rate_limits.tenant]
key = "header:x-tenant"
limit = 1000
period = "1m"
burst = 1000

[[routes]]
name = "admin"
path_prefix = "/admin"
upstream = "u"
auth = ["hs"]

[[routes]]
name = "keys"
path_prefix = "/keys"
upstream = "u"
auth = ["keys"]

[[routes]]
name = "v2"
path_prefix = "/"
headers = {{ x-version = "2" }}
upstream = "u"

[[routes]]
name = "rest"
path_prefix = "/"
upstream = "u"
rate_limit = "tenant"
"#,
        secret.display(),
        sha256_hex("key-1-secret"),
    );
    Gateway::start(&build(server, &[("u", up.addr())], &routes))
}

fn token() -> String {
    Signer::hmac(SECRET.as_bytes(), "HS256")
        .token(None, &json!({"sub": "user-1", "exp": now() + 600}))
}

fn alg_none() -> String {
    let body = b64url(
        json!({"sub": "admin", "exp": now() + 600})
            .to_string()
            .as_bytes(),
    );
    format!("{}.{body}.", b64url(br#"{"alg":"none"}"#))
}

/// Sends `path` with `headers` on a fresh connection; asserts 400 `code`,
/// a closed connection, and nothing upstream.
fn refused(gw: &Gateway, up: &Upstream, path: &str, headers: &[(&str, &str)], code: &str) {
    let mut c = gw.client();
    let r = c.roundtrip(&req("GET", path, "h", headers, b""));
    assert_error(&r, 400, code);
    assert!(r.says_close(), "{headers:?}: {}", r.summary());
    assert!(
        c.is_closed(std::time::Duration::from_secs(3)),
        "{headers:?}: left open"
    );
    assert_eq!(up.requests().len(), 0, "{headers:?} reached the upstream");
}

#[test]
fn one_value_headers_sent_twice_or_as_a_list_are_refused() {
    let up = Upstream::echo("u");
    let gw = gateway(&up, &[]);
    let (good, none) = (
        format!("Bearer {}", token()),
        format!("Bearer {}", alg_none()),
    );
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        // Fixed singletons: the first would be verified, both forwarded.
        (
            "/admin",
            vec![("Authorization", &good), ("Authorization", &none)],
        ),
        (
            "/admin",
            vec![("Authorization", &none), ("Authorization", &good)],
        ),
        (
            "/admin",
            vec![("authorization", &good), ("AUTHORIZATION", &good)],
        ),
        (
            "/x",
            vec![
                ("Proxy-Authorization", "Basic a"),
                ("proxy-authorization", "Basic b"),
            ],
        ),
        (
            "/x",
            vec![
                ("Content-Type", "text/plain"),
                ("Content-Type", "application/json"),
            ],
        ),
        // The rate-limit key header, twice or as a list (OWS variants).
        ("/x", vec![("x-tenant", "a"), ("x-tenant", "b")]),
        ("/x", vec![("x-tenant", "a"), ("X-Tenant", "a")]),
        ("/x", vec![("x-tenant", "a, b")]),
        ("/x", vec![("x-tenant", "a,b")]),
        ("/x", vec![("x-tenant", "a ,b")]),
        ("/x", vec![("x-tenant", "a\t,\tb")]),
        ("/x", vec![("x-tenant", "a,")]),
        // The API-key header.
        (
            "/keys",
            vec![("X-Api-Key", "key-1-secret"), ("x-api-key", "other")],
        ),
        ("/keys", vec![("X-Api-Key", "key-1-secret, other")]),
        // A route matcher header.
        ("/x", vec![("x-version", "2"), ("x-version", "1")]),
        ("/x", vec![("x-version", "2,1")]),
    ];
    for (path, headers) in &cases {
        refused(&gw, &up, path, headers, "ambiguous_header");
    }
    assert_eq!(
        gw.counter("ringway_errors_total{code=\"ambiguous_header\"}"),
        cases.len() as f64
    );

    // One value still works everywhere, and a comma inside Authorization is fine.
    let mut c = gw.client();
    let ok = |c: &mut RawClient, path: &str, h: &[(&str, &str)]| {
        let r = c.roundtrip(&req("GET", path, "h", h, b""));
        assert_eq!(r.status, 200, "{path} {h:?}: {}", r.summary());
        up.last()
    };
    let got = ok(&mut c, "/admin", &[("Authorization", &good)]);
    assert_eq!(got.header_all("authorization"), vec![good.as_str()]);
    assert_eq!(got.header_all("x-user-id"), vec!["user-1"]);
    assert_eq!(
        ok(&mut c, "/x", &[("x-tenant", " a ")]).header_all("x-tenant"),
        vec!["a"]
    );
    ok(&mut c, "/keys", &[("X-Api-Key", "key-1-secret")]);
    ok(&mut c, "/x", &[("x-version", "2")]);
    ok(
        &mut c,
        "/x",
        &[("Authorization", "Digest a=1, b=2"), ("Accept", "a, b")],
    );
    ok(&mut c, "/x", &[("X-Other", "1"), ("x-other", "2")]);
}

#[test]
fn singleton_headers_from_the_config_are_one_value_too() {
    let up = Upstream::echo("u");
    let gw = gateway(&up, &[("singleton_headers", "[\"X-Account\"]")]);
    refused(
        &gw,
        &up,
        "/x",
        &[("x-account", "a"), ("x-account", "b")],
        "ambiguous_header",
    );
    refused(&gw, &up, "/x", &[("X-Account", "a,b")], "ambiguous_header");
    let r = gw
        .client()
        .roundtrip(&req("GET", "/x", "h", &[("x-account", "a")], b""));
    assert_eq!(r.status, 200, "{}", r.summary());
}

#[test]
fn method_override_headers_are_refused() {
    let up = Upstream::echo("u");
    let gw = gateway(&up, &[]);
    for name in [
        "X-HTTP-Method-Override",
        "x-http-method",
        "X-Method-Override",
        "X-METHOD-OVERRIDE",
    ] {
        refused(
            &gw,
            &up,
            "/x",
            &[(name, "DELETE")],
            "method_override_refused",
        );
    }
}

const UNDERSCORED: [&str; 4] = ["x_user_id", "X_User_Id", "x-user_id", "x_tenant"];

#[test]
fn underscore_names_are_dropped_by_default() {
    let up = Upstream::echo("u");
    let gw = gateway(&up, &[]);
    let mut c = gw.client();
    for name in UNDERSCORED {
        let r = c.roundtrip(&req(
            "GET",
            "/x",
            "h",
            &[(name, "admin"), ("x-tenant", "t")],
            b"",
        ));
        assert_eq!(r.status, 200, "{name}: {}", r.summary());
        let got = up.last();
        assert!(
            !got.head_text().contains("admin"),
            "{name} forwarded:\n{}",
            got.head_text()
        );
    }
    // Next to a forwarded claim: the upstream sees the gateway's value only
    // (a WSGI server would read `x_user_id` as HTTP_X_USER_ID too).
    let bearer = format!("Bearer {}", token());
    let h = [
        ("x_user_id", "admin"),
        ("Authorization", bearer.as_str()),
        ("X_USER_ID", "root"),
    ];
    let r = c.roundtrip(&req("GET", "/admin", "h", &h, b""));
    assert_eq!(r.status, 200, "{}", r.summary());
    let got = up.last();
    let text = got.head_text().to_ascii_lowercase();
    assert_eq!(got.header_all("x-user-id"), vec!["user-1"], "{text}");
    for line in text.lines().skip(1) {
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        assert!(!name.contains('_'), "{text}");
        assert!(!["admin", "root"].contains(&value.trim()), "{text}");
    }
    // An underscore spelling of the key header is not a second value: it is gone.
    let r = c.roundtrip(&req(
        "GET",
        "/x",
        "h",
        &[("x-tenant", "a"), ("x_tenant", "b")],
        b"",
    ));
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(up.last().header_all("x-tenant"), vec!["a"]);
    assert_eq!(gw.counter("ringway_headers_dropped_total"), 7.0);
}

#[test]
fn underscore_names_refused_or_allowed_when_configured() {
    let up = Upstream::echo("u");
    let gw = gateway(&up, &[("underscores_in_headers", "\"reject\"")]);
    for name in UNDERSCORED {
        refused(&gw, &up, "/x", &[(name, "admin")], "invalid_header_name");
    }
    drop(gw);

    let gw = gateway(&up, &[("underscores_in_headers", "\"allow\"")]);
    let mut c = gw.client();
    for name in UNDERSCORED {
        let r = c.roundtrip(&req("GET", "/x", "h", &[(name, "admin")], b""));
        assert_eq!(r.status, 200, "{name}: {}", r.summary());
        assert_eq!(up.last().header_all(name), vec!["admin"]);
    }
    assert_eq!(gw.counter("ringway_headers_dropped_total"), 0.0);
}

/// The headers about client addresses an upstream received, in order.
fn addresses(got: &Received) -> (Vec<String>, Vec<String>, Vec<String>) {
    let all = |n: &str| got.header_all(n).into_iter().map(String::from).collect();
    (all("x-forwarded-for"), all("x-real-ip"), all("forwarded"))
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

const SPOOF: [(&str, &str); 3] = [
    ("X-Forwarded-For", "6.6.6.6, 7.7.7.7"),
    ("X-Real-IP", "6.6.6.6"),
    ("Forwarded", "for=6.6.6.6;proto=https"),
];

#[test]
fn an_untrusted_peer_cannot_claim_another_address() {
    let up = Upstream::echo("u");
    let gw = gateway(&up, &[]);
    let mut c = gw.client();
    let r = c.roundtrip(&req("GET", "/x", "h", &SPOOF, b""));
    assert_eq!(r.status, 200, "{}", r.summary());
    let got = up.last();
    assert_eq!(
        addresses(&got),
        (s(&["127.0.0.1"]), s(&["127.0.0.1"]), vec![]),
        "{}",
        got.head_text()
    );
    // Trusting another network changes nothing for this peer.
    let gw = gateway(&up, &[("trusted_proxies", "[\"10.0.0.0/8\", \"::1/128\"]")]);
    let r = gw.client().roundtrip(&req("GET", "/x", "h", &SPOOF, b""));
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(
        addresses(&up.last()),
        (s(&["127.0.0.1"]), s(&["127.0.0.1"]), vec![])
    );
}

#[test]
fn a_trusted_proxy_reports_the_client() {
    let up = Upstream::echo("u");
    let gw = gateway(
        &up,
        &[("trusted_proxies", "[\"127.0.0.1/32\", \"10.0.0.0/8\"]")],
    );
    let mut c = gw.client();
    let hops = [
        ("X-Forwarded-For", "6.6.6.6, 2.2.2.2"),
        ("X-Forwarded-For", "10.0.0.7"),
        ("X-Real-IP", "6.6.6.6"),
        ("Forwarded", "for=2.2.2.2"),
    ];
    let r = c.roundtrip(&req("GET", "/x", "h", &hops, b""));
    assert_eq!(r.status, 200, "{}", r.summary());
    let got = up.last();
    assert_eq!(
        addresses(&got),
        (
            s(&["6.6.6.6, 2.2.2.2, 10.0.0.7, 127.0.0.1"]),
            s(&["2.2.2.2"]),
            s(&["for=2.2.2.2"])
        ),
        "{}",
        got.head_text()
    );
    // Without XFF the proxy itself is the client.
    let r = c.roundtrip(&req("GET", "/x", "h", &[], b""));
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(
        addresses(&up.last()),
        (s(&["127.0.0.1"]), s(&["127.0.0.1"]), vec![])
    );
}

#[test]
fn ip_rate_limits_count_the_derived_client() {
    let up = Upstream::echo("u");
    let routes = rate_limit_section(
        "per_ip",
        &[("key", "\"ip\""), ("limit", "2"), ("period", "\"1h\""), ("burst", "1")],
    ) + "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\nrate_limit = \"per_ip\"\n";
    let send = |gw: &Gateway, client: &str| {
        let r = gw
            .client()
            .roundtrip(&req("GET", "/x", "h", &[("X-Forwarded-For", client)], b""));
        r.status
    };
    // Behind a trusted proxy: one bucket per reported client.
    let trusted = [("trusted_proxies", "[\"127.0.0.1/32\"]")];
    let gw = Gateway::start(&build(&trusted, &[("u", up.addr())], &routes));
    let a: Vec<u16> = (0..4).map(|_| send(&gw, "1.1.1.1")).collect();
    let b: Vec<u16> = (0..4).map(|_| send(&gw, "2.2.2.2")).collect();
    assert_eq!(a, [200, 200, 429, 429]);
    assert_eq!(b, [200, 200, 429, 429]);
    // From an untrusted peer, a new XFF per request is no new bucket.
    let gw = Gateway::start(&build(&[], &[("u", up.addr())], &routes));
    let spoofed: Vec<u16> = ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"]
        .iter()
        .map(|ip| send(&gw, ip))
        .collect();
    assert_eq!(spoofed, [200, 200, 429, 429]);
}

#[test]
fn a_rejected_request_behind_a_proxy_logs_client_and_proxy() {
    let up = Upstream::echo("u");
    let gw = gateway(&up, &[("trusted_proxies", "[\"127.0.0.1/32\"]")]);
    let mut c = gw.client();
    let r = c.roundtrip(&req(
        "GET",
        "/admin",
        "h",
        &[("X-Forwarded-For", "2.2.2.2")],
        b"",
    ));
    assert_error(&r, 401, "missing_credentials");
    assert!(gw.wait_log("request rejected", std::time::Duration::from_secs(2)));
    let l = &gw.log_entries("request rejected")[0];
    assert_eq!(l["client"], "2.2.2.2", "{l}");
    assert_eq!(
        l["proxy"].as_str(),
        Some(c.local_addr().to_string().as_str()),
        "{l}"
    );
}

#[test]
fn content_length_is_forwarded_canonical() {
    let up = Upstream::echo("u");
    let gw = gateway(&up, &[]);
    let mut c = gw.client();
    let cases = [
        ("003", "abc", "3"),
        ("3", "abc", "3"),
        ("0", "", "0"),
        ("000", "", "0"),
        ("0012", "hello world!", "12"),
    ];
    for (sent, body, want) in cases {
        let raw = format!("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: {sent}\r\n\r\n{body}");
        let r = c.roundtrip(raw.as_bytes());
        assert_eq!(r.status, 200, "{sent}: {}", r.summary());
        let got = up.last();
        assert_eq!(
            got.header_all("content-length"),
            vec![want],
            "{}",
            got.head_text()
        );
        assert_eq!(got.body, body.as_bytes(), "{sent}");
        if sent == want {
            // Already canonical: the client's line passes byte for byte.
            assert!(got
                .head_text()
                .contains(&format!("Content-Length: {sent}\r\n")));
        }
    }
}
