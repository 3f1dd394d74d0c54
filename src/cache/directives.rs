//! `Cache-Control` directives (RFC 9111 §5.2), of a response and of a
//! request, parsed from every field line of the header at once.
//!
//! The reading is conservative where the RFC lets a cache choose: a
//! freshness directive given twice with different values, or with a value
//! that is not delta-seconds, makes the response stale (max-age 0, §4.2.1);
//! when directives conflict the most restrictive one wins, which falls out
//! of keeping every flag that was seen. Names are case-insensitive; values
//! may be tokens or quoted strings (§5.2: recipients accept both).
//!
//! Owns: the syntax. Must never: decide what a directive means for a stored
//! response (`freshness`, `storable`).

use super::delta_seconds;

/// Splits field values into `(name, value)` directives: commas inside a
/// quoted string do not split, quotes are removed from the value, empty
/// list elements are skipped (RFC 9110 §5.6.1).
pub fn each<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
) -> impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)> {
    values.into_iter().flat_map(split)
}

fn split(v: &[u8]) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
    let mut rest = v;
    std::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let mut quoted = false;
        let mut end = rest.len();
        let mut i = 0;
        while i < rest.len() {
            match rest[i] {
                b'\\' if quoted => i += 1,
                b'"' => quoted = !quoted,
                b',' if !quoted => {
                    end = i;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        let item = trim(&rest[..end]);
        rest = if end < rest.len() {
            &rest[end + 1..]
        } else {
            &[]
        };
        if item.is_empty() {
            continue;
        }
        return Some(match item.iter().position(|&b| b == b'=') {
            None => (item, None),
            Some(eq) => {
                let val = trim(&item[eq + 1..]);
                let val = match val {
                    [b'"', inner @ .., b'"'] => inner,
                    other => other,
                };
                (trim(&item[..eq]), Some(val))
            }
        });
    })
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b" \t".contains(b))
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b" \t".contains(b))
        .map_or(start, |e| e + 1);
    &s[start..end]
}

/// A freshness value: each occurrence must agree and be delta-seconds, or
/// the value is 0 (stale).
fn delta(slot: &mut Option<u64>, v: Option<&[u8]>) {
    let parsed = v.and_then(delta_seconds).unwrap_or(0);
    *slot = Some(match *slot {
        Some(prev) if prev != parsed => 0,
        _ => parsed,
    });
}

/// A field-name list (`no-cache="a, b"`), lowercased.
fn fields(out: &mut Vec<Box<str>>, v: &[u8]) {
    for f in v.split(|&b| b == b',') {
        let f = trim(f);
        if !f.is_empty() {
            out.push(String::from_utf8_lossy(f).to_ascii_lowercase().into());
        }
    }
}

/// A response's `Cache-Control`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Response {
    /// `max-age`.
    pub max_age: Option<u64>,
    /// `s-maxage`: the shared cache's own max-age; also implies
    /// `proxy-revalidate` (§5.2.2.10).
    pub s_maxage: Option<u64>,
    /// `no-store`.
    pub no_store: bool,
    /// Unqualified `no-cache`: every reuse is validated first.
    pub no_cache: bool,
    /// `no-cache="…"`: these fields are never sent from cache unvalidated.
    pub no_cache_fields: Vec<Box<str>>,
    /// Unqualified `private`: a shared cache does not store it.
    pub private: bool,
    /// `private="…"`: a shared cache stores the response without these.
    pub private_fields: Vec<Box<str>>,
    /// `public`.
    pub public: bool,
    /// `must-revalidate`.
    pub must_revalidate: bool,
    /// `proxy-revalidate`.
    pub proxy_revalidate: bool,
    /// `stale-while-revalidate` (RFC 5861 §3).
    pub stale_while_revalidate: Option<u64>,
    /// `stale-if-error` (RFC 5861 §4).
    pub stale_if_error: Option<u64>,
}

impl Response {
    /// Parses every `Cache-Control` field line of a response.
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Response {
        let mut r = Response::default();
        for (name, v) in each(values) {
            let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
            if is("max-age") {
                delta(&mut r.max_age, v);
            } else if is("s-maxage") {
                delta(&mut r.s_maxage, v);
            } else if is("no-store") {
                r.no_store = true;
            } else if is("no-cache") {
                match v {
                    Some(v) if !v.is_empty() => fields(&mut r.no_cache_fields, v),
                    _ => r.no_cache = true,
                }
            } else if is("private") {
                match v {
                    Some(v) if !v.is_empty() => fields(&mut r.private_fields, v),
                    _ => r.private = true,
                }
            } else if is("public") {
                r.public = true;
            } else if is("must-revalidate") {
                r.must_revalidate = true;
            } else if is("proxy-revalidate") {
                r.proxy_revalidate = true;
            } else if is("stale-while-revalidate") {
                delta(&mut r.stale_while_revalidate, v);
            } else if is("stale-if-error") {
                delta(&mut r.stale_if_error, v);
            }
        }
        r
    }

    /// True when a stale copy must never be served (§4.2.4): the response
    /// said so, for every cache or for shared ones.
    pub fn forbids_stale(&self) -> bool {
        self.must_revalidate || self.proxy_revalidate || self.s_maxage.is_some()
    }
}

/// How much staleness a request accepts (`max-stale`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxStale {
    /// `max-stale` with no value: any.
    Any,
    /// `max-stale=N`.
    Secs(u64),
}

/// A request's `Cache-Control` (§5.2.1).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Request {
    /// `max-age`: the oldest response the client accepts.
    pub max_age: Option<u64>,
    /// `max-stale`.
    pub max_stale: Option<MaxStale>,
    /// `min-fresh`: the response must stay fresh this much longer.
    pub min_fresh: Option<u64>,
    /// `no-cache`: validate before reuse.
    pub no_cache: bool,
    /// `no-store`: store neither this request nor its response.
    pub no_store: bool,
    /// `only-if-cached`: never go to the origin (504 on a miss).
    pub only_if_cached: bool,
}

impl Request {
    /// Parses every `Cache-Control` field line of a request.
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Request {
        let mut r = Request::default();
        for (name, v) in each(values) {
            let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
            if is("max-age") {
                delta(&mut r.max_age, v);
            } else if is("max-stale") {
                // An invalid value accepts no staleness rather than any.
                r.max_stale = Some(match v {
                    None => MaxStale::Any,
                    Some(v) => MaxStale::Secs(delta_seconds(v).unwrap_or(0)),
                });
            } else if is("min-fresh") {
                // An invalid min-fresh asks for more freshness than any
                // response has: the request goes to the origin.
                let n = v.and_then(delta_seconds).unwrap_or(super::DELTA_MAX);
                r.min_fresh = Some(r.min_fresh.map_or(n, |p| p.max(n)));
            } else if is("no-cache") {
                r.no_cache = true;
            } else if is("no-store") {
                r.no_store = true;
            } else if is("only-if-cached") {
                r.only_if_cached = true;
            }
        }
        r
    }
}
