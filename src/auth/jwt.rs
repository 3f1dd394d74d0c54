//! JWS compact-serialisation JWT verification (RFC 7515/7519) with `ring`.
//!
//! Owns the order of checks, cheapest and most telling first: size, shape,
//! header JSON, `alg` allow-list, key selection by `kid`, key-type/alg fit,
//! signature, then claims (`exp`, `nbf`, `iss`, `aud`) and revocation.
//! Claims are only read after the signature verifies. Must never: accept
//! `alg: none`, let a token choose a key type, or put token bytes into an
//! error (errors are `AuthError` values, never echoes).

use serde_json::{Map, Value};

use super::jwk::{Alg, Key};
use super::revoke::Revoked;
use super::{b64, AuthError, JwtPolicy};

/// A token whose signature and claims checked out.
#[derive(Debug)]
pub struct VerifiedToken {
    /// Every claim of the payload.
    pub claims: Map<String, Value>,
    /// `sub`.
    pub subject: Option<Box<str>>,
    /// `scope` (space-separated) or `scp` (string or array).
    pub scopes: Box<[Box<str>]>,
    /// `roles` (string or array of strings).
    pub roles: Box<[Box<str>]>,
    /// `jti`.
    pub jti: Option<Box<str>>,
    /// The header's `kid`.
    pub kid: Option<Box<str>>,
    /// `exp` plus leeway, if the token has `exp`: never trusted after this.
    pub expires_at: Option<u64>,
    /// Rendered `forward_claims` header lines.
    pub forwarded: Box<[u8]>,
}

/// Verifies `token` under `policy` with its current `keys` and revocation list.
pub fn verify(
    policy: &JwtPolicy,
    keys: &[Key],
    revoked: &Revoked,
    token: &[u8],
    now: u64,
) -> Result<VerifiedToken, AuthError> {
    if token.len() > policy.max_token_bytes {
        return Err(AuthError::TooLarge);
    }
    let mut parts = token.splitn(4, |&b| b == b'.');
    let (Some(h64), Some(p64), Some(s64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed);
    };
    let header = b64::decode(h64).map_err(|_| AuthError::Malformed)?;
    let header: Map<String, Value> =
        serde_json::from_slice(&header).map_err(|_| AuthError::Malformed)?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(AuthError::Malformed)?;
    let alg = Alg::from_name(alg.as_bytes()).ok_or(AuthError::AlgNotAllowed)?;
    if !policy.algs.has(alg) {
        return Err(AuthError::AlgNotAllowed);
    }
    // RFC 7515 §4.1.11: extensions the gateway does not understand must fail.
    if header.contains_key("crit") {
        return Err(AuthError::Malformed);
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.as_str()),
        Some(_) => return Err(AuthError::Malformed),
    };
    let key = select_key(keys, kid, alg)?;
    let sig = b64::decode(s64).map_err(|_| AuthError::Malformed)?;
    let signed = &token[..h64.len() + 1 + p64.len()];
    if !key.material.verify(alg, signed, &sig) {
        return Err(AuthError::BadSignature);
    }
    let payload = b64::decode(p64).map_err(|_| AuthError::Malformed)?;
    let claims: Map<String, Value> =
        serde_json::from_slice(&payload).map_err(|_| AuthError::Malformed)?;
    let expires_at = check_times(&claims, policy.leeway_s, now)?;
    check_issuer_audience(policy, &claims)?;
    let jti = opt_str(&claims, "jti")?;
    if revoked.denies(jti, kid) {
        return Err(AuthError::Revoked);
    }
    Ok(VerifiedToken {
        subject: opt_str(&claims, "sub")?.map(Into::into),
        scopes: scopes(&claims)?,
        roles: str_list(claims.get("roles"), false)?,
        jti: jti.map(Into::into),
        kid: kid.map(Into::into),
        expires_at,
        forwarded: render_forwarded(policy, &claims),
        claims,
    })
}

/// The key for the token: the only key when the set has one (whatever the
/// token's `kid`, as a `secret` has no id); else the key whose `kid` the
/// token names. Several keys and no or an unknown `kid` is refused.
fn select_key<'k>(keys: &'k [Key], kid: Option<&str>, alg: Alg) -> Result<&'k Key, AuthError> {
    let key = match (keys, kid) {
        ([only], _) => Some(only),
        (_, Some(kid)) => keys.iter().find(|k| k.kid.as_deref() == Some(kid)),
        (_, None) => None,
    };
    let key = key.ok_or(AuthError::UnknownKey)?;
    if !key.material.fits(alg) || key.alg.is_some_and(|a| a != alg) {
        return Err(AuthError::KeyMismatch);
    }
    Ok(key)
}

