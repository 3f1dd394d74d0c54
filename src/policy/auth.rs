//! The `Auth` policy: find a credential for each of the route's `auth`
//! policies in turn, accept the first that verifies, then enforce `require`.
//! For `kind = "mtls"` the credential is the connection's verified client
//! certificate (none on a plain connection).
//!
//! Owns credential extraction (bearer header, named header, cookie, query
//! parameter, read in place from the request buffer) and the
//! `WWW-Authenticate` challenge. Must never: copy or log a credential, or
//! let a failed policy's identity leak into the request.

use std::fmt::Write as _;

use super::{Ctx, Denied};
use crate::auth::{apikey, now_s, AuthError, AuthPolicy, Identity, TokenSource};
use crate::error::ErrorCode;
use crate::http::RequestHead;

/// `require`: every listed scope, role and claim value must be present.
#[derive(Clone, Debug, Default)]
pub struct Require {
    /// Scopes that must all be granted.
    pub scopes: Box<[Box<str>]>,
    /// Roles that must all be granted.
    pub roles: Box<[Box<str>]>,
    /// (claim, value): the claim must equal the value, or be an array containing it.
    pub claims: Box<[(Box<str>, Box<str>)]>,
}

/// A compiled `auth` + `require` pair of one route.
#[derive(Clone, Debug)]
pub struct AuthRule {
    /// Indexes into `AuthConfig::policies`, in the route's order; any one passing authenticates.
    pub policies: Box<[usize]>,
    /// What the identity must hold.
    pub require: Require,
    /// `Bearer` when any policy is a JWT one, else `ApiKey` when any is
    /// an API-key one, else `ClientCertificate`.
    pub scheme: &'static str,
}

/// Authenticates and authorises the request in `cx`.
pub fn run(rule: &AuthRule, cx: &mut Ctx<'_>) -> Result<(), Denied> {
    cx.auth.refresh(cx.auth_cfg);
    let mut first_err: Option<AuthError> = None;
    let mut now = None;
    for &i in rule.policies.iter() {
        let result = match &cx.auth_cfg.policies[i] {
            AuthPolicy::Jwt(p) => match credential(&p.source, cx.head, cx.buf) {
                None => continue,
                Some(tok) => {
                    let now = *now.get_or_insert_with(now_s);
                    cx.auth
                        .jwt(cx.auth_cfg, i, tok, now)
                        .map(|token| Identity::Jwt { policy: i, token })
                }
            },
            AuthPolicy::ApiKey(p) => match credential(&p.source, cx.head, cx.buf) {
                None => continue,
                Some(k) => apikey::find(&p.keys, k)
                    .map(|key| Identity::ApiKey { policy: i, key })
                    .ok_or(AuthError::BadApiKey),
            },
            AuthPolicy::Mtls(p) => match cx.client_cert {
                None => continue,
                Some(cert) if cert.allowed(&p.allow_subjects, &p.allow_sans) => {
                    Ok(Identity::Mtls {
                        policy: i,
                        cert: cert.clone(),
                    })
                }
                Some(_) => Err(AuthError::CertNotAllowed),
            },
        };
        match result {
            Ok(id) => {
                *cx.identity = id;
                return authorise(rule, cx);
            }
            // A presented-but-bad credential explains the 401 better than
            // a later policy's missing one.
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    let e = first_err.unwrap_or(AuthError::Missing);
    Err(deny(rule.scheme, ErrorCode::from(e)))
}

fn authorise(rule: &AuthRule, cx: &Ctx<'_>) -> Result<(), Denied> {
    let id = &*cx.identity;
    let r = &rule.require;
    if !r.scopes.iter().all(|s| id.has_scope(cx.auth_cfg, s)) {
        return Err(deny(rule.scheme, ErrorCode::InsufficientScope));
    }
    if !r.roles.iter().all(|s| id.has_role(s)) {
        return Err(deny(rule.scheme, ErrorCode::MissingRole));
    }
    let claim_ok = |(name, want): &(Box<str>, Box<str>)| match id.claim(name) {
        Some(serde_json::Value::String(s)) => **s == **want,
        Some(serde_json::Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(want)),
        _ => false,
    };
    if !r.claims.iter().all(claim_ok) {
        return Err(deny(rule.scheme, ErrorCode::ClaimMismatch));
    }
    Ok(())
}

/// The refusal with its RFC 6750 challenge: no `error` when no credential
/// was sent (§3.1), `invalid_token` on 401, `insufficient_scope` on 403.
/// A client certificate that is not allowed gets no challenge: no other
/// credential on this request would change the answer.
fn deny(scheme: &str, code: ErrorCode) -> Denied {
    if code == ErrorCode::ClientCertNotAllowed {
        return Denied {
            code,
            headers: String::new(),
        };
    }
    let mut h = String::with_capacity(160);
    let _ = write!(h, "www-authenticate: {scheme} realm=\"ringway\"");
    match code.status() {
        401 if code != ErrorCode::MissingCredentials => {
            let _ = write!(
                h,
                ", error=\"invalid_token\", error_description=\"{}\"",
                code.message()
            );
        }
        403 => {
            let _ = write!(
                h,
                ", error=\"insufficient_scope\", error_description=\"{}\"",
                code.message()
            );
        }
        _ => {}
    }
    h.push_str("\r\n");
    Denied { code, headers: h }
}

/// The credential for `src` in the request, as bytes of `buf`.
pub fn credential<'b>(src: &TokenSource, head: &RequestHead, buf: &'b [u8]) -> Option<&'b [u8]> {
    let header = |name: &[u8]| {
        head.headers
            .iter()
            .find(|h| h.name.get(buf).eq_ignore_ascii_case(name))
            .map(|h| trim(h.value.get(buf)))
    };
    let v = match src {
        TokenSource::Bearer => {
            let v = header(b"authorization")?;
            let (scheme, rest) = v.split_at(v.iter().position(|&b| b == b' ')?);
            if !scheme.eq_ignore_ascii_case(b"bearer") {
                return None;
            }
            trim(rest)
        }
        TokenSource::Header(name) => header(name)?,
        TokenSource::Cookie(name) => head
            .headers
            .iter()
            .filter(|h| h.name.get(buf).eq_ignore_ascii_case(b"cookie"))
            .flat_map(|h| h.value.get(buf).split(|&b| b == b';'))
            .find_map(|pair| pair_value(trim(pair), name))?,
        TokenSource::Query(name) => {
            let q = head.query?.get(buf);
            let q = q.strip_prefix(b"?").unwrap_or(q);
            q.split(|&b| b == b'&')
                .find_map(|pair| pair_value(pair, name))?
        }
    };
    (!v.is_empty()).then_some(v)
}

