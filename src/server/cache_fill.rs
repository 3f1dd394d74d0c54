//! Phase 6 on a cached route: the response side. When the upstream's
//! response head is in, `relay` decides what it is for: a 304 to the
//! gateway's own validators refreshes the stored response and serves it
//! (RFC 9111 §4.3.4); a 5xx where the stale copy may stand in serves that
//! (RFC 5861 §4); anything else is relayed as usual, with `Cache-Status`,
//! while a copy of a storable body is kept (`body::Tee`) and stored once it
//! ended whole and within `max_object_bytes`. After an unsafe method,
//! `invalidate` drops the URL and its locations (§4.4).
//!
//! Owns: turning a response into a stored entry. Must never: truncate what
//! the client receives, or store a body that did not end cleanly.

use std::sync::Arc;

use bytes::Bytes;

use super::body::{Framing, Tee};
use super::cached::{serve_entry, status_line, unix_now, Fill, Mode};
use super::conn::Conn;
use super::exchange::{self, Relayed};
use super::request::Outcome;
use super::state::Shard;
use crate::cache::directives::Response as RespCc;
use crate::cache::freshness::{decide, Expires, Times};
use crate::cache::named::Counters;
use crate::cache::status::{CacheStatus, Fwd};
use crate::cache::storable::{storable, Facts};
use crate::cache::store::Entry;
use crate::cache::vary::Vary;
use crate::cache::{delta_seconds, head, http_date};
use crate::config::UpstreamSpec;
use crate::http::{BodyKind, Method};
use crate::route::Route;
use crate::upstream::pool::UpstreamConn;
use crate::upstream::UpstreamError;

/// A response being stored: everything but the body, which the tee copies.
pub struct Pending {
    entry: Entry,
    vary: Vary,
    tee: Tee,
}

impl Fill {
    /// The tee a relay copies the body into, when the response is stored.
    pub fn tee(&mut self) -> Option<&mut Tee> {
        self.pending.as_deref_mut().map(|p| &mut p.tee)
    }
}

/// The response's fields, as `(name, value)` over the upstream buffer.
fn fields<'a>(c: &'a Conn, ubuf: &'a [u8]) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone {
    c.resp
        .headers
        .iter()
        .map(move |h| (h.name.get(ubuf), h.value.get(ubuf)))
}

fn values<'a>(
    f: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
    name: &'a [u8],
) -> impl Iterator<Item = &'a [u8]> + Clone {
    f.filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// What freshness is computed from, read from a header block's fields.
pub fn times<'a>(
    f: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
    status: u16,
    request_time: u64,
    response_time: u64,
) -> Times {
    let first = |n: &'a [u8]| values(f.clone(), n).next();
    Times {
        status,
        cc: RespCc::parse(values(f.clone(), b"cache-control")),
        date: first(b"date").and_then(http_date),
        expires: first(b"expires").map(|v| http_date(v).map_or(Expires::Invalid, Expires::At)),
        last_modified: first(b"last-modified").and_then(http_date),
        age: first(b"age").and_then(delta_seconds).unwrap_or(0),
        request_time,
        response_time,
    }
}

/// Relays the response of a cached route's request (in place of
/// `exchange::relay_response`), storing, refreshing or standing in.
pub async fn relay(
    c: &mut Conn,
    sh: &Shard,
    route: &Route,
    mut up: UpstreamConn,
    spec: &UpstreamSpec,
) -> Result<Relayed, UpstreamError> {
    let Some(mut f) = c.req.cache.take() else {
        return exchange::relay_response(c, sh, route, up, spec).await;
    };
    let status = c.resp.status;
    let now = unix_now();
    match f.mode {
        Mode::Bypass | Mode::Invalidate => {
            if f.mode == Mode::Invalidate && (200..400).contains(&status) {
                locations(c, &up.buf, &mut f);
            }
            status_line(
                c,
                &CacheStatus {
                    fwd: Some(Fwd::Bypass),
                    fwd_status: Some(status),
                    ..CacheStatus::default()
                },
            );
        }
        Mode::Lookup => {
            let refresh = status == 304 && !f.validators.is_empty();
            let stand_in = status >= 500 && f.stale.as_ref().is_some_and(|s| s.1);
            if let (Some((old, _)), true) = (f.stale.clone(), refresh || stand_in) {
                let served = if refresh {
                    let e = refreshed(c, &up.buf, &old, &f, now);
                    let vary = Vary::parse(values(head::lines(&e.head), b"vary"));
                    let e = Arc::new(e);
                    // Same key, variant and body: the insert cannot be refused.
                    f.stored = f.cache.store.insert(&f.key, vary, clone_entry(&e)).is_ok();
                    Counters::inc(&f.cache.counters.revalidated);
                    c.req.cache_log = Some("revalidated");
                    e
                } else {
                    Counters::inc(&f.cache.counters.stale);
                    c.req.cache_log = Some("stale");
                    old
                };
                // A 304 has no body: its connection goes back to the pool.
                if refresh && c.resp.body == BodyKind::Empty && c.resp.keep_alive {
                    bytes::Buf::advance(&mut up.buf, c.resp.head_len);
                    c.g.upstreams.checkin(route.upstream, up);
                }
                let d = decide(&served.times, &Default::default(), now, f.default_ttl);
                let st = CacheStatus {
                    fwd: Some(f.fwd),
                    fwd_status: Some(status),
                    stored: f.stored,
                    ttl: Some(d.ttl),
                    ..CacheStatus::default()
                };
                let stored = f.stored;
                let nm = super::cached::not_modified(&c.head, &f.req_head, &served);
                c.req.cache = Some(f);
                let out = serve_entry(c, sh, route, &served, st, d.age, nm).await;
                if let Some(f) = c.req.cache.as_deref_mut() {
                    f.stored = stored;
                }
                return Ok(Relayed::Sent { keep: out.keep });
            }
            prepare(c, &up.buf, &mut f, now);
        }
    }
    c.req.cache = Some(f);
    let r = exchange::relay_response(c, sh, route, up, spec).await;
    if let Some(f) = c.req.cache.as_deref_mut() {
        finish(f);
    }
    r
}

