//! JWK Sets on the wire: keys published for encryption beside signing keys
//! are never used to verify, a set that would fail every token is refused
//! at start and on reload (the previous keys stay), and array claims reach
//! the upstream with each element percent-encoded, never as extra header
//! lines.

mod common;

use std::time::Duration;

use serde_json::{json, Value};

use common::mint::{jwks, now, Signer};
use common::*;

const ISS: &str = "https://issuer.example";

fn claims() -> Value {
    json!({"sub": "user-1", "iss": ISS, "exp": now() + 600})
}

/// `[auth.main]` on `jwks_path` with `forward` claims, route `/p` behind it.
fn config(up: &Upstream, jwks_path: &str, forward: &str) -> String {
    let routes = format!(
        "[auth.main]\nkind = \"jwt\"\nalgorithms = [\"ES256\"]\njwks_file = \"{jwks_path}\"\n\
         issuer = \"{ISS}\"\nforward_claims = {{ {forward} }}\n\n\
         [[routes]]\nname = \"p\"\npath_prefix = \"/p\"\nupstream = \"u\"\nauth = [\"main\"]\n"
    );
    build(&[], &[("u", up.addr())], &routes)
}

fn bearer(c: &mut RawClient, token: &str) -> Response {
    let auth = format!("Bearer {token}");
    c.roundtrip(&req("GET", "/p", "h", &[("Authorization", &auth)], b""))
}

/// A JWKS document of these JWKs.
fn set_of(keys: &[Value]) -> String {
    json!({ "keys": keys }).to_string()
}

#[test]
fn encryption_keys_beside_signing_keys_never_verify() {
    let up = Upstream::echo("u");
    let (a, b, enc, ops) = (
        Signer::es256(),
        Signer::es256(),
        Signer::es256(),
        Signer::es256(),
    );
    let mut enc_jwk = enc.jwk("enc");
    enc_jwk["use"] = json!("enc");
    let mut ops_jwk = ops.jwk("ops");
    ops_jwk["key_ops"] = json!(["encrypt"]);
    let file = write_config(&set_of(&[
        a.jwk("sig-a"),
        enc_jwk.clone(),
        b.jwk("sig-b"),
        ops_jwk,
    ]));
    let gw = Gateway::start(&config(
        &up,
        &file.display().to_string(),
        "\"sub\" = \"x-user-id\"",
    ));
    let mut c = gw.client();
    assert_eq!(
        bearer(&mut c, &a.token(Some("sig-a"), &claims())).status,
        200
    );
    assert_eq!(
        bearer(&mut c, &b.token(Some("sig-b"), &claims())).status,
        200
    );
    for (s, kid) in [(&enc, "enc"), (&ops, "ops")] {
        let r = bearer(&mut c, &s.token(Some(kid), &claims()));
        assert_error(&r, 401, "unknown_key");
    }
    assert_eq!(up.requests().len(), 2);
    for (kid, why) in [
        ("enc", "`use` is \\\"enc\\\""),
        ("ops", "does not list \\\"verify\\\""),
    ] {
        let hit = gw.logs().iter().any(|l| {
            l.contains("jwks key skipped")
                && l.contains(&format!("(kid \\\"{kid}\\\")"))
                && l.contains(why)
        });
        assert!(hit, "no skip line for {kid}:\n{}", gw.logs().join("\n"));
    }

    // With one signing key left, that key is the only one, whatever the kid.
    let single = write_config(&set_of(&[a.jwk("sig"), enc_jwk]));
    let gw = Gateway::start(&config(
        &up,
        &single.display().to_string(),
        "\"sub\" = \"x-user-id\"",
    ));
    let mut c = gw.client();
    assert_eq!(bearer(&mut c, &a.token(Some("sig"), &claims())).status, 200);
    assert_error(
        &bearer(&mut c, &enc.token(Some("enc"), &claims())),
        401,
        "bad_signature",
    );
}

