//! Compiling `[[routes]]` into the `route::Router`: matchers, upstream
//! reference, path rewrite and header edits.
//!
//! Owns: the per-route rules (exactly one of path/path_prefix, known
//! upstream, strip/rewrite exclusivity, legal header edits). Must never:
//! decide match order (that is `route::Router::new`).

use std::sync::Arc;

use super::compile::{check, required};
use super::load::Doc;
use super::model::{EditsFile, HeaderCondFile, RouteFile};
use super::validate;
use crate::ratelimit::Limiter;
use crate::route::matcher::prefix_matches;
use crate::route::{
    HeaderCond, HeaderEdits, HeaderMatch, HostMatch, Matchers, MethodSet, PathMatch, PathRewrite,
    Route, Router,
};

/// Compiles every route; `upstreams` are the upstream names in file order.
pub fn compile(
    doc: &mut Doc<'_>,
    routes: &[RouteFile],
    upstreams: &[Option<String>],
    auth: &super::auth_routes::AuthRefs<'_>,
    limits: &[Arc<Limiter>],
    caches: &[Arc<crate::cache::named::Named>],
) -> Router {
    let mut out = Vec::with_capacity(routes.len());
    for (i, r) in routes.iter().enumerate() {
        let cache = super::caches::route_cache(doc, &format!("routes[{i}]"), r, caches);
        if let Some(mut route) = route(doc, i, r, &routes[..i], upstreams, auth, limits) {
            let Ok(cache) = cache else { continue };
            if let Some(c) = &cache {
                unkeyed_edits(doc, i, c, &route);
            }
            route.cache = cache;
            out.push(route);
        }
    }
    Router::new(out)
}

fn route(
    doc: &mut Doc<'_>,
    i: usize,
    r: &RouteFile,
    earlier: &[RouteFile],
    upstreams: &[Option<String>],
    auth: &super::auth_routes::AuthRefs<'_>,
    limits: &[Arc<Limiter>],
) -> Option<Route> {
    let p = format!("routes[{i}]");
    let key = |k: &str| format!("{p}.{k}");

    let name = required(doc, &key("name"), &r.name, "used in logs");
    if let Some(n) = name {
        check(doc, &key("name"), validate::name(n));
        if let Some(first) = earlier.iter().position(|e| e.name.as_ref() == Some(n)) {
            doc.err(
                &key("name"),
                format!("duplicate route name {n:?} (also routes[{first}])"),
            );
        }
    }

    let path = path_matcher(doc, &p, r);
    let methods = methods(doc, &key("methods"), r.methods.as_deref());
    let host = match &r.host {
        Some(h) => check(doc, &key("host"), validate::host(h)),
        None => Some(HostMatch::Any),
    };
    let headers = header_matchers(doc, &key("headers"), r);

    let hint = "the name of an [[upstreams]] entry";
    let upstream = required(doc, &key("upstream"), &r.upstream, hint)
        .and_then(|u| upstream_index(doc, &key("upstream"), u, upstreams));

    let rewrite = rewrite(doc, &p, r, path.as_ref());
    let req_edits = edits(
        doc,
        &key("request_headers"),
        r.request_headers.as_ref(),
        &validate::GATEWAY_WRITTEN,
    );
    let resp_edits = edits(
        doc,
        &key("response_headers"),
        r.response_headers.as_ref(),
        &[],
    );
    // Policies run in this order: CORS (inserted first below), authentication,
    // rate and concurrency limits (keyed on the identity authentication
    // found), then request validation (after the cheap refusals, before any
    // body is buffered).
    let limits = super::ratelimits::route_policies(doc, &p, r, limits);
    let (mut policies, strip) = super::auth_routes::route_policies(doc, &p, r, auth)?;
    policies.extend(limits?);
    if let Some(v) = &r.validate {
        let rule = super::policies::validate_rule(doc, &key("validate"), v)?;
        policies.push(crate::policy::Policy::Validate(rule));
    }
    // Client copies of headers that carry verified claims are dropped, so
    // the upstream only ever sees the gateway's values.
    let req_edits = req_edits.map(|mut e| {
        e.push_remove(strip);
        e
    });
    let (cors, resp_edits, hsts) = super::policies::browser(doc, &p, r, resp_edits, &methods)?;
    if let Some(c) = cors {
        // First, so that a refusal by a later policy still carries CORS headers.
        policies.insert(0, c);
    }

    let upgrade = upgrade(doc, &key("upgrade"), r.upgrade.as_deref());
    let original = original_path_header(doc, &key("original_path_header"), r);
    // A client's own copy of the header would pass for the gateway's.
    let req_edits = req_edits.map(|mut e| {
        e.push_remove(original.iter().flatten().map(|n| n.to_vec()));
        e
    });
    let m = Matchers {
        host: host?,
        path: path?,
        headers: headers?,
        methods: methods?,
        path_ignore_case: r.case_sensitive == Some(false),
    };
    let mut route = Route::new(name?, upstream?, m, rewrite?, req_edits?, resp_edits);
    route.policies = policies.into();
    route.original_path_header = original?;
    route.hsts = hsts;
    route.upgrade = upgrade?;
    Some(route)
}

