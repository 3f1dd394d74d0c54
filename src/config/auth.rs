//! Compiling `[auth.NAME]` and `[revocation]` into `auth::AuthConfig`
//! (the route keys `auth` and `require` are `auth_routes`).
//!
//! Owns: the rules for those keys (kind-specific keys, algorithm names,
//! key files read and parsed at load, secrets from `env:`/`file:` only,
//! forwarded header names).
//! Must never: keep a secret's text in an error message.

use std::path::PathBuf;
use std::sync::Arc;

use super::compile::{check, required};
use super::load::Doc;
use super::model::{self, ApiKeyFile, AuthFile, RevocationFile};
use super::validate;
use crate::auth::jwk::{self, Alg, AlgSet, Key, KeyMaterial};
use crate::auth::revoke::Revoked;
use crate::auth::{apikey, reload, ApiKeyPolicy, AuthConfig, AuthPolicy, JwtPolicy, TokenSource};
use crate::reload::publish::Published;

/// Compiles every `[auth.NAME]` table and `[revocation]`.
pub fn compile(
    doc: &mut Doc<'_>,
    tables: &[(String, AuthFile)],
    rev: Option<&RevocationFile>,
) -> AuthConfig {
    let mut policies = Vec::with_capacity(tables.len());
    for (name, t) in tables {
        let p = format!("auth.{name}");
        check(doc, &p, validate::name(name));
        if let Some(pol) = policy(doc, &p, name, t) {
            policies.push(pol);
        }
    }
    let mut revoked = Revoked::default();
    let revocation_file = rev.and_then(|r| r.file.as_ref()).map(PathBuf::from);
    if let Some(f) = &revocation_file {
        if let Some(r) = check(doc, "revocation.file", reload::read_revoked(f)) {
            revoked = r;
        }
    }
    AuthConfig {
        policies,
        revoked: Arc::new(Published::new(revoked)),
        revocation_file,
    }
}

fn policy(doc: &mut Doc<'_>, p: &str, name: &str, t: &AuthFile) -> Option<AuthPolicy> {
    let kind_key = format!("{p}.kind");
    let kind = required(doc, &kind_key, &t.kind, "\"jwt\", \"api_key\" or \"mtls\"")?;
    let jwt_only: [(&str, bool); 12] = [
        ("algorithms", t.algorithms.is_some()),
        ("jwks_file", t.jwks_file.is_some()),
        ("secret", t.secret.is_some()),
        ("issuer", t.issuer.is_some()),
        ("audience", t.audience.is_some()),
        ("leeway_s", t.leeway_s.is_some()),
        ("forward_claims", t.forward_claims.is_some()),
        ("from_header", t.from_header.is_some()),
        ("from_cookie", t.from_cookie.is_some()),
        ("max_token_bytes", t.max_token_bytes.is_some()),
        ("cache_size", t.cache_size.is_some()),
        ("cache_ttl_s", t.cache_ttl_s.is_some()),
    ];
    let key_only = [
        ("header", t.header.is_some()),
        ("query", t.query.is_some()),
        ("keys", t.keys.is_some()),
    ];
    let mtls_only = [
        ("allow_subjects", t.allow_subjects.is_some()),
        ("allow_sans", t.allow_sans.is_some()),
    ];
    let kinds: [(&str, &[(&str, bool)]); 3] = [
        ("jwt", &jwt_only),
        ("api_key", &key_only),
        ("mtls", &mtls_only),
    ];
    if !kinds.iter().any(|(k, _)| *k == kind) {
        doc.err(
            &kind_key,
            format!("unknown kind {kind:?}: use \"jwt\", \"api_key\" or \"mtls\""),
        );
        return None;
    }
    for (other, keys) in kinds.iter().filter(|(k, _)| *k != kind) {
        for (k, set) in keys.iter() {
            if *set {
                doc.err(
                    &format!("{p}.{k}"),
                    format!("`{k}` belongs to kind = \"{other}\", not {kind:?}"),
                );
            }
        }
    }
    match kind.as_str() {
        "jwt" => jwt(doc, p, name, t).map(AuthPolicy::Jwt),
        "api_key" => api_key(doc, p, name, t).map(AuthPolicy::ApiKey),
        _ => super::auth_mtls::policy(doc, p, name, t).map(AuthPolicy::Mtls),
    }
}