#[test]
fn a_key_set_that_would_fail_every_token_stops_the_start() {
    let up = Upstream::echo("u");
    let (a, b) = (Signer::es256(), Signer::es256());
    let mut off_curve = a.jwk("bent");
    off_curve["y"] = off_curve["x"].clone();
    let mut enc = a.jwk("only");
    enc["use"] = json!("enc");
    for (keys, want) in [
        (
            vec![a.jwk("k"), b.jwk("k")],
            "keys[1] (kid \"k\"): kid \"k\" is also the kid of keys[0]",
        ),
        (
            vec![off_curve],
            "keys[0] (kid \"bent\"): (x, y) is not a point on P-256",
        ),
        (vec![enc], "no key of the JWK Set may verify signatures"),
    ] {
        let file = write_config(&set_of(&keys));
        let cfg = write_config(&config(&up, &file.display().to_string(), ""));
        let out = run_cli(&["check", "--config", &cfg.display().to_string()]);
        assert_eq!(out.status.code(), Some(2), "{}", out.stderr);
        let line = format!("auth.main.jwks_file: {}: ", file.display());
        assert!(
            out.stderr.contains(&line),
            "{line:?} not in:\n{}",
            out.stderr
        );
        assert!(
            out.stderr.contains(want),
            "{want:?} not in:\n{}",
            out.stderr
        );
    }
}

#[test]
fn reload_to_an_invalid_set_keeps_the_previous_keys() {
    let up = Upstream::echo("u");
    let (a, b) = (Signer::es256(), Signer::es256());
    let file = write_config(&jwks(&[(&a, "a")]));
    let gw = Gateway::start(&config(&up, &file.display().to_string(), ""));
    let mut c = gw.client();
    let tok = a.token(Some("a"), &claims());
    assert_eq!(bearer(&mut c, &tok).status, 200);
    // Valid JSON, every key well-formed, but two keys share a kid.
    std::fs::write(&file, jwks(&[(&b, "a"), (&a, "a")])).expect("rewrite");
    assert!(gw.wait_log("jwks reload failed", Duration::from_secs(5)));
    assert!(gw
        .logs()
        .iter()
        .any(|l| l.contains("is also the kid of keys[0]")));
    assert_eq!(bearer(&mut c, &tok).status, 200);
    assert_error(
        &bearer(&mut c, &b.token(Some("a"), &claims())),
        401,
        "bad_signature",
    );
}

#[test]
fn array_claims_are_forwarded_encoded_and_strings_never_inject_lines() {
    let up = Upstream::echo("u");
    let es = Signer::es256();
    let file = write_config(&jwks(&[(&es, "k")]));
    let gw = Gateway::start(&config(
        &up,
        &file.display().to_string(),
        "\"sub\" = \"x-user-id\", \"roles\" = \"x-user-roles\", \"team\" = \"x-team\"",
    ));
    let mut c = gw.client();
    let mut cl = claims();
    cl["roles"] = json!(["user,admin", "50%", "ops\r\nx-admin: yes"]);
    cl["team"] = json!(["a", "b"]);
    let r = bearer(&mut c, &es.token(Some("k"), &cl));
    assert_eq!(r.status, 200, "{}", r.summary());
    let got = up.last();
    assert_eq!(
        got.header_all("x-user-roles"),
        vec!["user%2Cadmin,50%25,ops%0D%0Ax-admin: yes"]
    );
    assert_eq!(got.header_all("x-team"), vec!["a,b"]);
    assert!(got.header_all("x-admin").is_empty(), "{}", got.head_text());

    // A string claim with CR, LF or NUL is not forwarded at all, and the
    // client's own copy of the header is still removed.
    for sub in [
        "u\r\nx-admin: yes",
        "u\nx-admin: yes",
        "u\rx",
        "u\u{0}x",
        "u\u{7f}",
    ] {
        let mut cl = claims();
        cl["sub"] = json!(sub);
        let auth = format!("Bearer {}", es.token(Some("k"), &cl));
        let r = c.roundtrip(&req(
            "GET",
            "/p",
            "h",
            &[("Authorization", &auth), ("x-user-id", "spoofed")],
            b"",
        ));
        assert_eq!(r.status, 200, "{sub:?}: {}", r.summary());
        let got = up.last();
        assert!(
            got.header_all("x-user-id").is_empty(),
            "{sub:?}: {}",
            got.head_text()
        );
        assert!(
            got.header_all("x-admin").is_empty(),
            "{sub:?}: {}",
            got.head_text()
        );
        assert!(
            !got.head_text().contains("yes"),
            "{sub:?}: {}",
            got.head_text()
        );
    }
}