/// A key part the route's `request_headers` removes or sets would key the
/// cache on a value the upstream never sees.
fn unkeyed_edits(doc: &mut Doc<'_>, i: usize, c: &crate::cache::named::RouteCache, route: &Route) {
    for (j, part) in c.key.iter().enumerate() {
        let crate::cache::named::KeyPart::Header(name) = part;
        if route.request_headers.drops(name) {
            doc.err(
                &format!("routes[{i}].cache.key[{j}]"),
                "the route's request_headers remove or set this header: the upstream would not see the value the cache is keyed on",
            );
        }
    }
}

/// Position of the upstream named `name`, or an error listing the known names.
fn upstream_index(
    doc: &mut Doc<'_>,
    key: &str,
    name: &str,
    upstreams: &[Option<String>],
) -> Option<usize> {
    let found = upstreams.iter().position(|n| n.as_deref() == Some(name));
    if found.is_none() {
        let known: Vec<&str> = upstreams.iter().flatten().map(String::as_str).collect();
        let msg = match known.is_empty() {
            true => format!("unknown upstream {name:?}: no [[upstreams]] are defined"),
            false => format!("unknown upstream {name:?} (defined: {})", known.join(", ")),
        };
        doc.err(key, msg);
    }
    found
}

fn path_matcher(doc: &mut Doc<'_>, p: &str, r: &RouteFile) -> Option<PathMatch> {
    let (exact_key, prefix_key) = (format!("{p}.path"), format!("{p}.path_prefix"));
    match (&r.path, &r.path_prefix) {
        (Some(_), Some(_)) => {
            doc.err(
                &prefix_key,
                "`path` and `path_prefix` are mutually exclusive: keep one",
            );
            None
        }
        (Some(x), None) => check(doc, &exact_key, validate::path(x))
            .map(|()| PathMatch::Exact(x.as_bytes().into())),
        (None, Some(x)) => check(doc, &prefix_key, validate::path(x))
            .map(|()| PathMatch::Prefix(x.as_bytes().into())),
        (None, None) => {
            if !doc.present(&exact_key) && !doc.present(&prefix_key) {
                doc.err(
                    p,
                    "a route needs exactly one of `path` (exact) or `path_prefix`",
                );
            }
            None
        }
    }
}

/// `original_path_header`: a header name the route may set (not one that
/// frames the message or belongs to one hop). `Some(None)` when unset.
fn original_path_header(doc: &mut Doc<'_>, key: &str, r: &RouteFile) -> Option<Option<Box<[u8]>>> {
    let Some(name) = &r.original_path_header else {
        return Some(None);
    };
    let lower = check(doc, key, validate::header_name(name))?;
    let text = String::from_utf8_lossy(&lower);
    if validate::FORBIDDEN_EDITS.contains(&&*text) || validate::GATEWAY_WRITTEN.contains(&&*text) {
        let why = "it frames the message, belongs to one hop or is written by the gateway";
        doc.err(
            key,
            format!("{text:?} cannot carry the original path: {why}"),
        );
        return None;
    }
    let edited = r
        .request_headers
        .iter()
        .flat_map(|e| e.set.keys().chain(e.add.keys()));
    if edited.into_iter().any(|n| n.eq_ignore_ascii_case(&text)) {
        doc.err(
            key,
            format!("{text:?} is also set or added by request_headers: the upstream would get two"),
        );
        return None;
    }
    Some(Some(lower.into_boxed_slice()))
}

