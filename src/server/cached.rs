//! Phase 6 on a route with `cache`: the request side. A GET or HEAD builds
//! the primary key, looks it up, and either answers from the stored
//! response (fresh, or stale where the rules allow; a client's own
//! conditional answered 304), or goes upstream through `proxy::forward`
//! with a `Fill` on the request, which `cache_fill` reads when the
//! response comes back. Misses of one key coalesce: one request leads, the
//! others wait for it (bounded) and look again. Other methods go upstream
//! unchanged; a successful unsafe one invalidates what it changed.
//!
//! Owns: the primary key, the reuse decision's application, coalescing,
//! and the bytes of a response served from the store. Must never: hold a
//! lock across an await (the store's and the coalescing table's are taken
//! and released inside synchronous calls), or key on anything the
//! upstream does not receive.

use std::sync::Arc;
use std::time::Instant;

use bytes::{BufMut, Bytes};
use monoio::io::AsyncWriteRentExt;

use super::conn::Conn;
use super::request::Outcome;
use super::state::Shard;
use super::{proxy, respond};
use crate::cache::coalesce::{Join, Waited};
use crate::cache::directives::Request as ReqCc;
use crate::cache::freshness::{decide, Reuse};
use crate::cache::named::{Counters, KeyPart, RouteCache};
use crate::cache::status::{CacheStatus, Fwd};
use crate::cache::store::{Entry, Lookup};
use crate::error::{self, ErrorCode};
use crate::http::{BodyKind, Method, RequestHead, Version};
use crate::observe::text::push_u64 as number;
use crate::route::Route;

/// What a cached route's request carries to the upstream exchange, so
/// `cache_fill` can store, refresh, stand in or invalidate.
pub struct Fill {
    /// The cache.
    pub cache: Arc<crate::cache::named::Named>,
    /// The primary key.
    pub key: Vec<u8>,
    /// What to do with the response.
    pub mode: Mode,
    /// The request's `Cache-Control`.
    pub req_cc: ReqCc,
    /// The request carried `Authorization`.
    pub authorization: bool,
    /// When the request went upstream (seconds since the epoch).
    pub request_time: u64,
    /// Why it went upstream (`Cache-Status: fwd=`).
    pub fwd: Fwd,
    /// A stored response that was stale: refreshed by a 304, or served on
    /// an origin error when `stale_if_error`.
    pub stale: Option<(Arc<Entry>, bool)>,
    /// Validator lines (`if-none-match`, `if-modified-since`) added to the
    /// upstream request, when the gateway revalidates `stale`.
    pub validators: Vec<u8>,
    /// The response was stored (the lead then tells its followers).
    pub stored: bool,
    /// A copy of the request head (`c.head`'s spans index it), for what
    /// the response side reads of the request once its buffer moved on.
    pub req_head: Vec<u8>,
    /// The body being copied for storing, with what will be stored.
    pub pending: Option<Box<super::cache_fill::Pending>>,
    /// `Location` / `Content-Location` keys an unsafe method invalidates.
    pub locations: Vec<Vec<u8>>,
    /// The route's `default_ttl_s`, `cache_authorized`, `cache_set_cookie`.
    pub default_ttl: u64,
    /// See `RouteCache::cache_authorized`.
    pub cache_authorized: bool,
    /// See `RouteCache::cache_set_cookie`.
    pub cache_set_cookie: bool,
}

/// What the response to a cached route's request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A GET or HEAD: store it if the rules allow.
    Lookup,
    /// An unsafe method: a 2xx/3xx invalidates the URL and its locations.
    Invalidate,
    /// Any other method: passed through.
    Bypass,
}

/// The current time in whole seconds since the epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Every value of request header `name` (lowercase), in order.
pub fn req_values<'c>(c: &'c Conn, name: &'c [u8]) -> impl Iterator<Item = &'c [u8]> + Clone {
    c.head
        .headers
        .iter()
        .filter(move |h| h.name.get(&c.buf).eq_ignore_ascii_case(name))
        .map(|h| h.value.get(&c.buf))
}

/// Every value of header `name` of request head `h` parsed from `buf`,
/// collected (for `Vary`, whose lookups outlive the name they are given).
pub fn req_lines<'b>(h: &RequestHead, buf: &'b [u8], name: &[u8]) -> Vec<&'b [u8]> {
    h.headers
        .iter()
        .filter(|e| e.name.get(buf).eq_ignore_ascii_case(name))
        .map(|e| e.value.get(buf))
        .collect()
}

