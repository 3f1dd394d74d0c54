//! The `[server]` keys about request headers and client addresses:
//! `trusted_proxies`, `underscores_in_headers` and `singleton_headers`, and
//! the server-wide one-value header set compiled from them and from every
//! header a rate-limit key, a credential source or a route matcher reads.
//!
//! Must never: let a header that decides a key, a credential or a route go
//! unprotected because it is configured in another table than `[server]`.

use super::compile::check;
use super::load::Doc;
use super::model::RouteFile;
use super::validate;
use crate::auth::{AuthConfig, AuthPolicy, TokenSource};
use crate::http::client_ip::{Cidr, TrustedProxies};
use crate::http::rules::{HeaderRules, OneValue, Underscores, MAX_ONE_VALUE};
use crate::ratelimit::{KeyPart, Limiter};

/// `server.trusted_proxies`: CIDR blocks or single addresses.
pub fn trusted_proxies(doc: &mut Doc<'_>, list: Option<&[String]>) -> TrustedProxies {
    let nets = list
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter_map(|(i, s)| check(doc, &format!("server.trusted_proxies[{i}]"), Cidr::parse(s)))
        .collect();
    TrustedProxies { nets }
}

/// `server.underscores_in_headers` and the user's `server.singleton_headers`
/// (the rest of the one-value set is added by `one_value`).
pub fn rules(
    doc: &mut Doc<'_>,
    underscores: Option<&str>,
    names: Option<&[String]>,
) -> HeaderRules {
    let underscores = match underscores {
        None | Some("drop") => Underscores::Drop,
        Some("reject") => Underscores::Reject,
        Some("allow") => Underscores::Allow,
        Some(other) => {
            doc.err(
                "server.underscores_in_headers",
                format!("unknown value {other:?}: use \"drop\", \"reject\" or \"allow\""),
            );
            Underscores::Drop
        }
    };
    let mut one_value = Vec::new();
    for (i, n) in names.unwrap_or_default().iter().enumerate() {
        let key = format!("server.singleton_headers[{i}]");
        if let Some(name) = check(doc, &key, validate::header_name(n)) {
            add(&mut one_value, name);
        }
    }
    HeaderRules {
        underscores,
        one_value: one_value.into(),
    }
}

/// The whole one-value set: `rules.one_value` (the user's list) plus every
/// `header:NAME` key part, header credential source and route `headers`
/// matcher name.
pub fn one_value(
    doc: &mut Doc<'_>,
    rules: &HeaderRules,
    limits: &[std::sync::Arc<Limiter>],
    auth: &AuthConfig,
    routes: &[RouteFile],
) -> Box<[OneValue]> {
    let mut set = rules.one_value.to_vec();
    let key_headers = limits
        .iter()
        .flat_map(|l| l.def.key.parts())
        .filter_map(|p| match p {
            KeyPart::Header(name) => Some(name.to_vec()),
            _ => None,
        });
    let credential_headers = auth.policies.iter().filter_map(|p| {
        let source = match p {
            AuthPolicy::Jwt(j) => &j.source,
            AuthPolicy::ApiKey(k) => &k.source,
            AuthPolicy::Mtls(_) => return None,
        };
        match source {
            TokenSource::Header(name) => Some(name.to_vec()),
            _ => None,
        }
    });
    // Invalid matcher names are reported by the routes; skipped here.
    let matcher_headers = routes
        .iter()
        .flat_map(|r| r.headers.iter().flatten())
        .filter_map(|(name, _)| validate::header_name(name).ok());
    for name in key_headers.chain(credential_headers).chain(matcher_headers) {
        add(&mut set, name);
    }
    if set.len() > MAX_ONE_VALUE {
        doc.err(
            "server.singleton_headers",
            format!(
                "{} one-value headers (listed here, or read by rate-limit keys, credential \
                 sources and route matchers); at most {MAX_ONE_VALUE} are supported",
                set.len()
            ),
        );
    }
    set.into()
}

/// Adds lowercase `name` once; `authorization` may carry commas (RFC 9110 auth-params).
fn add(set: &mut Vec<OneValue>, name: Vec<u8>) {
    if !set.iter().any(|o| *o.name == *name) {
        let commas_ok = name == b"authorization";
        set.push(OneValue {
            name: name.into(),
            commas_ok,
        });
    }
}