/// `upgrade`: the protocol names (RFC 9110 tokens, compared without case)
/// the route proxies as an upgrade. An empty list or a repeated name is an
/// error: omitting the key is how a route proxies none.
fn upgrade(doc: &mut Doc<'_>, key: &str, list: Option<&[String]>) -> Option<Box<[Box<[u8]>]>> {
    let Some(list) = list else {
        return Some(Box::default());
    };
    if list.is_empty() {
        doc.err(
            key,
            "empty list upgrades nothing: omit `upgrade` for a route that proxies no upgrade",
        );
        return None;
    }
    let mut out: Vec<Box<[u8]>> = Vec::with_capacity(list.len());
    let mut ok = true;
    for (j, t) in list.iter().enumerate() {
        let k = format!("{key}[{j}]");
        if !validate::is_token(t) {
            let hint = "an Upgrade protocol name such as \"websocket\"";
            doc.err(&k, format!("{t:?} is not a token (RFC 9110): {hint}"));
            ok = false;
            continue;
        }
        let lower = t.to_ascii_lowercase().into_bytes().into_boxed_slice();
        if out.contains(&lower) {
            doc.err(
                &k,
                format!("{t:?} is listed twice (names compare without case)"),
            );
            ok = false;
            continue;
        }
        out.push(lower);
    }
    ok.then(|| out.into_boxed_slice())
}

fn methods(doc: &mut Doc<'_>, key: &str, list: Option<&[String]>) -> Option<MethodSet> {
    let Some(list) = list else {
        return Some(MethodSet::default());
    };
    if list.is_empty() {
        doc.err(
            key,
            "empty list would match no request: omit `methods` to allow every method",
        );
        return None;
    }
    let mut bits = 0u16;
    let mut ok = true;
    for (j, m) in list.iter().enumerate() {
        match check(doc, &format!("{key}[{j}]"), validate::method(m)) {
            Some(m) => bits |= m.bit(),
            None => ok = false,
        }
    }
    ok.then_some(MethodSet(bits))
}

fn header_matchers(doc: &mut Doc<'_>, key: &str, r: &RouteFile) -> Option<Vec<HeaderMatch>> {
    let Some(map) = &r.headers else {
        return Some(Vec::new());
    };
    let mut out: Vec<HeaderMatch> = Vec::with_capacity(map.len());
    let mut ok = true;
    for (name, cond) in map {
        let k = format!("{key}.{name}");
        let Some(lower) = check(doc, &k, validate::header_name(name)) else {
            ok = false;
            continue;
        };
        if out.iter().any(|m| *m.name == *lower) {
            doc.err(
                &k,
                format!("header {name:?} is listed twice (names are case-insensitive)"),
            );
            ok = false;
            continue;
        }
        let cond = match cond {
            HeaderCondFile::Present(true) => HeaderCond::Present,
            HeaderCondFile::Present(false) => HeaderCond::Absent,
            HeaderCondFile::Value(v) => match check(doc, &k, validate::header_value(v)) {
                Some(v) => HeaderCond::Equals(v.into_boxed_slice()),
                None => {
                    ok = false;
                    continue;
                }
            },
        };
        out.push(HeaderMatch {
            name: lower.into_boxed_slice(),
            cond,
        });
    }
    ok.then_some(out)
}