/// The primary key: scheme, host and path+query as the upstream gets them
/// (the path normalised, the route's rewrite being a function of it), then
/// each of the route's `key` parts. The parts follow a NUL, which no URL
/// holds, so a purge by URL prefix reaches every keyed variant too.
pub fn primary_key(c: &Conn, rc: &RouteCache) -> Vec<u8> {
    let mut k = Vec::with_capacity(128);
    k.extend_from_slice(c.stream.scheme().as_bytes());
    k.extend_from_slice(b"://");
    if let Some(h) = c.head.host {
        k.extend(h.get(&c.buf).iter().map(u8::to_ascii_lowercase));
    }
    k.extend_from_slice(&c.req.path);
    if let Some(q) = c.head.query {
        k.extend_from_slice(q.get(&c.buf));
    }
    for part in rc.key.iter() {
        let KeyPart::Header(name) = part;
        k.push(0);
        k.extend_from_slice(name);
        k.push(b':');
        for (i, v) in req_values(c, name).enumerate() {
            if i > 0 {
                k.extend_from_slice(b", ");
            }
            k.extend_from_slice(v);
        }
    }
    k
}

/// Serves a request on a route with `cache`.
pub async fn serve(c: &mut Conn, sh: &Shard, route: &Route, rc: &RouteCache) -> Outcome {
    let method = c.head.method;
    let mode = match method {
        // A GET with a body, or one asking for an upgrade the route
        // proxies, is not a request the cache can answer for.
        Method::Get | Method::Head if c.head.body == BodyKind::Empty && !c.req.upgrade => {
            Mode::Lookup
        }
        Method::Post | Method::Put | Method::Delete | Method::Patch => Mode::Invalidate,
        _ => Mode::Bypass,
    };
    let req_cc = ReqCc::parse(req_values(c, b"cache-control"));
    let key = primary_key(c, rc);
    // The `Fill` is made only for a request that goes upstream: a hit
    // allocates no more than its key, and touches no shared counter but
    // its own.
    let fill = |c: &Conn, key: Vec<u8>, req_cc: ReqCc| {
        Box::new(Fill {
            cache: rc.cache.clone(),
            key,
            mode,
            authorization: req_values(c, b"authorization").next().is_some(),
            request_time: unix_now(),
            fwd: Fwd::Bypass,
            stale: None,
            validators: Vec::new(),
            stored: false,
            req_head: Vec::new(),
            pending: None,
            locations: Vec::new(),
            default_ttl: rc.default_ttl,
            cache_authorized: rc.cache_authorized,
            cache_set_cookie: rc.cache_set_cookie,
            req_cc,
        })
    };
    if mode != Mode::Lookup {
        c.req.cache_log = Some("bypass");
        c.req.cache = Some(fill(c, key, req_cc));
        let out = proxy::forward(c, sh, route).await;
        if let Some(f) = c.req.cache.take() {
            super::cache_fill::invalidate(&f, &out);
        }
        return out;
    }
    let cache = &*rc.cache;
    let counters = &cache.counters;
    let mut fwd;
    let mut stale = None;
    let mut validators = Vec::new();
    let start = Instant::now();
    let mut collapsed = false;
    let mut lead = None;
    let mut waited = false;
    loop {
        let now = unix_now();
        let found = cache
            .store
            .lookup(&key, |name| req_lines(&c.head, &c.buf, name.as_bytes()));
        fwd = match found {
            Lookup::Hit(e) => {
                let d = decide(&e.times, &req_cc, now, rc.default_ttl);
                let hit = CacheStatus {
                    hit: true,
                    collapsed,
                    ttl: Some(d.ttl),
                    ..CacheStatus::default()
                };
                match d.reuse {
                    Reuse::Fresh | Reuse::StaleAccepted => {
                        let (n, log) = match d.reuse {
                            Reuse::Fresh => (&counters.hits, "hit"),
                            _ => (&counters.stale, "stale"),
                        };
                        Counters::inc(n);
                        c.req.cache_log = Some(log);
                        let nm = not_modified(&c.head, &c.buf, &e);
                        return serve_entry(c, sh, route, &e, hit, d.age, nm).await;
                    }
                    Reuse::StaleWhileRevalidate => match cache.inflight.join(&key) {
                        // Another request is refreshing it: serve the
                        // stale copy at once.
                        Join::Follow(_) => {
                            Counters::inc(&counters.stale);
                            c.req.cache_log = Some("stale");
                            let nm = not_modified(&c.head, &c.buf, &e);
                            return serve_entry(c, sh, route, &e, hit, d.age, nm).await;
                        }
                        // This one refreshes it (in the foreground: see
                        // docs/caching.md).
                        Join::Lead(l) => {
                            lead = Some(l);
                            stale = Some((e.clone(), true));
                        }
                    },
                    Reuse::Validate { stale_if_error } => stale = Some((e.clone(), stale_if_error)),
                }
                add_validators(&mut validators, &e, c);
                if req_cc.no_cache || req_cc.max_age.is_some_and(|m| d.age > m) {
                    Fwd::Request
                } else {
                    Fwd::Stale
                }
            }
            Lookup::VaryMiss => Fwd::VaryMiss,
            Lookup::Miss => Fwd::UriMiss,
        };
        c.req.cache_log = Some(match fwd {
            Fwd::UriMiss => "miss",
            Fwd::VaryMiss => "vary-miss",
            _ => "expired",
        });
        if req_cc.only_if_cached {
            let code = ErrorCode::NotCached;
            status_line(
                c,
                &CacheStatus {
                    fwd: Some(fwd),
                    ..CacheStatus::default()
                },
            );
            c.consume_head();
            let keep = respond::error(c, sh, code, false, None).await;
            return Outcome::error(code, keep);
        }
        if lead.is_some() || waited {
            break;
        }
        match cache.inflight.join(&key) {
            Join::Lead(l) => {
                lead = Some(l);
                break;
            }
            Join::Follow(f) => {
                waited = true;
                Counters::inc(&counters.coalesced);
                match f.wait(start, rc.lock_timeout).await {
                    Waited::Stored => collapsed = true,
                    Waited::Abandoned | Waited::TimedOut => {}
                }
            }
        }
    }
    // A stale entry without a validator is fetched whole: a miss.
    match validators.is_empty() {
        true => Counters::inc(&counters.misses),
        false => Counters::inc(&counters.revalidations),
    }
    let mut fill = fill(c, key, req_cc);
    (fill.fwd, fill.stale, fill.validators) = (fwd, stale, validators);
    fill.req_head.extend_from_slice(&c.buf[..c.head.head_len]);
    c.req.cache = Some(fill);
    let out = proxy::forward(c, sh, route).await;
    let stored = c.req.cache.take().is_some_and(|f| f.stored);
    if let (Some(l), true) = (lead, stored) {
        l.stored();
    }
    out
}

