//! API-key authentication and combining policies on one route: header and
//! query keys, hashes only in the config, scopes with `require`, "any one
//! policy passing authenticates", and config errors naming the key.

mod common;

use serde_json::json;

use common::mint::{jwks, now, sha256_hex, Signer};
use common::*;

fn config(up: &Upstream, jwks_path: &str) -> String {
    let routes = format!(
        r#"[auth.partners]
kind = "api_key"
keys = [
  {{ id = "partner-a", sha256 = "{}", scopes = ["orders:read"] }},
  {{ id = "partner-b", sha256 = "{}" }},
]

[auth.q]
kind = "api_key"
query = "api_key"
keys = [ {{ id = "q1", sha256 = "{}" }} ]

[auth.main]
kind = "jwt"
algorithms = ["ES256"]
jwks_file = "{jwks_path}"

[[routes]]
name = "keys"
path_prefix = "/keys"
upstream = "u"
auth = ["partners"]

[[routes]]
name = "orders"
path_prefix = "/orders"
upstream = "u"
auth = ["main", "partners"]
require = {{ scopes = ["orders:read"] }}

[[routes]]
name = "query"
path_prefix = "/q"
upstream = "u"
auth = ["q"]
"#,
        sha256_hex("key-a-secret"),
        sha256_hex("key-b-secret"),
        sha256_hex("query-secret")
    );
    build(&[], &[("u", up.addr())], &routes)
}

/// The gateway on `config` with a fresh ES256 key as the JWT policy's only key.
fn start(up: &Upstream) -> (Gateway, Signer) {
    let es = Signer::es256();
    let file = write_config(&jwks(&[(&es, "k")]));
    (Gateway::start(&config(up, &file.display().to_string())), es)
}

fn with_key(c: &mut RawClient, path: &str, key: &str) -> Response {
    c.roundtrip(&req("GET", path, "api.example", &[("X-Api-Key", key)], b""))
}

#[test]
fn api_keys_by_header_and_query() {
    let up = Upstream::echo("u");
    let (gw, _) = start(&up);
    let mut c = gw.client();
    assert_eq!(with_key(&mut c, "/keys", "key-a-secret").status, 200);
    assert_eq!(with_key(&mut c, "/keys", "key-b-secret").status, 200);
    for bad in ["key-a-secreT", "key-a-secret2", &sha256_hex("key-a-secret")] {
        let r = with_key(&mut c, "/keys", bad);
        assert_error(&r, 401, "invalid_api_key");
        assert!(r
            .header("www-authenticate")
            .unwrap_or_default()
            .starts_with("ApiKey realm=\"ringway\""));
        assert!(!r.summary().contains(bad));
    }
    let r = c.roundtrip(&req("GET", "/keys", "api.example", &[], b""));
    assert_error(&r, 401, "missing_credentials");
    assert_eq!(
        r.header("www-authenticate"),
        Some("ApiKey realm=\"ringway\"")
    );

    assert_eq!(
        c.roundtrip(&get("/q/x?a=1&api_key=query-secret", "h"))
            .status,
        200
    );
    assert_error(
        &c.roundtrip(&get("/q/x?api_key=nope", "h")),
        401,
        "invalid_api_key",
    );
    assert_error(
        &c.roundtrip(&get("/q/x?x_api_key=query-secret", "h")),
        401,
        "missing_credentials",
    );
    assert_eq!(up.requests().len(), 3);
}

#[test]
fn any_policy_passing_authenticates_and_scopes_come_from_either() {
    let up = Upstream::echo("u");
    let (gw, es) = start(&up);
    let mut c = gw.client();
    let good = es.token(None, &json!({"scope": "orders:read", "exp": now() + 60}));
    let no_scope = es.token(None, &json!({"scope": "other", "exp": now() + 60}));
    let expired = es.token(None, &json!({"scope": "orders:read", "exp": now() - 60}));
    let send = |c: &mut RawClient, tok: Option<&str>, key: Option<&str>| {
        let auth = tok.map(|t| format!("Bearer {t}"));
        let mut h = Vec::new();
        if let Some(a) = &auth {
            h.push(("Authorization", a.as_str()));
        }
        if let Some(k) = key {
            h.push(("x-api-key", k));
        }
        c.roundtrip(&req("GET", "/orders", "api.example", &h, b""))
    };
    assert_eq!(send(&mut c, Some(&good), None).status, 200);
    assert_eq!(send(&mut c, None, Some("key-a-secret")).status, 200);
    // An expired token does not block a valid key.
    assert_eq!(
        send(&mut c, Some(&expired), Some("key-a-secret")).status,
        200
    );
    // Both bad: the first presented credential's reason is reported.
    assert_error(
        &send(&mut c, Some(&expired), Some("wrong")),
        401,
        "token_expired",
    );
    assert_error(&send(&mut c, None, Some("wrong")), 401, "invalid_api_key");
    assert_error(&send(&mut c, None, None), 401, "missing_credentials");
    // Authenticated but without the scope.
    assert_error(
        &send(&mut c, Some(&no_scope), None),
        403,
        "insufficient_scope",
    );
    assert_error(
        &send(&mut c, None, Some("key-b-secret")),
        403,
        "insufficient_scope",
    );
    assert_eq!(up.requests().len(), 3);
}

#[test]
fn config_errors_name_the_key() {
    let src = r#"[server]
listen = "127.0.0.1:0"

[auth.a]
kind = "jwt"
algorithms = ["RS256", "none"]
secret = "inline-secret"

[auth.b]
kind = "api_key"
keys = [ { id = "x", sha256 = "abc" } ]
issuer = "https://x"

[auth.c]
kind = "oauth"

[[upstreams]]
name = "u"
targets = ["127.0.0.1:9"]

[[routes]]
name = "r"
path = "/"
upstream = "u"
auth = ["a", "zzz"]
require = { scopes = ["s"] }

[[routes]]
name = "s"
path = "/s"
upstream = "u"
require = { scopes = ["s"] }
"#;
    let path = write_config(src);
    let p = path.display().to_string();
    let out = run_cli(&["check", "--config", &p]);
    assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
    for want in [
        format!("{p}:6: auth.a.algorithms[1]: unknown algorithm \"none\""),
        format!(
            "{p}:7: auth.a.secret: write the secret as \"env:VAR\" or \"file:PATH\", never inline"
        ),
        format!("{p}:11: auth.b.keys[0].sha256: expected 64 hex digits"),
        format!("{p}:12: auth.b.issuer: `issuer` belongs to kind = \"jwt\""),
        format!("{p}:15: auth.c.kind: unknown kind \"oauth\""),
        format!("{p}:25: routes[0].auth[1]: unknown auth policy \"zzz\" (defined: a, b, c)"),
        format!("{p}:32: routes[1].require: `require` needs `auth` on the same route"),
    ] {
        assert!(
            out.stderr.contains(&want),
            "missing {want:?} in:\n{}",
            out.stderr
        );
    }
    assert!(
        !out.stderr.contains("inline-secret"),
        "a secret is echoed:\n{}",
        out.stderr
    );
}
