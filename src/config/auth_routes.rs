//! Compiling a route's `auth` and `require` keys into its `Auth` policy:
//! references to `[auth.NAME]` policies, the required scopes, roles and
//! claims, and the forwarded-claim headers the route must strip from
//! client requests.
//!
//! Must never: report a reference to a policy that is declared but had
//! errors of its own (that would be a second, misleading error).

use std::collections::BTreeMap;

use super::load::Doc;
use super::model::RouteFile;
use crate::auth::{AuthConfig, AuthPolicy};
use crate::policy::auth::{AuthRule, Require};
use crate::policy::Policy;

/// What routes may refer to: the compiled policies and every declared name
/// (a policy with errors is declared but not compiled; referring to it is
/// not a second error).
pub struct AuthRefs<'a> {
    /// The compiled policies.
    pub cfg: &'a AuthConfig,
    /// Every `[auth.NAME]` name in the file.
    pub declared: &'a [String],
}

/// A route's `auth`/`require` as policies, plus the header names its
/// policies forward (the route strips client copies of them).
pub fn route_policies(
    doc: &mut Doc<'_>,
    p: &str,
    r: &RouteFile,
    refs: &AuthRefs<'_>,
) -> Option<(Vec<Policy>, Vec<Vec<u8>>)> {
    let auth = refs.cfg;
    let Some(names) = &r.auth else {
        if r.require.is_some() {
            doc.err(
                &format!("{p}.require"),
                "`require` needs `auth` on the same route",
            );
            return None;
        }
        return Some((Vec::new(), Vec::new()));
    };
    let key = format!("{p}.auth");
    if names.is_empty() {
        doc.err(&key, "empty list: omit `auth` for a public route");
        return None;
    }
    let mut idx = Vec::with_capacity(names.len());
    for (i, n) in names.iter().enumerate() {
        match auth.policies.iter().position(|x| x.name() == n) {
            Some(j) if !idx.contains(&j) => idx.push(j),
            Some(_) => doc.err(
                &format!("{key}[{i}]"),
                format!("policy {n:?} is listed twice"),
            ),
            None if refs.declared.contains(n) => {}
            None => {
                let known: Vec<&str> = refs.declared.iter().map(String::as_str).collect();
                doc.err(
                    &format!("{key}[{i}]"),
                    format!("unknown auth policy {n:?} (defined: {})", known.join(", ")),
                );
            }
        }
    }
    if idx.len() != names.len() {
        return None;
    }
    let mut strip = Vec::new();
    for &j in &idx {
        if let AuthPolicy::Jwt(jp) = &auth.policies[j] {
            for (_, h) in jp.forward.iter() {
                let edited = r.request_headers.as_ref().is_some_and(|e| {
                    e.set
                        .keys()
                        .chain(e.add.keys())
                        .any(|n| n.eq_ignore_ascii_case(h))
                });
                if edited {
                    doc.err(
                        &key,
                        format!("header {h:?} carries a claim and is also set in request_headers"),
                    );
                    return None;
                }
                strip.push(h.as_bytes().to_vec());
            }
        }
    }
    let req = r.require.as_ref();
    let list = |v: Option<&Vec<String>>| -> Box<[Box<str>]> {
        v.into_iter().flatten().map(|s| s.as_str().into()).collect()
    };
    let claims: Box<[(Box<str>, Box<str>)]> = req
        .map(|q| &q.claims)
        .into_iter()
        .flat_map(BTreeMap::iter)
        .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
        .collect();
    let any = |f: fn(&AuthPolicy) -> bool| idx.iter().any(|&j| f(&auth.policies[j]));
    // The 401 challenge names a scheme the client can act on: a token
    // first, then a key; a route with client certificates only names
    // `ClientCertificate` (no registered scheme exists; docs/auth.md).
    let scheme = if any(|p| matches!(p, AuthPolicy::Jwt(_))) {
        "Bearer"
    } else if any(|p| matches!(p, AuthPolicy::ApiKey(_))) {
        "ApiKey"
    } else {
        "ClientCertificate"
    };
    let rule = AuthRule {
        policies: idx.into(),
        require: Require {
            scopes: list(req.map(|q| &q.scopes)),
            roles: list(req.map(|q| &q.roles)),
            claims,
        },
        scheme,
    };
    Some((vec![Policy::Auth(rule)], strip))
}