/// A NumericDate claim: an integer or a number with a fraction (truncated).
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<u64>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => match (v.as_u64(), v.as_f64()) {
            (Some(n), _) => Ok(Some(n)),
            (None, Some(f)) if f >= 0.0 && f.is_finite() => Ok(Some(f as u64)),
            _ => Err(AuthError::Malformed),
        },
    }
}

fn check_times(
    claims: &Map<String, Value>,
    leeway: u64,
    now: u64,
) -> Result<Option<u64>, AuthError> {
    let exp = numeric_date(claims, "exp")?.map(|e| e.saturating_add(leeway));
    if exp.is_some_and(|e| now >= e) {
        return Err(AuthError::Expired);
    }
    if numeric_date(claims, "nbf")?.is_some_and(|n| now.saturating_add(leeway) < n) {
        return Err(AuthError::NotYetValid);
    }
    Ok(exp)
}

fn check_issuer_audience(p: &JwtPolicy, claims: &Map<String, Value>) -> Result<(), AuthError> {
    if let Some(want) = &p.issuer {
        if opt_str(claims, "iss")? != Some(&**want) {
            return Err(AuthError::WrongIssuer);
        }
    }
    if !p.audience.is_empty() {
        let got = str_list(claims.get("aud"), false)?;
        if !got.iter().any(|a| p.audience.contains(a)) {
            return Err(AuthError::WrongAudience);
        }
    }
    Ok(())
}

fn opt_str<'c>(claims: &'c Map<String, Value>, name: &str) -> Result<Option<&'c str>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(AuthError::Malformed),
    }
}

/// A string (split on spaces when `split`) or an array of strings.
fn str_list(v: Option<&Value>, split: bool) -> Result<Box<[Box<str>]>, AuthError> {
    match v {
        None => Ok(Box::default()),
        Some(Value::String(s)) if split => Ok(s.split_ascii_whitespace().map(Into::into).collect()),
        Some(Value::String(s)) => Ok(Box::new([s.as_str().into()])),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(Into::into).ok_or(AuthError::Malformed))
            .collect(),
        Some(_) => Err(AuthError::Malformed),
    }
}

fn scopes(claims: &Map<String, Value>) -> Result<Box<[Box<str>]>, AuthError> {
    match claims.get("scope") {
        Some(v) => str_list(Some(v), true),
        None => str_list(claims.get("scp"), true),
    }
}

/// The text a claim is forwarded as: strings as they are, other scalars and
/// objects as JSON, arrays as their elements' texts joined with `,`, each
/// element percent-encoded (`encode_element`) so that splitting on `,`
/// gives the elements back. `None` when a string or scalar could not be a
/// header value (control bytes, leading or trailing whitespace): such a
/// claim is not forwarded at all.
pub fn claim_text(v: &Value) -> Option<String> {
    let s = match v {
        Value::Array(a) => {
            let mut out = String::new();
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match x {
                    Value::String(e) => encode_element(e, &mut out),
                    other => encode_element(&claim_text(other)?, &mut out),
                }
            }
            return Some(out);
        }
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let bad = s.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f);
    (!bad && s.trim_matches([' ', '\t']).len() == s.len()).then_some(s)
}

/// Appends one array element: `%`, `,`, control bytes (CR, LF, NUL, …, DEL)
/// and whitespace at either end become `%XX`, so an element can neither
/// split in two nor break the header line, and `%` stays unambiguous.
fn encode_element(e: &str, out: &mut String) {
    let last = e.len().saturating_sub(1);
    for (i, c) in e.char_indices() {
        let edge_space = (i == 0 || i == last) && (c == ' ' || c == '\t');
        if c == '%' || c == ',' || c.is_ascii_control() || edge_space {
            let b = c as u8;
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        } else {
            // Non-ASCII passes through as UTF-8 (obs-text is a valid value byte).
            out.push(c);
        }
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn render_forwarded(p: &JwtPolicy, claims: &Map<String, Value>) -> Box<[u8]> {
    let mut out = Vec::new();
    for (claim, header) in p.forward.iter() {
        // A claim that is absent or could break the header block is not sent;
        // the client's copy was already stripped, so the upstream sees none.
        if let Some(text) = claims.get(&**claim).and_then(claim_text) {
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(text.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.into_boxed_slice()
}

#[cfg(test)]
#[path = "jwt_tests.rs"]
pub(crate) mod tests;
