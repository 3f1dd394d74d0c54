//! Revocation at run time: the admin listener's `/revocations` changes the
//! list, and every shard (the test gateway runs 2) refuses the token with
//! 401 `token_revoked` within one second, even though each shard had the
//! token in its verified-token cache.

mod common;

use std::time::{Duration, Instant};

use serde_json::json;

use common::mint::{jwks, now, Signer};
use common::*;

fn admin(gw: &Gateway, method: &str, body: &str) -> Response {
    let mut c = RawClient::connect(gw.admin_addr());
    c.roundtrip(&req(
        method,
        "/revocations",
        "admin",
        &[("Connection", "close")],
        body.as_bytes(),
    ))
}

fn get(c: &mut RawClient, tok: &str) -> Response {
    let auth = format!("Bearer {tok}");
    c.roundtrip(&req(
        "GET",
        "/p",
        "api.example",
        &[("Authorization", &auth)],
        b"",
    ))
}

/// Enough connections that both shards hold several (SO_REUSEPORT spreads
/// them by hash), each asserted to be served.
const CONNS: usize = 16;

#[test]
fn revoked_jti_and_kid_are_refused_on_every_shard_within_a_second() {
    let up = Upstream::echo("u");
    let ed = Signer::eddsa();
    let other = Signer::eddsa();
    let keys = write_config(&jwks(&[(&ed, "k1"), (&other, "k2")]));
    let list = write_config("# revoked tokens\njti:old-token\n");
    let routes = format!(
        "[revocation]\nfile = \"{}\"\n\n[auth.main]\nkind = \"jwt\"\nalgorithms = [\"EdDSA\"]\njwks_file = \"{}\"\n\n\
         [[routes]]\nname = \"p\"\npath = \"/p\"\nupstream = \"u\"\nauth = [\"main\"]\n",
        list.display(),
        keys.display()
    );
    let gw = Gateway::start(&build(&[], &[("u", up.addr())], &routes));
    assert_eq!(gw.shards(), 2);
    let tok = ed.token(
        Some("k1"),
        &json!({"sub": "a", "jti": "t-42", "exp": now() + 600}),
    );
    let tok2 = other.token(
        Some("k2"),
        &json!({"sub": "b", "jti": "t-43", "exp": now() + 600}),
    );
    let old = ed.token(
        Some("k1"),
        &json!({"sub": "a", "jti": "old-token", "exp": now() + 600}),
    );

    let mut conns: Vec<RawClient> = (0..CONNS).map(|_| gw.client()).collect();
    for c in conns.iter_mut() {
        assert_eq!(get(c, &tok).status, 200, "warms this shard's cache");
        assert_eq!(get(c, &tok2).status, 200);
        assert_error(&get(c, &old), 401, "token_revoked");
    }

    let r = admin(&gw, "POST", "jti:t-42\nkid:k2\n");
    assert_eq!(r.status, 200, "{}", r.summary());
    let t0 = Instant::now();
    for c in conns.iter_mut() {
        let r = get(c, &tok);
        assert_error(&r, 401, "token_revoked");
        assert!(r
            .header("www-authenticate")
            .unwrap_or_default()
            .contains("invalid_token"));
        assert_error(&get(c, &tok2), 401, "token_revoked");
    }
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "revocation took {:?}",
        t0.elapsed()
    );
    assert_eq!(
        std::fs::read_to_string(&list).unwrap_or_default(),
        "jti:old-token\njti:t-42\nkid:k2\n",
        "saved to the revocation file"
    );
    assert_eq!(
        admin(&gw, "GET", "").text(),
        "jti:old-token\njti:t-42\nkid:k2\n"
    );

    // Un-revoking works the same way.
    assert_eq!(admin(&gw, "DELETE", "jti:t-42\n").status, 200);
    for c in conns.iter_mut() {
        assert_eq!(get(c, &tok).status, 200);
    }
    // A bad body changes nothing.
    let r = admin(&gw, "POST", "jti:x\nsub:y\n");
    assert_eq!(r.status, 400, "{}", r.summary());
    assert!(r.text().contains("line 2"), "{}", r.text());
    assert_eq!(admin(&gw, "GET", "").text(), "jti:old-token\nkid:k2\n");
    assert!(gw.counter("ringway_errors_total{code=\"token_revoked\"}") >= (2 * CONNS) as f64);
}

#[test]
fn editing_the_revocation_file_takes_effect() {
    let up = Upstream::echo("u");
    let hs = "file-secret-for-tests-only-32-bytes!";
    let sfile = write_config(hs);
    let list = write_config("");
    let routes = format!(
        "[revocation]\nfile = \"{}\"\n\n[auth.main]\nkind = \"jwt\"\nalgorithms = [\"HS256\"]\nsecret = \"file:{}\"\n\n\
         [[routes]]\nname = \"p\"\npath = \"/p\"\nupstream = \"u\"\nauth = [\"main\"]\n",
        list.display(),
        sfile.display()
    );
    let gw = Gateway::start(&build(&[], &[("u", up.addr())], &routes));
    let tok = Signer::hmac(hs.as_bytes(), "HS256").token(None, &json!({"jti": "f-1"}));
    let mut c = gw.client();
    assert_eq!(get(&mut c, &tok).status, 200);
    std::fs::write(&list, "jti:f-1\n").expect("write list");
    assert!(eventually(Duration::from_secs(5), || get(&mut c, &tok)
        .status
        == 401));
    assert_error(&get(&mut c, &tok), 401, "token_revoked");
}