fn algorithms(doc: &mut Doc<'_>, p: &str, t: &AuthFile) -> Option<AlgSet> {
    let key = format!("{p}.algorithms");
    let list = required(doc, &key, &t.algorithms, "for example [\"RS256\"]")?;
    if list.is_empty() {
        doc.err(&key, "empty list: no token could ever verify");
        return None;
    }
    let mut set = AlgSet::default();
    for (i, a) in list.iter().enumerate() {
        match Alg::from_name(a.as_bytes()) {
            Some(alg) => set.0 |= alg.bit(),
            None => {
                let known: Vec<&str> = Alg::ALL.iter().map(|a| a.name()).collect();
                doc.err(
                    &format!("{key}[{i}]"),
                    format!(
                        "unknown algorithm {a:?} (known: {}; `none` is never accepted)",
                        known.join(", ")
                    ),
                );
                return None;
            }
        }
    }
    Some(set)
}

fn secret(spec: &str) -> Result<Vec<u8>, String> {
    let bytes = super::secret::read(spec)?;
    if bytes.len() < 32 {
        return Err(format!(
            "the secret is {} bytes; HS* secrets must be at least 32 bytes",
            bytes.len()
        ));
    }
    Ok(bytes)
}

fn keys(
    doc: &mut Doc<'_>,
    p: &str,
    t: &AuthFile,
    algs: AlgSet,
) -> Option<(Vec<Key>, Option<PathBuf>)> {
    match (&t.jwks_file, &t.secret) {
        (Some(_), Some(_)) => {
            doc.err(
                &format!("{p}.secret"),
                "`jwks_file` and `secret` are mutually exclusive: keep one",
            );
            None
        }
        (None, None) => {
            doc.err(p, "a jwt policy needs `jwks_file` or `secret`");
            None
        }
        (Some(f), None) => {
            let path = PathBuf::from(f);
            let keys = check(
                doc,
                &format!("{p}.jwks_file"),
                reload::read_jwks(&path, algs),
            )?;
            Some((keys, Some(path)))
        }
        (None, Some(s)) => {
            let key = format!("{p}.secret");
            let bytes = check(doc, &key, secret(s))?;
            check(doc, &key, jwk::check_hmac_len(bytes.len(), algs, None))?;
            let non_hmac = Alg::ALL
                .iter()
                .filter(|a| algs.has(**a))
                .find(|a| !a.name().starts_with("HS"));
            if let Some(a) = non_hmac {
                doc.err(
                    &key,
                    format!(
                        "a `secret` only verifies HS* tokens, but `algorithms` lists {}",
                        a.name()
                    ),
                );
            }
            let k = Key {
                kid: None,
                alg: None,
                material: KeyMaterial::Hmac(bytes.into()),
            };
            Some((vec![k], None))
        }
    }
}

fn header_list(doc: &mut Doc<'_>, key: &str, v: &str) -> Option<Box<str>> {
    let lower = check(doc, key, validate::header_name(v))?;
    Some(String::from_utf8_lossy(&lower).into())
}