fn pair_value<'b>(pair: &'b [u8], name: &[u8]) -> Option<&'b [u8]> {
    let eq = pair.iter().position(|&b| b == b'=')?;
    (&pair[..eq] == name).then(|| &pair[eq + 1..])
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |e| e + 1);
    &v[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_request;

    fn cred(src: &TokenSource, raw: &str) -> Option<String> {
        let mut head = RequestHead::new();
        assert_eq!(parse_request(raw.as_bytes(), 8192, &mut head), Ok(true));
        credential(src, &head, raw.as_bytes()).map(|v| String::from_utf8_lossy(v).into_owned())
    }

    #[test]
    fn credentials_from_every_source() {
        let bearer = TokenSource::Bearer;
        let get = |h: &str| format!("GET /p?a=1&tok=q1&x=2 HTTP/1.1\r\nHost: h\r\n{h}\r\n");
        assert_eq!(
            cred(&bearer, &get("Authorization: bearer  abc.def \r\n")).as_deref(),
            Some("abc.def")
        );
        assert_eq!(cred(&bearer, &get("Authorization: Basic abc\r\n")), None);
        assert_eq!(cred(&bearer, &get("Authorization: Bearer\r\n")), None);
        assert_eq!(cred(&bearer, &get("X-Other: 1\r\n")), None);
        let header = TokenSource::Header(b"x-token".as_slice().into());
        assert_eq!(
            cred(&header, &get("X-Token: t1\r\n")).as_deref(),
            Some("t1")
        );
        let cookie = TokenSource::Cookie(b"session".as_slice().into());
        let c = get("Cookie: a=1; session=s1\r\nCookie: session=s2\r\n");
        assert_eq!(cred(&cookie, &c).as_deref(), Some("s1"));
        assert_eq!(cred(&cookie, &get("Cookie: xsession=s1\r\n")), None);
        let query = TokenSource::Query(b"tok".as_slice().into());
        assert_eq!(cred(&query, &get("X: y\r\n")).as_deref(), Some("q1"));
        let query = TokenSource::Query(b"x".as_slice().into());
        assert_eq!(cred(&query, &get("X: y\r\n")).as_deref(), Some("2"));
    }

    #[test]
    fn challenges_follow_rfc_6750() {
        let d = deny("Bearer", ErrorCode::MissingCredentials);
        assert_eq!(d.headers, "www-authenticate: Bearer realm=\"ringway\"\r\n");
        let d = deny("Bearer", ErrorCode::TokenExpired);
        assert_eq!(
            d.headers,
            "www-authenticate: Bearer realm=\"ringway\", error=\"invalid_token\", error_description=\"the token has expired\"\r\n"
        );
        let d = deny("ApiKey", ErrorCode::InsufficientScope);
        assert!(d.headers.contains("error=\"insufficient_scope\""));
    }
}