/// Adds the stored response's validators to the upstream request, unless
/// the client sent its own (its conditional then goes as it is, and a 304
/// is relayed, not taken as a refresh).
fn add_validators(out: &mut Vec<u8>, e: &Entry, c: &Conn) {
    out.clear();
    let own = req_values(c, b"if-none-match").next().is_some()
        || req_values(c, b"if-modified-since").next().is_some();
    if own {
        return;
    }
    for (n, v) in crate::cache::head::lines(&e.head) {
        if n.eq_ignore_ascii_case(b"etag") {
            out.extend_from_slice(b"if-none-match: ");
        } else if n.eq_ignore_ascii_case(b"last-modified") {
            out.extend_from_slice(b"if-modified-since: ");
        } else {
            continue;
        }
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends `cache-status: …` to the lines sent on this request's response.
pub fn status_line(c: &mut Conn, s: &CacheStatus) {
    let out = &mut c.req.resp_headers;
    out.extend_from_slice(b"cache-status: ");
    s.write(out);
    out.extend_from_slice(b"\r\n");
}

/// True when the client's conditional (`If-None-Match`, else
/// `If-Modified-Since`) in head `h` (over `buf`) holds for `e`: the answer
/// is 304 (RFC 9110 §13.2.2).
pub fn not_modified(h: &RequestHead, buf: &[u8], e: &Entry) -> bool {
    if e.status != 200 {
        return false;
    }
    let stored = |name: &[u8]| {
        crate::cache::head::lines(&e.head)
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let weak = |t: &[u8]| -> Vec<u8> {
        t.trim_ascii()
            .strip_prefix(b"W/")
            .unwrap_or(t.trim_ascii())
            .to_vec()
    };
    let inm = req_lines(h, buf, b"if-none-match");
    if !inm.is_empty() {
        let Some(etag) = stored(b"etag") else {
            return false;
        };
        let etag = weak(etag);
        return inm
            .into_iter()
            .flat_map(|v| v.split(|&b| b == b','))
            .any(|t| t.trim_ascii() == b"*" || weak(t) == etag);
    }
    let Some(since) = req_lines(h, buf, b"if-modified-since")
        .first()
        .and_then(|v| crate::cache::http_date(v))
    else {
        return false;
    };
    let modified = stored(b"last-modified")
        .and_then(crate::cache::http_date)
        .or(e.times.date);
    modified.is_some_and(|m| m <= since)
}

/// Fields a 304 carries from the stored response (RFC 9110 §15.4.5).
const NOT_MODIFIED_FIELDS: [&[u8]; 7] = [
    b"cache-control",
    b"content-location",
    b"date",
    b"etag",
    b"expires",
    b"vary",
    b"last-modified",
];

/// Answers the request from stored response `e`: its status (or 304 when
/// `not_modified`: a client conditional holds), its stored head with the
/// route's response edits, `age`, `cache-status`, and the body (none for
/// HEAD).
pub async fn serve_entry(
    c: &mut Conn,
    sh: &Shard,
    route: &Route,
    e: &Entry,
    status: CacheStatus,
    age: u64,
    not_modified: bool,
) -> Outcome {
    status_line(c, &status);
    let code = if not_modified { 304 } else { e.status };
    let close = !c.head.keep_alive || sh.shutting_down.get();
    let mut out = std::mem::take(&mut c.extra);
    out.clear();
    out.put_slice(b"HTTP/1.1 ");
    number(&mut out, u64::from(code));
    out.put_u8(b' ');
    out.put_slice(error::reason_phrase(code).as_bytes());
    out.put_slice(b"\r\n");
    let edits = &route.response_headers;
    for (n, v) in crate::cache::head::lines(&e.head) {
        let skip = edits.drops(n)
            || (not_modified
                && !NOT_MODIFIED_FIELDS
                    .iter()
                    .any(|f| n.eq_ignore_ascii_case(f)));
        if !skip {
            out.put_slice(n);
            out.put_slice(b": ");
            out.put_slice(v);
            out.put_slice(b"\r\n");
        }
    }
    out.put_slice(&edits.rendered);
    if let Some(h) = route.hsts.as_deref().filter(|_| c.stream.is_tls()) {
        out.put_slice(h);
    }
    out.put_slice(&c.req.resp_headers);
    out.put_slice(b"age: ");
    number(&mut out, age);
    if !not_modified {
        out.put_slice(b"\r\ncontent-length: ");
        number(&mut out, e.body.len() as u64);
    }
    out.put_slice(b"\r\n");
    out.put_slice(b"x-request-id: ");
    out.put_slice(c.req.request_id().as_bytes());
    out.put_slice(b"\r\n");
    if close {
        out.put_slice(b"connection: close\r\n");
    } else if c.head.version == Version::Http10 {
        out.put_slice(b"connection: keep-alive\r\n");
    }
    out.put_slice(b"\r\n");
    let body = match c.head.method == Method::Head || not_modified {
        true => Bytes::new(),
        // A small body goes in the head's write; a large one is written
        // from the stored `Bytes`, not copied.
        false if e.body.len() <= 4096 => {
            out.put_slice(&e.body);
            Bytes::new()
        }
        false => e.body.clone(),
    };
    c.consume_head();
    let limit = c.g.cfg.server.idle_timeout;
    let len = out.len();
    let Ok(out) = super::wire::write_range(&mut c.stream, out, 0..len, limit).await else {
        return Outcome::answered(code, false);
    };
    c.extra = out;
    c.req.measures.bytes_out += len as u64;
    if !body.is_empty() {
        let n = body.len() as u64;
        match monoio::time::timeout(limit, c.stream.write_all(body)).await {
            Ok((Ok(_), _)) => c.req.measures.bytes_out += n,
            _ => return Outcome::answered(code, false),
        }
    }
    Outcome::answered(code, !close)
}