/// When the upstream failed (`code`, a 5xx the gateway would answer) on a
/// request whose stale copy may stand in (`stale-if-error`), serves that
/// copy instead; `None` when it may not (the error's `Cache-Status` is then
/// added).
pub async fn stand_in(c: &mut Conn, sh: &Shard, code: crate::error::ErrorCode) -> Option<Outcome> {
    let f = c.req.cache.as_deref()?;
    let stale = f.stale.clone().filter(|s| s.1 && f.mode == Mode::Lookup);
    let Some((old, _)) = stale.filter(|_| code.status() >= 500) else {
        // The error goes out, still saying what the cache did.
        let st = CacheStatus {
            fwd: Some(f.fwd),
            detail: Some(code.as_str()),
            ..CacheStatus::default()
        };
        status_line(c, &st);
        return None;
    };
    let g = c.g.clone();
    let route = g.cfg.router.routes().get(c.req.measures.route?)?;
    let now = unix_now();
    let d = decide(&old.times, &Default::default(), now, f.default_ttl);
    let st = CacheStatus {
        fwd: Some(f.fwd),
        detail: Some(code.as_str()),
        ttl: Some(d.ttl),
        ..CacheStatus::default()
    };
    Counters::inc(&f.cache.counters.stale);
    c.req.cache_log = Some("stale");
    let nm = match &c.req.cache {
        Some(f) => super::cached::not_modified(&c.head, &f.req_head, &old),
        None => false,
    };
    Some(serve_entry(c, sh, route, &old, st, d.age, nm).await)
}

fn clone_entry(e: &Entry) -> Entry {
    Entry {
        status: e.status,
        head: e.head.clone(),
        body: e.body.clone(),
        times: e.times.clone(),
        variant: e.variant.clone(),
        tags: e.tags.clone(),
    }
}

/// `old` refreshed by the 304 in `c.resp` (§4.3.4): its head updated, its
/// times those of the 304's exchange.
fn refreshed(c: &Conn, ubuf: &[u8], old: &Entry, f: &Fill, now: u64) -> Entry {
    let head = head::update(&old.head, fields(c, ubuf).filter(|(n, _)| keep_field(n)));
    let times = times(head::lines(&head), old.status, f.request_time, now);
    Entry {
        status: old.status,
        head,
        body: old.body.clone(),
        times,
        variant: old.variant.clone(),
        tags: old.tags.clone(),
    }
}

/// Fields never stored beyond `head::store`'s rules: the length (a hit
/// writes its own) and the upstream's request id (the gateway sends its own).
fn keep_field(n: &[u8]) -> bool {
    !n.eq_ignore_ascii_case(b"content-length") && !n.eq_ignore_ascii_case(b"x-request-id")
}

