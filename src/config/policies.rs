//! Compiling the route keys `validate`, `cors` and `security_headers` into
//! per-route policies and response edits.
//!
//! Owns: the rules for those keys (header names and values, media type
//! syntax, body bounds). Must never: know about authentication (that is
//! `config::auth`).

use super::compile::check;
use super::load::Doc;
use super::model::{self, CorsFile, HeaderCondFile, RouteFile, SecurityHeadersFile, ValidateFile};
use super::validate;
use crate::http::Method;
use crate::policy::cors::{CorsRule, OWNED_HEADERS};
use crate::policy::validate::ValidateRule;
use crate::policy::Policy;
use crate::route::{HeaderEdits, MethodSet};

/// `type/subtype`, each an RFC 9110 token.
fn media_type(s: &str) -> Result<Box<[u8]>, String> {
    match s.split_once('/') {
        Some((t, st)) if validate::is_token(t) && validate::is_token(st) => {
            Ok(s.to_ascii_lowercase().into_bytes().into())
        }
        _ => Err(format!(
            "{s:?} is not a media type such as \"application/json\" (parameters are not compared)"
        )),
    }
}

/// A route's `validate` table.
pub fn validate_rule(doc: &mut Doc<'_>, key: &str, v: &ValidateFile) -> Option<ValidateRule> {
    let mut ok = true;
    let mut list = |doc: &mut Doc<'_>,
                    k: &str,
                    items: &Option<Vec<String>>,
                    f: fn(&str) -> Result<Box<[u8]>, String>| {
        let mut out = Vec::new();
        if items.as_ref().is_some_and(Vec::is_empty) {
            doc.err(&format!("{key}.{k}"), "empty list: omit the key instead");
            ok = false;
        }
        for (i, s) in items.iter().flatten().enumerate() {
            match check(doc, &format!("{key}.{k}[{i}]"), f(s)) {
                Some(b) => out.push(b),
                None => ok = false,
            }
        }
        out.into_boxed_slice()
    };
    let content_types = list(doc, "content_types", &v.content_types, media_type);
    let required_headers = list(doc, "required_headers", &v.required_headers, |s| {
        validate::header_name(s).map(Vec::into_boxed_slice)
    });
    let json = v.json.unwrap_or(false);
    let default = json.then_some(model::VALIDATE_JSON_MAX_BODY);
    let max_body_bytes = match v.max_body_bytes.or(default) {
        None => None,
        Some(n) => {
            let r = validate::bounded(n, 0, model::VALIDATE_MAX_BODY);
            let n = check(doc, &format!("{key}.max_body_bytes"), r);
            ok &= n.is_some();
            n
        }
    };
    ok.then_some(ValidateRule {
        content_types,
        required_headers,
        json,
        max_body_bytes,
    })
}

/// What `browser` compiles: the CORS policy, the response edits, and the
/// rendered HSTS line (`Route::hsts`).
pub type Browser = (Option<Policy>, HeaderEdits, Option<Box<[u8]>>);

/// `cors` and `security_headers`: the CORS policy (placed first, so a
/// preflight is answered before authentication) and the response edits
/// both imply, merged into the route's `response_headers`.
pub fn browser(
    doc: &mut Doc<'_>,
    p: &str,
    r: &RouteFile,
    edits: Option<HeaderEdits>,
    methods: &Option<MethodSet>,
) -> Option<Browser> {
    let mut edits = edits?;
    let file_edits = r.response_headers.as_ref();
    let mentioned = |name: &str| {
        file_edits.is_some_and(|e| {
            e.set
                .keys()
                .chain(e.add.keys())
                .chain(e.remove.iter())
                .any(|n| n.eq_ignore_ascii_case(name))
        })
    };
    let mut policy = None;
    if let Some(c) = &r.cors {
        let key = format!("{p}.cors");
        if let Some(h) = OWNED_HEADERS.iter().find(|h| mentioned(h)) {
            doc.err(
                &format!("{p}.response_headers"),
                format!("{h:?} is set by `cors`; remove it here"),
            );
            return None;
        }
        policy = Some(cors_rule(doc, &key, c, methods.unwrap_or_default()).map(Policy::Cors));
        edits.push_remove(OWNED_HEADERS.iter().map(|h| h.as_bytes().to_vec()));
    }
    let sec = security_headers(
        doc,
        &format!("{p}.security_headers"),
        r.security_headers.as_ref(),
    );
    let mut hsts = None;
    for (name, value) in sec? {
        if name == HSTS {
            // Sent on TLS connections only (`Route::hsts`): over plain HTTP
            // browsers ignore it, and it would advertise a promise the
            // plain listener does not keep.
            hsts = Some(
                format!("{name}: {value}\r\n")
                    .into_bytes()
                    .into_boxed_slice(),
            );
        } else if !mentioned(&name) {
            // The route's own `response_headers` entry for a name wins.
            edits.push_set(name.as_bytes(), value.as_bytes());
        }
    }
    match policy {
        Some(None) => None,
        Some(p) => Some((p, edits, hsts)),
        None => Some((None, edits, hsts)),
    }
}

