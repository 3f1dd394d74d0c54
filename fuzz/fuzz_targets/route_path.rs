//! Fuzzes the path normaliser and the router together, in every
//! `escaped_slashes` x `path_params` mode. Must never panic. Asserts that
//! normalisation is idempotent and leaves no ambiguous spelling, and the
//! property issue 10 rests on: **a path the normaliser accepts routes the
//! same as its canonical form**, computed below by an independent, naive
//! model of what a decoding upstream does with the raw path. Were it
//! otherwise, some spelling would reach another (less protected) route
//! than the one the upstream serves it as.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ringway::config::{load_str, Compiled};
use ringway::http::{normalize_path, Method, PathMode};
use ringway::route::RouteMatch;

#[path = "common.rs"]
mod common;

/// Prefix, exact (with and without a trailing '/'), nested prefixes, a
/// prefix ending in '/', a method-scoped and a case-insensitive route, and
/// a catch-all. Route paths use unreserved bytes only.
const CONFIG: &str = r#"
[server]
listen = "127.0.0.1:0"

[[upstreams]]
name = "u"
targets = ["127.0.0.1:9"]

[[routes]]
name = "admin"
path_prefix = "/admin"
case_sensitive = false
upstream = "u"

[[routes]]
name = "secret"
path = "/exact/secret"
upstream = "u"

[[routes]]
name = "dir"
path = "/a/b/"
upstream = "u"

[[routes]]
name = "writes"
path_prefix = "/data"
methods = ["DELETE", "PUT"]
upstream = "u"

[[routes]]
name = "v1"
path_prefix = "/api/v1/"
upstream = "u"

[[routes]]
name = "users"
path_prefix = "/api/v1/users"
upstream = "u"

[[routes]]
name = "root"
path_prefix = "/"
upstream = "u"
"#;

fn compiled() -> &'static Compiled {
    static C: OnceLock<Compiled> = OnceLock::new();
    C.get_or_init(|| match load_str(CONFIG, "route_path.toml") {
        Ok(c) => c,
        Err(e) => panic!("fuzz config: {e}"),
    })
}

/// The route a path goes to, as a name ("404" for none, "405:" + name).
fn route_of(c: &Compiled, m: Method, path: &[u8]) -> String {
    match c.router.find_in(m, None, path, std::iter::empty()) {
        RouteMatch::Found(r) => r.name.to_string(),
        RouteMatch::MethodNotAllowed { route, .. } => format!("405:{}", route.name),
        RouteMatch::NotFound => "404".into(),
    }
}

/// What an upstream that decodes everything makes of `raw`: backslashes
/// are slashes; `;params` are cut from each segment on the raw form (as
/// Tomcat and Spring do, before decoding); then every escape is decoded
/// once (a decoded backslash is a slash too, as IIS has it), slash runs
/// merge and dot segments go. Deliberately naive and allocating: it must
/// share no code with `normalize_path`.
fn canonical(raw: &[u8]) -> Vec<u8> {
    let slashed: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'\\' { b'/' } else { b })
        .collect();
    let segments: Vec<&[u8]> = slashed.split(|&b| b == b'/').collect();
    let unparam: Vec<u8> = segments
        .iter()
        .map(|s| s.split(|&b| b == b';').next().unwrap_or(&[]))
        .collect::<Vec<_>>()
        .join(&b'/');
    let mut decoded = Vec::new();
    let mut i = 0;
    while i < unparam.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        let esc = match (unparam.get(i + 1), unparam.get(i + 2)) {
            (Some(&h), Some(&l)) if unparam[i] == b'%' => hex(h).zip(hex(l)),
            _ => None,
        };
        match esc {
            Some((h, l)) => {
                let b = (h * 16 + l) as u8;
                decoded.push(if b == b'\\' { b'/' } else { b });
                i += 3;
            }
            None => {
                decoded.push(unparam[i]);
                i += 1;
            }
        }
    }
    let mut out: Vec<&[u8]> = Vec::new();
    let parts: Vec<&[u8]> = decoded.split(|&b| b == b'/').skip(1).collect();
    let mut dir = false; // ends in '/'
    for (n, seg) in parts.iter().enumerate() {
        let last = n + 1 == parts.len();
        match *seg {
            b"" => {
                dir = last;
                continue;
            }
            b"." => {}
            b".." => {
                out.pop();
            }
            s => {
                out.push(s);
                dir = false;
                continue;
            }
        }
        dir = true;
    }
    let mut path = Vec::new();
    for s in &out {
        path.push(b'/');
        path.extend_from_slice(s);
    }
    if dir || path.is_empty() {
        path.push(b'/');
    }
    path
}

fuzz_target!(|data: &[u8]| {
    let c = compiled();
    let mut out = Vec::new();
    let mut again = Vec::new();
    for mode in common::path_modes() {
        check(c, data, mode, &mut out, &mut again);
    }
    // The same bytes behind a '/', so most inputs are absolute paths.
    let mut slashed = Vec::with_capacity(data.len() + 1);
    slashed.push(b'/');
    slashed.extend_from_slice(data);
    for mode in common::path_modes() {
        check(c, &slashed, mode, &mut out, &mut again);
    }
});

fn check(c: &Compiled, raw: &[u8], mode: PathMode, out: &mut Vec<u8>, again: &mut Vec<u8>) {
    if normalize_path(raw, mode, out).is_err() {
        return;
    }
    assert!(out.starts_with(b"/"));
    assert!(out.len() <= raw.len().max(1));
    assert!(!out.windows(2).any(|w| w == b"//"));
    for seg in out.split(|&b| b == b'/') {
        assert!(seg != b"." && seg != b"..", "dot segment left");
        assert!(!seg.ends_with(b".") && !seg.ends_with(b"%20"), "trailing dot/space");
    }
    assert_eq!(normalize_path(out, mode, again), Ok(false), "not idempotent");
    let canon = canonical(raw);
    for m in [Method::Get, Method::Delete] {
        assert_eq!(
            route_of(c, m, out),
            route_of(c, m, &canon),
            "{m:?} {:?} normalised to {:?} routes unlike its canonical form {:?}",
            String::from_utf8_lossy(raw),
            String::from_utf8_lossy(out),
            String::from_utf8_lossy(&canon),
        );
    }
}