/// Decides whether the response is stored, adds `Cache-Status`, and when it
/// is stored, readies the tee.
fn prepare(c: &mut Conn, ubuf: &[u8], f: &mut Fill, now: u64) {
    let status = c.resp.status;
    let fl = fields(c, ubuf);
    let t = times(fl.clone(), status, f.request_time, now);
    let vary = Vary::parse(values(fl.clone(), b"vary"));
    let lifetime = t.lifetime(f.default_ttl);
    let facts = Facts {
        get: c.head.method == Method::Get,
        authorization: f.authorization,
        status,
        set_cookie: values(fl.clone(), b"set-cookie").next().is_some(),
        cache_set_cookie: f.cache_set_cookie,
        cache_authorized: f.cache_authorized,
        vary_star: vary.star,
        validator: values(fl.clone(), b"etag").next().is_some()
            || values(fl.clone(), b"last-modified").next().is_some(),
        lifetime,
    };
    let limit = f.cache.store.max_object_bytes();
    let mut detail = storable(&facts, &f.req_cc, &t.cc).err().map(|r| r.as_str());
    let length = match c.resp.body {
        BodyKind::Length(n) => Some(n),
        BodyKind::Empty => Some(0),
        _ => None,
    };
    if detail.is_none() && length.is_some_and(|n| n > limit) {
        detail = Some("too-large");
    }
    let d = decide(&t, &Default::default(), now, f.default_ttl);
    let stored = detail.is_none();
    let st = CacheStatus {
        fwd: Some(f.fwd),
        fwd_status: Some(status),
        stored,
        ttl: stored.then_some(d.ttl),
        detail,
        ..CacheStatus::default()
    };
    if stored {
        let head = head::store(
            fl.clone().filter(|(n, _)| keep_field(n)),
            &t.cc.private_fields,
        );
        let variant =
            vary.key(|name| super::cached::req_lines(&c.head, &f.req_head, name.as_bytes()));
        let tags: Vec<Box<str>> = values(fl.clone(), b"cache-tag")
            .chain(values(fl.clone(), b"surrogate-key"))
            .flat_map(|v| v.split(|&b| b == b',' || b == b' '))
            .filter(|t| !t.is_empty())
            .map(|t| String::from_utf8_lossy(t).into())
            .collect();
        let hint = length.unwrap_or(0) as usize;
        f.pending = Some(Box::new(Pending {
            entry: Entry {
                status,
                head,
                body: Bytes::new(),
                times: t,
                variant,
                tags: tags.into(),
            },
            vary,
            tee: Tee::new(limit as usize, hint),
        }));
    }
    drop(fl);
    status_line(c, &st);
}

/// After the relay: stores the copy if the body ended whole and fitted.
fn finish(f: &mut Fill) {
    let Some(p) = f.pending.take() else { return };
    let Pending {
        mut entry,
        vary,
        tee,
    } = *p;
    if !tee.finished || tee.over {
        return;
    }
    entry.body = tee.body.freeze();
    if f.cache.store.insert(&f.key, vary, entry).is_ok() {
        f.stored = true;
        Counters::inc(&f.cache.counters.stores);
    }
}

/// Keys of the `Location` and `Content-Location` of an unsafe method's
/// response, when on the request's own scheme and host (§4.4).
fn locations(c: &Conn, ubuf: &[u8], f: &mut Fill) {
    let origin_end = f
        .key
        .iter()
        .enumerate()
        .skip(
            f.key
                .windows(3)
                .position(|w| w == b"://")
                .map_or(0, |p| p + 3),
        )
        .find(|(_, &b)| b == b'/')
        .map_or(f.key.len(), |(i, _)| i);
    let origin = &f.key[..origin_end];
    for v in
        values(fields(c, ubuf), b"location").chain(values(fields(c, ubuf), b"content-location"))
    {
        let lower: Vec<u8> = v.to_ascii_lowercase();
        let key = if v.first() == Some(&b'/') {
            let mut k = origin.to_vec();
            k.extend_from_slice(v);
            k
        } else if lower.starts_with(&origin.to_ascii_lowercase()) {
            let mut k = origin.to_vec();
            k.extend_from_slice(&v[origin.len()..]);
            k
        } else {
            continue;
        };
        f.locations.push(key);
    }
}

/// After an unsafe method: a 2xx or 3xx invalidates the request's URL
/// (with and without the route's key parts, as this request sent them)
/// and the locations its response named. Exact keys only: a scan of the
/// store has no place on the data plane (purge by prefix is an admin call).
pub fn invalidate(f: &Fill, out: &Outcome) {
    if f.mode != Mode::Invalidate || !out.relayed || !(200..400).contains(&out.status) {
        return;
    }
    let url_end = f.key.iter().position(|&b| b == 0).unwrap_or(f.key.len());
    let urls = [&f.key[..], &f.key[..url_end]];
    let locs = f.locations.iter().map(Vec::as_slice);
    for k in urls.into_iter().chain(locs) {
        if f.cache.store.invalidate(k) {
            Counters::inc(&f.cache.counters.invalidations);
        }
    }
}

/// Copies into the tee the body bytes that came with the response head
/// (`ubuf[head_len..consumed]`), which go out with the head, not the pump.
pub fn tee_first(c: &mut Conn, ubuf: &[u8], consumed: usize, framing: Framing) {
    let start = c.resp.head_len;
    if let Some(t) = c.req.cache.as_deref_mut().and_then(Fill::tee) {
        t.take(&ubuf[start..consumed], framing);
    }
}
