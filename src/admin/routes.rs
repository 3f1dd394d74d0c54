//! `GET /routes`: the compiled route table as JSON, in match order, each
//! route with what it matches, where it goes, how it rewrites and which
//! policies (by kind) run on it. `/config` embeds the same objects.
//!
//! Keys follow the configuration's (`path_prefix`, `strip_prefix`, …) so a
//! route reads like the TOML that produced it, defaults filled in.
//! Must never: show the value of a header whose name suggests a credential
//! (`redact`): a matcher or an edit may carry a shared secret.

use serde_json::{json, Map, Value};

use crate::config::Compiled;
use crate::policy::{cors::CorsRule, validate::ValidateRule, Policy};
use crate::route::{HeaderCond, HeaderEdits, HostMatch, MethodSet, PathMatch, PathRewrite, Route};

/// What a redacted value is shown as.
pub const REDACTED: &str = "<redacted>";

/// Parts of header names whose values are treated as secrets.
const SECRET_NAME_PARTS: [&str; 7] = [
    "auth",
    "cookie",
    "token",
    "secret",
    "key",
    "password",
    "signature",
];

/// The body of `GET /routes`.
pub fn render(cfg: &Compiled) -> String {
    super::respond::pretty_json(&json!({ "routes": all(cfg) }))
}

/// Every route, in match order.
pub fn all(cfg: &Compiled) -> Vec<Value> {
    cfg.router.routes().iter().map(|r| route(cfg, r)).collect()
}

fn route(cfg: &Compiled, r: &Route) -> Value {
    json!({
        "name": &*r.name,
        "match": matcher(r),
        "upstream": cfg.upstreams.get(r.upstream).map(|u| &*u.name),
        "rewrite": rewrite(&r.rewrite),
        "request_headers": edits(&r.request_headers),
        "response_headers": edits(&r.response_headers),
        "original_path_header": r.original_path_header.as_deref().map(text),
        "policies": policies(cfg, &r.policies),
        "upgrade": r.upgrade.iter().map(|t| text(t)).collect::<Vec<_>>(),
    })
}

/// Bytes the config checked to be ASCII, as a string.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `value` unless `name` looks like it carries a credential.
pub fn redact(name: &[u8], value: &[u8]) -> String {
    let name = text(name).to_ascii_lowercase();
    match SECRET_NAME_PARTS.iter().any(|p| name.contains(p)) {
        true => REDACTED.into(),
        false => text(value),
    }
}

fn matcher(r: &Route) -> Value {
    let mut m = Map::new();
    let host = match r.host() {
        HostMatch::Any => Value::Null,
        HostMatch::Exact(h) => text(h).into(),
        HostMatch::Suffix(s) => format!("*{}", text(s)).into(),
    };
    m.insert("host".into(), host);
    let (key, path) = match r.path() {
        PathMatch::Exact(p) => ("path", p),
        PathMatch::Prefix(p) => ("path_prefix", p),
    };
    m.insert(key.into(), text(path).into());
    m.insert("methods".into(), methods(r.methods()));
    let headers: Map<String, Value> = r
        .headers()
        .iter()
        .map(|h| {
            let v = match &h.cond {
                HeaderCond::Present => true.into(),
                HeaderCond::Absent => false.into(),
                HeaderCond::Equals(v) => redact(&h.name, v).into(),
            };
            (text(&h.name), v)
        })
        .collect();
    m.insert("headers".into(), headers.into());
    m.insert("case_sensitive".into(), (!r.path_ignore_case()).into());
    m.into()
}

/// The method names, or null for any method.
fn methods(set: MethodSet) -> Value {
    match set.0 {
        0 => Value::Null,
        _ => set.allow_header().split(", ").collect(),
    }
}

fn rewrite(r: &PathRewrite) -> Value {
    match r {
        PathRewrite::None => Value::Null,
        PathRewrite::Strip(p) => json!({ "strip_prefix": text(p) }),
        PathRewrite::Replace { to, .. } => json!({ "rewrite_prefix": text(to) }),
    }
}

fn edits(e: &HeaderEdits) -> Value {
    if e.is_empty() {
        return Value::Null;
    }
    let (mut set, mut add) = (Map::new(), Map::new());
    for line in e.rendered.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        let to = if e.is_set(name) { &mut set } else { &mut add };
        to.insert(text(name), redact(name, value).into());
    }
    let remove: Vec<String> = e.remove.iter().map(|n| text(n)).collect();
    json!({ "set": set, "add": add, "remove": remove })
}

fn policies(cfg: &Compiled, list: &[Policy]) -> Value {
    let mut m = Map::new();
    for p in list {
        let (kind, v) = match p {
            Policy::Cors(c) => ("cors", cors(c)),
            Policy::Auth(a) => {
                let names: Vec<Option<&str>> = a
                    .policies
                    .iter()
                    .map(|&i| cfg.auth.policies.get(i).map(|p| p.name()))
                    .collect();
                let r = &a.require;
                let claims: Map<String, Value> = r
                    .claims
                    .iter()
                    .map(|(c, v)| (c.to_string(), (**v).into()))
                    .collect();
                let require = json!({ "scopes": r.scopes, "roles": r.roles, "claims": claims });
                ("auth", json!({ "policies": names, "require": require }))
            }
            Policy::RateLimit(rl) => {
                let names: Vec<&str> = rl.limits().iter().map(|l| &*l.def.name).collect();
                let headers = rl.sends_headers();
                ("rate_limit", json!({ "limits": names, "headers": headers }))
            }
            Policy::Concurrency(c) => ("concurrency_limit", c.max().into()),
            Policy::Validate(v) => ("validate", validate(v)),
        };
        m.insert(kind.into(), v);
    }
    m.into()
}

fn cors(c: &CorsRule) -> Value {
    let origins: Vec<String> = match c.any_origin {
        true => vec!["*".into()],
        false => c.origins.iter().map(|o| text(o)).collect(),
    };
    json!({
        "origins": origins,
        "methods": methods(c.methods),
        "headers": c.headers.iter().map(|h| text(h)).collect::<Vec<_>>(),
        "credentials": c.credentials,
        "max_age_s": c.max_age_s,
    })
}

fn validate(v: &ValidateRule) -> Value {
    json!({
        "content_types": v.content_types.iter().map(|t| text(t)).collect::<Vec<_>>(),
        "required_headers": v.required_headers.iter().map(|h| text(h)).collect::<Vec<_>>(),
        "json": v.json,
        "max_body_bytes": v.max_body_bytes,
    })
}
