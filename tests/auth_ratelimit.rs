//! Authentication feeding rate limiting on the wire: limits keyed on
//! `jwt:sub` and `api_key` count each authenticated caller in its own bucket
//! on every shard (the identity phase 5 leaves on the request), and a
//! caller whose token lacks the claim shares the one "absent" bucket.

mod common;

use serde_json::json;

use common::mint::{jwks, now, sha256_hex, Signer};
use common::*;

/// `[auth.main]` (ES256 JWKS) and `[auth.keys]` (two API keys), routes
/// `/user` limited per `jwt:sub` and `/partner` limited per `api_key`, each
/// limit admitting exactly 2 requests per hour per key.
fn gateway(up: &Upstream, signer: &Signer) -> Gateway {
    let file = write_config(&jwks(&[(signer, "k1")]));
    let limit = |name: &str, key: &str| {
        rate_limit_section(
            name,
            &[
                ("key", key),
                ("limit", "2"),
                ("period", "\"1h\""),
                ("burst", "1"),
            ],
        )
    };
    let routes = format!(
        r#"[auth.main]
kind = "jwt"
algorithms = ["ES256"]
jwks_file = "{jwks}"

[auth.keys]
kind = "api_key"
keys = [ {{ id = "partner-a", sha256 = "{a}" }}, {{ id = "partner-b", sha256 = "{b}" }} ]

{per_sub}
{per_key}
[[routes]]
name = "user"
path_prefix = "/user"
upstream = "u"
auth = ["main"]
rate_limit = ["per_sub"]

[[routes]]
name = "partner"
path_prefix = "/partner"
upstream = "u"
auth = ["keys"]
rate_limit = ["per_key"]
"#,
        jwks = file.display(),
        a = sha256_hex("key-a-secret"),
        b = sha256_hex("key-b-secret"),
        per_sub = limit("per_sub", "\"jwt:sub\""),
        per_key = limit("per_key", "\"api_key\""),
    );
    Gateway::start(&build(&[], &[("u", up.addr())], &routes))
}

/// Statuses of `n` requests, each on a fresh connection (spread over shards).
fn statuses(gw: &Gateway, n: usize, request: &[u8]) -> Vec<u16> {
    (0..n)
        .map(|_| RawClient::connect(gw.addr()).roundtrip(request).status)
        .collect()
}

fn as_user(signer: &Signer, sub: Option<&str>) -> Vec<u8> {
    let mut claims = json!({"exp": now() + 600});
    if let Some(sub) = sub {
        claims["sub"] = json!(sub);
    }
    let auth = format!("Bearer {}", signer.token(Some("k1"), &claims));
    req(
        "GET",
        "/user",
        "h",
        &[("Authorization", auth.as_str())],
        b"",
    )
}

#[test]
fn jwt_subject_keys_one_bucket_per_user_across_shards() {
    let up = Upstream::echo("u");
    let signer = Signer::es256();
    let gw = gateway(&up, &signer);
    assert_eq!(gw.shards(), 2);
    // limit 2/h with burst 1: exactly 2 admitted per subject, whatever shard.
    let alice = as_user(&signer, Some("alice"));
    assert_eq!(statuses(&gw, 4, &alice), [200, 200, 429, 429]);
    let bob = as_user(&signer, Some("bob"));
    assert_eq!(statuses(&gw, 3, &bob), [200, 200, 429]);
    // A fresh token for alice is still alice: the key is the claim, not the token.
    assert_eq!(statuses(&gw, 1, &as_user(&signer, Some("alice"))), [429]);
    // Tokens without `sub` share the "absent" bucket.
    let anon: Vec<u16> = (0..3)
        .map(|_| {
            RawClient::connect(gw.addr())
                .roundtrip(&as_user(&signer, None))
                .status
        })
        .collect();
    assert_eq!(anon, [200, 200, 429]);
    // Authentication runs first: no credentials is 401, and costs no quota.
    let r = RawClient::connect(gw.addr()).roundtrip(&get("/user", "h"));
    assert_error(&r, 401, "missing_credentials");
    assert_eq!(up.requests().len(), 6);
}

#[test]
fn api_key_keys_one_bucket_per_key_id() {
    let up = Upstream::echo("u");
    let gw = gateway(&up, &Signer::es256());
    let with_key = |k: &str| req("GET", "/partner", "h", &[("x-api-key", k)], b"");
    assert_eq!(statuses(&gw, 3, &with_key("key-a-secret")), [200, 200, 429]);
    let r = RawClient::connect(gw.addr()).roundtrip(&with_key("key-a-secret"));
    assert_error(&r, 429, "rate_limited");
    assert!(r.header("retry-after").is_some(), "{}", r.summary());
    assert_eq!(statuses(&gw, 3, &with_key("key-b-secret")), [200, 200, 429]);
}
