//! The per-route matchers: host, path, headers and method set, compiled to
//! bytes so that matching is comparisons only.
//!
//! Owns: the matching semantics documented in `docs/config.md` and the
//! specificity rank of each matcher. Must never: allocate, look anything up
//! by string, or validate configuration syntax (that is `config`, which only
//! hands over normalised, valid bytes).

use crate::http::Method;

/// How a route constrains the request's host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostMatch {
    /// No `host` key: every host matches, and so do requests without one.
    Any,
    /// `host = "api.example.com"`: lowercase, no trailing dot, no port.
    Exact(Box<[u8]>),
    /// `host = "*.example.com"`, stored as the suffix `.example.com`.
    Suffix(Box<[u8]>),
}

impl HostMatch {
    /// True when `host` (a Host header value, `None` when absent) matches.
    #[inline]
    pub fn matches(&self, host: Option<&[u8]>) -> bool {
        let want = match self {
            HostMatch::Any => return true,
            HostMatch::Exact(w) | HostMatch::Suffix(w) => w,
        };
        let Some(host) = host else { return false };
        let h = bare_host(host);
        match self {
            HostMatch::Exact(_) => h.eq_ignore_ascii_case(want),
            // Strictly longer: `*.example.com` never matches the apex.
            _ => h.len() > want.len() && h[h.len() - want.len()..].eq_ignore_ascii_case(want),
        }
    }

    /// Specificity rank: exact > wildcard (longer suffix first) > any.
    pub fn rank(&self) -> (u8, usize) {
        match self {
            HostMatch::Exact(_) => (2, 0),
            HostMatch::Suffix(s) => (1, s.len()),
            HostMatch::Any => (0, 0),
        }
    }
}

/// A Host value without its `:port` suffix and trailing dot.
#[inline]
pub fn bare_host(host: &[u8]) -> &[u8] {
    let h = if host.first() == Some(&b'[') {
        // IPv6 literal: the port, if any, follows the closing bracket.
        match host.iter().position(|&b| b == b']') {
            Some(end) => &host[..=end],
            None => host,
        }
    } else {
        match host.iter().position(|&b| b == b':') {
            Some(colon) => &host[..colon],
            None => host,
        }
    };
    h.strip_suffix(b".").unwrap_or(h)
}

/// How a route constrains the (normalised) path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathMatch {
    /// `path = "/exact"`: equality, also with one trailing `/` added.
    Exact(Box<[u8]>),
    /// `path_prefix`: segment-aware prefix (see [`prefix_matches`]).
    Prefix(Box<[u8]>),
}

impl PathMatch {
    /// True when `path` matches; `ignore_case` compares ASCII letters
    /// case-insensitively (`case_sensitive = false`).
    #[inline]
    pub fn matches(&self, path: &[u8], ignore_case: bool) -> bool {
        match self {
            PathMatch::Exact(p) => exact_matches(p, path, ignore_case),
            PathMatch::Prefix(p) => prefix_matches_case(p, path, ignore_case),
        }
    }

    /// Specificity rank: exact > longer prefix > shorter prefix.
    pub fn rank(&self) -> (u8, usize) {
        match self {
            PathMatch::Exact(_) => (1, 0),
            PathMatch::Prefix(p) => (0, p.len()),
        }
    }
}

/// Segment-aware prefix test: `/api/users` matches `/api/users`,
/// `/api/users/` and `/api/users/7` but not `/api/usersX`; a prefix ending
/// in `/` (including `/` itself) matches anything that starts with it.
#[inline]
pub fn prefix_matches(prefix: &[u8], path: &[u8]) -> bool {
    prefix_matches_case(prefix, path, false)
}

/// [`prefix_matches`], ASCII case-insensitive when `ignore_case`.
#[inline]
pub fn prefix_matches_case(prefix: &[u8], path: &[u8], ignore_case: bool) -> bool {
    if !starts_with(path, prefix, ignore_case) {
        return false;
    }
    prefix.last() == Some(&b'/') || path.len() == prefix.len() || path[prefix.len()] == b'/'
}

/// `path` is `exact` or `exact` plus one `/`: Express (non-strict routing)
/// and Spring serve both as one resource, so both must take this route.
#[inline]
fn exact_matches(exact: &[u8], path: &[u8], ignore_case: bool) -> bool {
    let body = match path.strip_suffix(b"/") {
        Some(b) if path.len() == exact.len() + 1 && exact.last() != Some(&b'/') => b,
        _ => path,
    };
    body.len() == exact.len() && starts_with(body, exact, ignore_case)
}

#[inline]
fn starts_with(path: &[u8], prefix: &[u8], ignore_case: bool) -> bool {
    match path.get(..prefix.len()) {
        Some(head) if ignore_case => head.eq_ignore_ascii_case(prefix),
        Some(head) => head == prefix,
        None => false,
    }
}

/// What a header matcher requires of the named header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderCond {
    /// `true`: at least one occurrence.
    Present,
    /// `false`: no occurrence.
    Absent,
    /// A string: some occurrence whose OWS-trimmed value equals it exactly.
    Equals(Box<[u8]>),
}

/// One `headers` entry of a route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderMatch {
    /// Lowercase header name.
    pub name: Box<[u8]>,
    /// The condition on its occurrences.
    pub cond: HeaderCond,
}

impl HeaderMatch {
    /// True when the request's headers (name, value pairs) satisfy this matcher.
    #[inline]
    pub fn matches<'h, I>(&self, headers: I) -> bool
    where
        I: Iterator<Item = (&'h [u8], &'h [u8])>,
    {
        let mut occurrences = headers.filter(|(n, _)| n.eq_ignore_ascii_case(&self.name));
        match &self.cond {
            HeaderCond::Present => occurrences.next().is_some(),
            HeaderCond::Absent => occurrences.next().is_none(),
            HeaderCond::Equals(want) => occurrences.any(|(_, v)| trim_ows(v) == &want[..]),
        }
    }
}

/// The value without leading and trailing spaces and tabs.
#[inline]
pub fn trim_ows(v: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = v.iter().position(|b| !is_ows(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !is_ows(b)).map_or(start, |e| e + 1);
    &v[start..end]
}

/// Every method a route can list, in the order `allow` strings use.
pub const KNOWN_METHODS: [Method; 9] = [
    Method::Get,
    Method::Head,
    Method::Post,
    Method::Put,
    Method::Delete,
    Method::Patch,
    Method::Options,
    Method::Trace,
    Method::Connect,
];

/// A set of methods as `Method::bit` flags; empty means "any method".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MethodSet(pub u16);

impl MethodSet {
    /// True when the set is unconstrained or contains `m`.
    #[inline]
    pub fn allows(self, m: Method) -> bool {
        self.0 == 0 || self.0 & m.bit() != 0
    }

    /// The `allow` header value, e.g. `GET, POST` (empty for "any").
    pub fn allow_header(self) -> String {
        let names: Vec<&str> = KNOWN_METHODS
            .iter()
            .filter(|m| self.0 & m.bit() != 0)
            .filter_map(|m| m.as_str())
            .collect();
        names.join(", ")
    }
}

#[cfg(test)]
#[path = "matcher_tests.rs"]
mod tests;