fn rewrite(
    doc: &mut Doc<'_>,
    p: &str,
    r: &RouteFile,
    path: Option<&PathMatch>,
) -> Option<PathRewrite> {
    let (strip_key, rewrite_key) = (format!("{p}.strip_prefix"), format!("{p}.rewrite_prefix"));
    match (&r.strip_prefix, &r.rewrite_prefix) {
        (None, None) => Some(PathRewrite::None),
        (Some(_), Some(_)) => {
            doc.err(
                &rewrite_key,
                "`strip_prefix` and `rewrite_prefix` are mutually exclusive: keep one",
            );
            None
        }
        (None, Some(to)) => {
            check(doc, &rewrite_key, validate::path(to))?;
            match (&r.path_prefix, path) {
                (Some(_), Some(PathMatch::Prefix(from))) => Some(PathRewrite::Replace {
                    from: from.clone(),
                    to: to.as_bytes().into(),
                }),
                (Some(_), _) => None, // path_prefix itself is invalid, already reported
                (None, _) => {
                    doc.err(
                        &rewrite_key,
                        "`rewrite_prefix` replaces `path_prefix`, which this route does not set",
                    );
                    None
                }
            }
        }
        (Some(s), None) => {
            check(doc, &strip_key, validate::path(s))?;
            // A trailing '/' is ignored so the result keeps its leading '/'.
            let s = s.trim_end_matches('/');
            if s.is_empty() {
                doc.err(&strip_key, "strip_prefix \"/\" strips nothing: remove it");
                return None;
            }
            let reachable = match path {
                Some(PathMatch::Exact(x)) => prefix_matches(s.as_bytes(), x),
                Some(PathMatch::Prefix(x)) => {
                    prefix_matches(s.as_bytes(), x) || prefix_matches(x, s.as_bytes())
                }
                None => true, // the path is invalid, already reported
            };
            if !reachable {
                doc.err(&strip_key, format!("strip_prefix {s:?} can never apply: no path this route matches starts with it"));
                return None;
            }
            Some(PathRewrite::Strip(s.as_bytes().into()))
        }
    }
}

/// One `request_headers`/`response_headers` table; `gateway_written` are
/// names the gateway writes on that side itself, refused as edits.
fn edits(
    doc: &mut Doc<'_>,
    key: &str,
    e: Option<&EditsFile>,
    gateway_written: &[&str],
) -> Option<HeaderEdits> {
    let Some(e) = e else {
        return Some(HeaderEdits::default());
    };
    let mut seen: Vec<Vec<u8>> = Vec::new();
    let mut ok = true;
    let mut name_ok = |doc: &mut Doc<'_>, k: &str, name: &str| -> Option<Vec<u8>> {
        let lower = check(doc, k, validate::header_name(name))?;
        let text = String::from_utf8_lossy(&lower);
        if validate::FORBIDDEN_EDITS.contains(&&*text) {
            doc.err(
                k,
                format!(
                    "header {text:?} cannot be edited: it frames the message or belongs to one hop"
                ),
            );
            return None;
        }
        if gateway_written.contains(&&*text) {
            doc.err(
                k,
                format!("header {text:?} cannot be edited: the gateway writes it on every upstream request (docs/security.md)"),
            );
            return None;
        }
        if seen.contains(&lower) {
            doc.err(
                k,
                format!("header {text:?} appears more than once in set/add/remove"),
            );
            return None;
        }
        seen.push(lower.clone());
        Some(lower)
    };
    let mut pairs =
        |doc: &mut Doc<'_>, list: &str, map: &std::collections::BTreeMap<String, String>| {
            let mut out = Vec::with_capacity(map.len());
            for (name, value) in map {
                let k = format!("{key}.{list}.{name}");
                let n = name_ok(doc, &k, name);
                let v = check(doc, &k, validate::header_value(value));
                match (n, v) {
                    (Some(n), Some(v)) => out.push((n, v)),
                    _ => ok = false,
                }
            }
            out
        };
    let set = pairs(doc, "set", &e.set);
    let add = pairs(doc, "add", &e.add);
    let mut remove = Vec::with_capacity(e.remove.len());
    for (j, name) in e.remove.iter().enumerate() {
        match name_ok(doc, &format!("{key}.remove[{j}]"), name) {
            Some(n) => remove.push(n),
            None => ok = false,
        }
    }
    ok.then(|| HeaderEdits::new(&set, &add, remove))
}