/// The one security header sent on TLS connections only.
const HSTS: &str = "strict-transport-security";

fn security_headers(
    doc: &mut Doc<'_>,
    key: &str,
    f: Option<&SecurityHeadersFile>,
) -> Option<Vec<(String, String)>> {
    let defaults = || {
        model::SECURITY_HEADERS
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    let overrides = match f {
        None | Some(SecurityHeadersFile::On(false)) => return Some(Vec::new()),
        Some(SecurityHeadersFile::On(true)) => return Some(defaults()),
        Some(SecurityHeadersFile::Overrides(map)) => map,
    };
    let mut out = defaults();
    let mut ok = true;
    for (name, cond) in overrides {
        let k = format!("{key}.{name}");
        let Some(lower) = check(doc, &k, validate::header_name(name)) else {
            ok = false;
            continue;
        };
        let lower = String::from_utf8_lossy(&lower).into_owned();
        if validate::FORBIDDEN_EDITS.contains(&lower.as_str()) {
            doc.err(&k, format!("header {lower:?} cannot be edited"));
            ok = false;
            continue;
        }
        out.retain(|(n, _)| *n != lower);
        match cond {
            HeaderCondFile::Present(false) => {}
            HeaderCondFile::Present(true) => {
                let defaults = model::SECURITY_HEADERS
                    .iter()
                    .chain([&(HSTS, model::HSTS_DEFAULT)]);
                match defaults.into_iter().find(|(n, _)| *n == lower) {
                    Some((n, v)) => out.push((n.to_string(), v.to_string())),
                    None => {
                        doc.err(
                            &k,
                            format!("{lower:?} has no default value: give one as a string"),
                        );
                        ok = false;
                    }
                }
            }
            HeaderCondFile::Value(v) => match check(doc, &k, validate::header_value(v)) {
                Some(_) => out.push((lower, v.clone())),
                None => ok = false,
            },
        }
    }
    out.sort();
    ok.then_some(out)
}

fn cors_rule(
    doc: &mut Doc<'_>,
    key: &str,
    c: &CorsFile,
    route_methods: MethodSet,
) -> Option<CorsRule> {
    let k = |s: &str| format!("{key}.{s}");
    let origins = c.origins.as_deref().unwrap_or_default();
    if origins.is_empty() {
        doc.err(
            &k("origins"),
            "needs at least one origin such as \"https://app.example\" (or \"*\")",
        );
        return None;
    }
    let any_origin = origins.iter().any(|o| o == "*");
    let credentials = c.credentials.unwrap_or(false);
    if any_origin && (origins.len() > 1 || credentials) {
        doc.err(
            &k("origins"),
            "\"*\" must be the only origin, and cannot be used with credentials = true",
        );
        return None;
    }
    let mut ok = true;
    for (i, o) in origins.iter().enumerate().filter(|_| !any_origin) {
        let valid = (o.starts_with("https://") || o.starts_with("http://"))
            && !o.ends_with('/')
            && o.bytes().all(|b| b.is_ascii_graphic());
        if !valid {
            doc.err(
                &format!("{}[{i}]", k("origins")),
                format!("{o:?} is not an origin: scheme://host[:port], no path"),
            );
            ok = false;
        }
    }
    let mut methods = route_methods;
    if let Some(list) = &c.methods {
        methods = MethodSet(0);
        for (i, m) in list.iter().enumerate() {
            match check(doc, &format!("{}[{i}]", k("methods")), validate::method(m)) {
                Some(m) => methods.0 |= m.bit(),
                None => ok = false,
            }
        }
    }
    if methods.0 == 0 {
        // An unconstrained route: the methods a browser page typically calls.
        for m in [
            Method::Get,
            Method::Head,
            Method::Post,
            Method::Put,
            Method::Patch,
            Method::Delete,
        ] {
            methods.0 |= m.bit();
        }
    }
    let mut headers = Vec::new();
    for (i, h) in c.headers.iter().flatten().enumerate() {
        match check(
            doc,
            &format!("{}[{i}]", k("headers")),
            validate::header_name(h),
        ) {
            Some(h) => headers.push(h.into_boxed_slice()),
            None => ok = false,
        }
    }
    let headers_value = headers
        .iter()
        .map(|h| String::from_utf8_lossy(h).into_owned())
        .collect::<Vec<_>>()
        .join(", ");
    let max_age_s = c.max_age_s.unwrap_or(model::CORS_MAX_AGE_S);
    let max_age_s = check(
        doc,
        &k("max_age_s"),
        validate::bounded(max_age_s, 0, 86_400),
    )?;
    ok.then(|| CorsRule {
        origins: origins.iter().map(|o| o.as_bytes().into()).collect(),
        any_origin,
        methods,
        methods_value: methods.allow_header().into(),
        headers: headers.into(),
        headers_value: headers_value.into(),
        credentials,
        max_age_s,
    })
}
