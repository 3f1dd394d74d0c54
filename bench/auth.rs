//! Criterion benchmarks of token verification: one signature check per
//! algorithm family (HS256, RS256, ES256, EdDSA, the full `jwt::verify`
//! including claims), the shard's cached path for a hot token, and the API
//! key lookup. Results: `bench/RESULTS.md`, section "Authentication".
//!
//! Run: `cargo bench --bench auth`.

#[path = "../tests/common/mint.rs"]
#[allow(dead_code)]
mod mint;

use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use serde_json::json;

use mint::{jwks, Signer};
use ringway::auth::jwk::{self, Alg, AlgSet};
use ringway::auth::jwks;
use ringway::auth::revoke::Revoked;
use ringway::auth::shard::ShardAuth;
use ringway::auth::{apikey, jwt, AuthConfig, AuthPolicy, JwtPolicy, TokenSource};
use ringway::reload::publish::Published;

const NOW: u64 = 1_700_000_000;

fn policy(alg: Alg, keys: Vec<jwk::Key>, cache_size: usize) -> JwtPolicy {
    JwtPolicy {
        name: "bench".into(),
        algs: AlgSet(alg.bit()),
        keys: Arc::new(Published::new(keys)),
        jwks_file: None,
        issuer: Some("https://issuer.example".into()),
        audience: vec!["api".into()].into(),
        leeway_s: 30,
        forward: vec![("sub".into(), "x-user-id".into())].into(),
        source: TokenSource::Bearer,
        max_token_bytes: 8192,
        cache_size,
        cache_ttl_s: 300,
        secret_ref: None,
    }
}

/// A realistic access token: ~10 claims.
fn claims() -> serde_json::Value {
    json!({"sub": "user-12345", "iss": "https://issuer.example", "aud": ["api"],
           "exp": NOW + 3600, "iat": NOW, "nbf": NOW - 10, "jti": "0f3c6a8e-5b1d-4a9e-8c2f-7d6e5a4b3c2d",
           "scope": "orders:read orders:write profile", "roles": ["viewer"], "tenant": "acme"})
}

fn verify_benches(c: &mut Criterion) {
    let signers = [
        (Signer::hmac(&[7; 32], "HS256"), Alg::Hs256),
        (Signer::rsa("RS256"), Alg::Rs256),
        (Signer::es256(), Alg::Es256),
        (Signer::eddsa(), Alg::EdDsa),
    ];
    let revoked = Revoked::default();
    for (s, alg) in &signers {
        let keys = jwks::parse_set(&jwks(&[(s, "k")]), AlgSet(alg.bit()))
            .expect("jwks")
            .keys;
        let p = policy(*alg, keys, 0);
        let tok = s.token(Some("k"), &claims());
        let keys = p.keys.current();
        assert!(jwt::verify(&p, &keys, &revoked, tok.as_bytes(), NOW).is_ok());
        c.bench_function(&format!("verify/{}", alg.name()), |b| {
            b.iter(|| jwt::verify(&p, &keys, &revoked, black_box(tok.as_bytes()), NOW))
        });
    }

    // The per-request path on a shard for a token it has seen: revocation
    // generation check, cache lookup (hash + compare), Rc clone.
    let es = Signer::es256();
    let keys = jwks::parse_set(&jwks(&[(&es, "k")]), AlgSet(Alg::Es256.bit()))
        .expect("jwks")
        .keys;
    let cfg = AuthConfig {
        policies: vec![AuthPolicy::Jwt(policy(Alg::Es256, keys, 10_000))],
        ..AuthConfig::default()
    };
    let mut shard = ShardAuth::new(&cfg, Arc::default(), None);
    let tok = es.token(Some("k"), &claims());
    assert!(shard.jwt(&cfg, 0, tok.as_bytes(), NOW).is_ok());
    c.bench_function("cached/ES256", |b| {
        b.iter(|| {
            shard.refresh(&cfg);
            shard.jwt(&cfg, 0, black_box(tok.as_bytes()), NOW)
        })
    });

    let keys: Vec<apikey::ApiKey> = (0..16)
        .map(|i| apikey::ApiKey {
            id: format!("k{i}").into(),
            sha256: [i as u8; 32],
            scopes: Box::default(),
        })
        .collect();
    c.bench_function("api_key/16_keys", |b| {
        b.iter(|| apikey::find(&keys, black_box(b"a-presented-api-key-0123456789")))
    });
}

criterion_group!(benches, verify_benches);
criterion_main!(benches);