fn jwt(doc: &mut Doc<'_>, p: &str, name: &str, t: &AuthFile) -> Option<JwtPolicy> {
    let algs = algorithms(doc, p, t);
    let keys = keys(doc, p, t, algs.unwrap_or_default());
    let key = |k: &str| format!("{p}.{k}");
    let mut forward = Vec::new();
    for (claim, header) in t.forward_claims.iter().flatten() {
        let k = key(&format!("forward_claims.{claim}"));
        if let Some(h) = header_list(doc, &k, header) {
            if validate::FORBIDDEN_EDITS.contains(&&*h)
                || h.starts_with("x-forwarded-")
                || &*h == "authorization"
            {
                doc.err(&k, format!("header {h:?} is owned by the gateway or the client and cannot carry a claim"));
            } else if forward.iter().any(|(_, o): &(Box<str>, Box<str>)| *o == h) {
                doc.err(&k, format!("header {h:?} already carries another claim"));
            } else {
                forward.push((claim.as_str().into(), h));
            }
        }
    }
    forward.sort_by(|a, b| a.1.cmp(&b.1));
    let sources = [
        (&t.from_header, "from_header"),
        (&t.from_cookie, "from_cookie"),
        (&t.from_query, "from_query"),
    ];
    let given: Vec<_> = sources.iter().filter(|(v, _)| v.is_some()).collect();
    let source = match given.as_slice() {
        [] => Some(TokenSource::Bearer),
        [(Some(v), k)] if *k == "from_header" => {
            header_list(doc, &key(k), v).map(|h| TokenSource::Header(h.as_bytes().into()))
        }
        [(Some(v), k)] => match validate::is_token(v) {
            true if *k == "from_cookie" => Some(TokenSource::Cookie(v.as_bytes().into())),
            true => Some(TokenSource::Query(v.as_bytes().into())),
            false => {
                doc.err(&key(k), format!("{v:?} is not a valid name"));
                None
            }
        },
        _ => {
            doc.err(
                p,
                "`from_header`, `from_cookie` and `from_query` are mutually exclusive: keep one",
            );
            None
        }
    };
    let num = |doc: &mut Doc<'_>, k: &str, v: Option<u64>, d: u64, lo: u64, hi: u64| {
        check(doc, &key(k), validate::bounded(v.unwrap_or(d), lo, hi)).unwrap_or(d)
    };
    let leeway_s = num(doc, "leeway_s", t.leeway_s, model::LEEWAY_S, 0, 3600);
    let max_token_bytes = num(
        doc,
        "max_token_bytes",
        t.max_token_bytes,
        model::MAX_TOKEN_BYTES,
        64,
        65536,
    );
    let cache_size = num(
        doc,
        "cache_size",
        t.cache_size,
        model::TOKEN_CACHE_SIZE,
        0,
        10_000_000,
    );
    let cache_ttl_s = num(
        doc,
        "cache_ttl_s",
        t.cache_ttl_s,
        model::TOKEN_CACHE_TTL_S,
        1,
        86_400,
    );
    let audience: Box<[Box<str>]> = t
        .audience
        .iter()
        .flatten()
        .map(|a| a.as_str().into())
        .collect();
    if t.audience.as_ref().is_some_and(Vec::is_empty) {
        doc.err(
            &key("audience"),
            "empty list: omit `audience` to accept any audience",
        );
    }
    let (keys, jwks_file) = keys?;
    Some(JwtPolicy {
        name: name.into(),
        algs: algs?,
        keys: Arc::new(Published::new(keys)),
        jwks_file,
        issuer: t.issuer.as_deref().map(Into::into),
        audience,
        leeway_s,
        forward: forward.into(),
        source: source?,
        max_token_bytes: max_token_bytes as usize,
        cache_size: cache_size as usize,
        cache_ttl_s,
        secret_ref: t.secret.as_deref().map(Into::into),
    })
}

fn api_key(doc: &mut Doc<'_>, p: &str, name: &str, t: &AuthFile) -> Option<ApiKeyPolicy> {
    let source = match (&t.header, &t.query) {
        (Some(_), Some(_)) => {
            doc.err(
                &format!("{p}.query"),
                "`header` and `query` are mutually exclusive: keep one",
            );
            None
        }
        (Some(h), None) => header_list(doc, &format!("{p}.header"), h)
            .map(|h| TokenSource::Header(h.as_bytes().into())),
        (None, Some(q)) if validate::is_token(q) => Some(TokenSource::Query(q.as_bytes().into())),
        (None, Some(q)) => {
            doc.err(
                &format!("{p}.query"),
                format!("{q:?} is not a valid parameter name"),
            );
            None
        }
        (None, None) => Some(TokenSource::Header(b"x-api-key".as_slice().into())),
    };
    let kkey = format!("{p}.keys");
    let list = required(doc, &kkey, &t.keys, "a list of { id, sha256, scopes }")?;
    if list.is_empty() {
        doc.err(&kkey, "empty list: no key could ever match");
    }
    let mut keys = Vec::with_capacity(list.len());
    let mut ok = true;
    for (i, k) in list.iter().enumerate() {
        match api_key_entry(doc, &format!("{kkey}[{i}]"), k, &list[..i]) {
            Some(k) => keys.push(k),
            None => ok = false,
        }
    }
    (ok && !list.is_empty()).then_some(())?;
    Some(ApiKeyPolicy {
        name: name.into(),
        source: source?,
        keys: keys.into(),
    })
}

fn api_key_entry(
    doc: &mut Doc<'_>,
    p: &str,
    k: &ApiKeyFile,
    earlier: &[ApiKeyFile],
) -> Option<apikey::ApiKey> {
    let id = required(doc, &format!("{p}.id"), &k.id, "names the key in logs")?;
    check(doc, &format!("{p}.id"), validate::name(id))?;
    if earlier.iter().any(|e| e.id.as_ref() == Some(id)) {
        doc.err(&format!("{p}.id"), format!("duplicate key id {id:?}"));
        return None;
    }
    let hex = required(
        doc,
        &format!("{p}.sha256"),
        &k.sha256,
        "hex SHA-256 of the key",
    )?;
    let sha256 = check(doc, &format!("{p}.sha256"), apikey::parse_sha256_hex(hex))?;
    Some(apikey::ApiKey {
        id: id.as_str().into(),
        sha256,
        scopes: k.scopes.iter().map(|s| s.as_str().into()).collect(),
    })
}
