//! How long a stored response stays fresh (RFC 9111 §4.2.1, §4.2.2), how
//! old it is now (§4.2.3), and whether a request may be answered with it
//! as it is, stale, or only after validation (§4.2.4, §4.3, RFC 5861).
//!
//! Times are whole seconds since the Unix epoch, passed in by the caller:
//! `request_time` and `response_time` are the cache's own clock when the
//! request went upstream and when the response head came back.
//!
//! Heuristic freshness, for a response with no explicit expiry, is given
//! only where §4.2.2 allows it: a status that is heuristically cacheable
//! (RFC 9110 §15.1) or a `public` response. It is 10% of the time since
//! `Last-Modified`, capped at `HEURISTIC_CAP`, else the route's
//! configured default (0 unless set: nothing is cached on a guess).
//!
//! Owns: the arithmetic and the reuse decision. Must never: read a clock
//! or a header line (callers parse, `directives` reads Cache-Control).

use super::directives::{MaxStale, Request, Response};
use super::DELTA_MAX;

/// The longest heuristic lifetime, as Squid and Varnish-style caches cap
/// theirs: a resource unchanged for years is still rechecked daily.
pub const HEURISTIC_CAP: u64 = 24 * 3600;

/// Statuses that are heuristically cacheable (RFC 9110 §15.1), less 206,
/// which this cache does not store.
pub fn heuristically_cacheable(status: u16) -> bool {
    matches!(
        status,
        200 | 203 | 204 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// `Expires`, as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expires {
    /// A valid HTTP-date.
    At(u64),
    /// Present but not a date (`0`, say): already expired (§5.3).
    Invalid,
}

/// What freshness depends on, from a stored response.
#[derive(Debug, Clone, Default)]
pub struct Times {
    /// The response's status.
    pub status: u16,
    /// Its `Cache-Control`.
    pub cc: Response,
    /// `Date`, when valid.
    pub date: Option<u64>,
    /// `Expires`, when present.
    pub expires: Option<Expires>,
    /// `Last-Modified`, when valid.
    pub last_modified: Option<u64>,
    /// `Age` as received (0 when absent or invalid).
    pub age: u64,
    /// When the request that fetched it was sent.
    pub request_time: u64,
    /// When its head was received.
    pub response_time: u64,
}

/// Where a freshness lifetime came from (`Cache-Status` and the access log
/// say which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// From `s-maxage`, `max-age` or `Expires`.
    Explicit(u64),
    /// Assigned by the heuristic or the route's default.
    Heuristic(u64),
    /// None may be given: the response is stale from the start.
    None,
}

impl Lifetime {
    /// The lifetime in seconds (0 for `None`).
    pub fn secs(self) -> u64 {
        match self {
            Lifetime::Explicit(s) | Lifetime::Heuristic(s) => s,
            Lifetime::None => 0,
        }
    }
}

impl Times {
    /// `Date`, or the response time when it is absent (§4.2.1).
    fn date_value(&self) -> u64 {
        self.date.unwrap_or(self.response_time)
    }

    /// §4.2.1 for a shared cache, then §4.2.2 where allowed; `default_ttl`
    /// is the route's heuristic when `Last-Modified` gives none.
    pub fn lifetime(&self, default_ttl: u64) -> Lifetime {
        if let Some(s) = self.cc.s_maxage {
            return Lifetime::Explicit(s);
        }
        if let Some(s) = self.cc.max_age {
            return Lifetime::Explicit(s);
        }
        match self.expires {
            Some(Expires::At(at)) => {
                return Lifetime::Explicit(at.saturating_sub(self.date_value()))
            }
            Some(Expires::Invalid) => return Lifetime::Explicit(0),
            None => {}
        }
        if !(heuristically_cacheable(self.status) || self.cc.public) {
            return Lifetime::None;
        }
        let from_lm = self
            .last_modified
            .map(|lm| (self.date_value().saturating_sub(lm) / 10).min(HEURISTIC_CAP))
            .unwrap_or(0);
        match from_lm.max(default_ttl.min(DELTA_MAX)) {
            0 => Lifetime::None,
            s => Lifetime::Heuristic(s),
        }
    }

    /// The response's current age at `now` (§4.2.3).
    pub fn current_age(&self, now: u64) -> u64 {
        let apparent = self.response_time.saturating_sub(self.date_value());
        let delay = self.response_time.saturating_sub(self.request_time);
        let corrected = self.age.saturating_add(delay);
        let initial = apparent.max(corrected);
        initial
            .saturating_add(now.saturating_sub(self.response_time))
            .min(DELTA_MAX)
    }
}

/// May a stored response answer a request, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    /// Fresh, and fresh enough for the request: serve it.
    Fresh,
    /// Stale, but the request's `max-stale` accepts it: serve it.
    StaleAccepted,
    /// Stale within `stale-while-revalidate`: serve it now and refresh in
    /// the background (RFC 5861 §3).
    StaleWhileRevalidate,
    /// Go to the origin first (conditionally when the entry has a
    /// validator). `stale_if_error`: the stale copy may answer if the
    /// origin fails or answers 5xx (RFC 5861 §4).
    Validate {
        /// Whether the stored copy may stand in on an origin error.
        stale_if_error: bool,
    },
}

/// The decision for one request, with the numbers `Age` and
/// `Cache-Status` report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// What to do.
    pub reuse: Reuse,
    /// The current age, for the `Age` header.
    pub age: u64,
    /// Freshness left (negative when stale), for `Cache-Status; ttl`.
    pub ttl: i64,
}

/// Decides whether `t` may answer a request with directives `req` at `now`.
pub fn decide(t: &Times, req: &Request, now: u64, default_ttl: u64) -> Decision {
    let lifetime = t.lifetime(default_ttl).secs();
    let age = t.current_age(now);
    let ttl = lifetime as i64 - age as i64;
    let reuse = reuse(t, req, lifetime, age);
    Decision { reuse, age, ttl }
}

fn reuse(t: &Times, req: &Request, lifetime: u64, age: u64) -> Reuse {
    let forbids_stale = t.cc.forbids_stale();
    let staleness = age.saturating_sub(lifetime);
    let fresh = age < lifetime;
    // stale-if-error stands in only for a copy that may be served stale at
    // all, and only within its window.
    let if_error = !forbids_stale && t.cc.stale_if_error.is_some_and(|w| staleness <= w);
    let validate = Reuse::Validate {
        stale_if_error: if_error,
    };
    if t.cc.no_cache || req.no_cache {
        return validate;
    }
    if req.max_age.is_some_and(|m| age > m) {
        return validate;
    }
    if fresh {
        if req.min_fresh.is_some_and(|m| lifetime - age < m) {
            return validate;
        }
        return Reuse::Fresh;
    }
    if forbids_stale {
        return validate;
    }
    match req.max_stale {
        Some(MaxStale::Any) => return Reuse::StaleAccepted,
        Some(MaxStale::Secs(s)) if staleness <= s => return Reuse::StaleAccepted,
        _ => {}
    }
    if t.cc.stale_while_revalidate.is_some_and(|w| staleness <= w) {
        return Reuse::StaleWhileRevalidate;
    }
    validate
}
