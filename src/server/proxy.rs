//! Phase 6, the upstream exchange, as a sequence of attempts. Each attempt
//! chooses a target (balancer, health checks, outlier state), passes the
//! circuit breaker, reuses or opens a connection, sends the request and
//! reads the response head (`exchange`); its result is reported once
//! (`upstream::ShardUpstreams::report`); then either the response is relayed
//! or, when the retry rules and the budget allow, the next attempt goes to
//! another target.
//!
//! Owns: the retry decision (which failures, which methods, replaying a
//! small body, budget, backoff), the hash key of a request, the attempts'
//! timings in the request's `Measures` (from the clock reads each attempt's
//! report takes anyway), and turning an upstream failure into the client's
//! answer (through `crate::error`).
//! Must never: retry once a response byte reached the client, replay a body
//! it did not keep whole, or retry a non-idempotent request that carries no
//! `Idempotency-Key` after any of it may have reached the upstream.

use std::net::IpAddr;
use std::time::Instant;

use bytes::Buf;

use super::conn::Conn;
use super::exchange::{self, Relayed, Sent};
use super::request::Outcome;
use super::respond;
use super::state::Shard;
use crate::config::upstream::{Balance, HashKey, OnNoHealthy, RetryOn};
use crate::config::UpstreamSpec;
use crate::error::ErrorCode;
use crate::http::{BodyKind, Method};
use crate::ratelimit::clock;
use crate::route::Route;
use crate::upstream::outlier::Admit;
use crate::upstream::pool::{self, UpstreamConn};
use crate::upstream::select::hash_key;
use crate::upstream::shared::{Attempt, RetryReason};
use crate::upstream::{ShardUpstreams, UpstreamError};

/// Where the request body is, which decides what an early answer must do
/// with the client connection.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Body {
    /// None, or all of it in the buffer behind the head (kept for a retry).
    Buffered(usize),
    /// Streamed to the upstream and read to its end.
    Streamed,
    /// Not (all) read yet: the connection cannot carry another request.
    Unread,
}

/// Targets an attempt must not choose again (tried, or refused a probe).
#[derive(Default)]
struct Skip {
    list: [usize; 16],
    len: usize,
}

impl Skip {
    fn push(&mut self, t: usize) {
        if self.len < self.list.len() && !self.as_slice().contains(&t) {
            self.list[self.len] = t;
            self.len += 1;
        }
    }
    fn as_slice(&self) -> &[usize] {
        &self.list[..self.len]
    }
}

/// Proxies the request in `c` to the route's upstream and streams the answer back.
pub async fn forward(c: &mut Conn, sh: &Shard, route: &Route) -> Outcome {
    let ui = route.upstream;
    let g = c.g.clone();
    let spec = &g.cfg.upstreams[ui];
    let ups = &g.upstreams;
    let shared = &ups.shared.upstreams[ui];
    ups.deposit(ui, clock());
    let Some(request_slot) = shared.breaker.request() else {
        ups.stats(ui, 0).overflows.inc();
        let body = if c.head.body == BodyKind::Empty {
            Body::Buffered(0)
        } else {
            Body::Unread
        };
        return answer(c, sh, ErrorCode::UpstreamOverloaded, body, 0).await;
    };

    let method = c.head.method;
    let rewritten = route.rewrite_path(&c.req.path, &mut c.req.rewritten);
    // An upgrade is never sent twice: once the upstream may have seen it,
    // it may have switched protocols (`upgrade`).
    let upgrade = c.req.upgrade;
    let replay_ok = !upgrade && (idempotent(method) || has_idempotency_key(c));
    let (prefix, body_done) = match prepare_body(c, sh, spec, replay_ok).await {
        Ok(p) => p,
        Err(Some(code)) => return answer(c, sh, code, Body::Unread, 0).await,
        Err(None) => return Outcome::closed(),
    };
    let mut body = if body_done {
        Body::Buffered(prefix)
    } else {
        Body::Unread
    };
    // A retry after the upstream may have seen the request needs the whole
    // request still in hand, within `max_replay_bytes` even when it all
    // arrived with the head, and a method that allows it.
    let replayable = replay_ok && body_done && prefix <= spec.retry.max_replay_bytes;
    let key = request_key(c, ups, spec);

    let mut skip = Skip::default();
    let mut retries: u8 = 0;
    let mut stale_retry = false;
    let mut last: Option<usize> = None;
    loop {
        let now = clock();
        let Some(t) = choose(ups, ui, spec, key, &mut skip, now) else {
            return answer(c, sh, ErrorCode::NoHealthyUpstream, body, retries).await;
        };
        let same_target = last == Some(t);
        last = Some(t);
        if retries > 0 {
            backoff(ups, spec, retries, same_target).await;
        }
        let began = Instant::now();
        ups.start(ui, t);
        c.req.measures.attempt(ui, ups.addr(ui, t), began);
        let mut up = match acquire(sh, ups, ui, spec, t, upgrade).await {
            Ok(up) => {
                if !up.reused {
                    c.req.measures.upstream_connect_ns = nanos(began);
                }
                up
            }
            Err(UpstreamError::Overloaded) => {
                lap(c, began);
                ups.abandon(ui, t, 0, clock());
                ups.stats(ui, t).overflows.inc();
                return answer(c, sh, ErrorCode::UpstreamOverloaded, body, retries).await;
            }
            Err(e) => {
                let ns = lap(c, began);
                c.req.measures.upstream_connect_ns = ns;
                ups.report(spec, ui, t, Attempt::ConnectFailed, ns, clock());
                skip.push(t);
                // Nothing was sent, so any method may go elsewhere once.
                let once = retries == 0;
                if (once || more_tries(spec, retries)) && budget(ups, ui, t, RetryReason::Connect) {
                    retries += 1;
                    continue;
                }
                return answer(c, sh, ErrorCode::from(e), body, retries).await;
            }
        };
        match exchange::send_request(c, sh, route, &mut up, rewritten, prefix, body_done).await {
            Ok(()) => {
                if !body_done {
                    body = Body::Streamed;
                }
            }
            Err(Sent::Retry) if up.reused && !stale_retry && replay_ok => {
                // A pooled connection the upstream had already closed: not
                // the target's fault, and nothing of this request was read.
                stale_retry = true;
                ups.abandon(ui, t, lap(c, began), clock());
                continue;
            }
            Err(Sent::Retry) => {
                ups.report(spec, ui, t, Attempt::Reset, lap(c, began), clock());
                skip.push(t);
                if replay_ok
                    && retry_on(spec, RetryOn::RESET, retries)
                    && budget(ups, ui, t, RetryReason::Reset)
                {
                    retries += 1;
                    continue;
                }
                return answer(c, sh, ErrorCode::UpstreamReset, body, retries).await;
            }
            Err(Sent::Upstream(e)) => {
                ups.report(spec, ui, t, attempt_of(e), lap(c, began), clock());
                return answer(c, sh, ErrorCode::from(e), Body::Unread, retries).await;
            }
            Err(Sent::Client(code)) => {
                ups.abandon(ui, t, lap(c, began), clock());
                return answer(c, sh, code, Body::Unread, retries).await;
            }
            Err(Sent::Gone) => {
                ups.abandon(ui, t, lap(c, began), clock());
                return Outcome::closed();
            }
        }
        let limit = spec.retry.per_try_timeout.unwrap_or(spec.response_timeout);
        let head = exchange::read_response_head(c, &mut up, method, limit).await;
        match head.map_err(|e| pool::io_failed(spec, &mut up, ups.stats(ui, t), e)) {
            Ok(()) => {
                let status = c.resp.status;
                let ns = lap(c, began);
                c.req.measures.upstream_ttfb_ns = ns;
                ups.report(spec, ui, t, Attempt::Status(status), ns, clock());
                if replayable
                    && retry_status(spec, status, retries)
                    && budget(ups, ui, t, RetryReason::Status)
                {
                    // The response is dropped with its connection, unread.
                    skip.push(t);
                    retries += 1;
                    continue;
                }
                drop_request(c, body);
                if status == 101 {
                    // The attempt ended at the 101 head (reported above);
                    // the tunnel is no request in flight for the breaker.
                    drop(request_slot);
                    return match super::upgrade::switch(c, sh, route, up, retries).await {
                        Ok(outcome) => outcome,
                        Err(code) => answer(c, sh, code, body, retries).await,
                    };
                }
                let relayed = match c.req.cache.is_some() {
                    true => super::cache_fill::relay(c, sh, route, up, spec).await,
                    false => exchange::relay_response(c, sh, route, up, spec).await,
                };
                let (keep, status) = match relayed {
                    Ok(Relayed::Sent { keep }) => (keep, status),
                    Ok(Relayed::ClientGone) => (false, 0),
                    Err(e) => return answer(c, sh, ErrorCode::from(e), body, retries).await,
                };
                return Outcome {
                    keep,
                    status,
                    error: None,
                    relayed: true,
                    retries,
                };
            }
            Err(UpstreamError::Reset) if up.reused && !stale_retry && replayable => {
                stale_retry = true;
                ups.abandon(ui, t, lap(c, began), clock());
                continue;
            }
            Err(e) => {
                ups.report(spec, ui, t, attempt_of(e), lap(c, began), clock());
                skip.push(t);
                let (flag, reason) = match e {
                    UpstreamError::ResponseTimeout => (RetryOn::TIMEOUT, RetryReason::Timeout),
                    _ => (RetryOn::RESET, RetryReason::Reset),
                };
                if replayable && retry_on(spec, flag, retries) && budget(ups, ui, t, reason) {
                    retries += 1;
                    continue;
                }
                return answer(c, sh, ErrorCode::from(e), body, retries).await;
            }
        }
    }
}

/// Reads a small body whole when a retry could need it again; returns how
/// many body bytes are buffered and whether that is all of them.
async fn prepare_body(
    c: &mut Conn,
    sh: &Shard,
    spec: &UpstreamSpec,
    replay_ok: bool,
) -> Result<(usize, bool), Option<ErrorCode>> {
    let (prefix, done) = exchange::request_prefix(c).map_err(Some)?;
    if done || !replay_ok || spec.retry.attempts < 2 {
        return Ok((prefix, done));
    }
    match c.head.body {
        BodyKind::Length(n) if n as usize <= spec.retry.max_replay_bytes => {
            super::pipeline::buffer_body(c, sh, n as usize).await?;
            exchange::request_prefix(c).map_err(Some)
        }
        _ => Ok((prefix, done)),
    }
}

/// Picks a target: the balancer's choice among healthy, non-ejected targets
/// not skipped; if every target was tried, any healthy one; if none is
/// healthy, all of them (panic mode) unless the upstream rejects.
fn choose(
    ups: &ShardUpstreams,
    ui: usize,
    spec: &UpstreamSpec,
    key: u64,
    skip: &mut Skip,
    now: u64,
) -> Option<usize> {
    // Targets added or removed since the last pick apply here, so a retry
    // never goes to a target removed meanwhile.
    ups.refresh(ui);
    let shared = &ups.shared;
    let outlier = &shared.upstreams[ui].outlier;
    let pick = |tried: &[usize], usable: &dyn Fn(usize) -> bool| {
        ups.pick(ui, key, tried, usable, now)
            .or_else(|| ups.pick(ui, key, &[], usable, now))
    };
    for _ in 0..ups.targets(ui) + 1 {
        let usable = |i: usize| shared.usable(ui, i, now);
        let Some(t) = pick(skip.as_slice(), &usable) else {
            break;
        };
        match outlier.admit(t, now) {
            Admit::Yes | Admit::Probe => return Some(t),
            // A half-open target with all its probe slots taken.
            Admit::No => skip.push(t),
        }
    }
    match spec.on_no_healthy {
        OnNoHealthy::Panic => pick(skip.as_slice(), &|_| true),
        OnNoHealthy::Reject => None,
    }
}

/// A pooled connection to `t`, or a new one within the breaker's limits;
/// always a new one when `fresh` (an upgrade takes its connection for good).
async fn acquire(
    sh: &Shard,
    ups: &ShardUpstreams,
    ui: usize,
    spec: &UpstreamSpec,
    t: usize,
    fresh: bool,
) -> Result<UpstreamConn, UpstreamError> {
    if !fresh {
        if let Some(conn) = ups.checkout(ui, t) {
            sh.metrics.upstream_reused.inc();
            return Ok(conn);
        }
    }
    let breaker = &ups.shared.upstreams[ui].breaker;
    let Some(_pending) = breaker.pending() else {
        return Err(UpstreamError::Overloaded);
    };
    let Some(slot) = breaker.connection() else {
        return Err(UpstreamError::Overloaded);
    };
    let conn = pool::connect(spec, t, ups.addr(ui, t), slot, ups.stats(ui, t)).await?;
    sh.metrics.upstream_connects.inc();
    Ok(conn)
}

/// Whether the retry rules allow one more try for `flag`.
fn retry_on(spec: &UpstreamSpec, flag: RetryOn, retries: u8) -> bool {
    spec.retry.retry_on.has(flag) && more_tries(spec, retries)
}

fn more_tries(spec: &UpstreamSpec, retries: u8) -> bool {
    u32::from(retries) + 1 < spec.retry.attempts
}

/// Whether a response with `status` may be retried.
fn retry_status(spec: &UpstreamSpec, status: u16, retries: u8) -> bool {
    let on = spec.retry.retry_on;
    let hit = (on.has(RetryOn::STATUS_5XX) && status >= 500)
        || (on.has(RetryOn::GATEWAY_ERROR) && matches!(status, 502..=504))
        || (on.has(RetryOn::RETRIABLE_STATUS) && spec.retry.retriable_status.contains(&status));
    hit && more_tries(spec, retries)
}

/// Takes one retry from the upstream's budget, counting the outcome on `t`.
fn budget(ups: &ShardUpstreams, ui: usize, t: usize, reason: RetryReason) -> bool {
    let st = ups.stats(ui, t);
    if ups.try_withdraw(ui, clock()) {
        st.retries[reason as usize].inc();
        true
    } else {
        st.budget_exhausted.inc();
        false
    }
}

/// Waits before retry `n` (1-based): none when it goes to another target,
/// else a jittered exponential backoff, as Envoy's (base × 2^(n−1), capped,
/// times a random factor in [0.5, 1)).
async fn backoff(ups: &ShardUpstreams, spec: &UpstreamSpec, n: u8, same_target: bool) {
    if !same_target {
        return;
    }
    let r = &spec.retry;
    let exp = r
        .backoff_base
        .saturating_mul(1 << (n - 1).min(16))
        .min(r.backoff_max);
    let frac = 0.5 + (ups.random() >> 11) as f64 / (1u64 << 53) as f64 / 2.0;
    monoio::time::sleep(exp.mul_f64(frac)).await;
}

/// Answers `code` to the client; the body's state decides whether the
/// connection may be kept.
async fn answer(c: &mut Conn, sh: &Shard, code: ErrorCode, body: Body, retries: u8) -> Outcome {
    if c.req.cache.is_some() {
        // A stored copy under stale-if-error stands in for the failure.
        if let Some(o) = super::cache_fill::stand_in(c, sh, code).await {
            return Outcome { retries, ..o };
        }
    }
    let close = body == Body::Unread;
    drop_request(c, body);
    let keep = respond::error(c, sh, code, close, None).await;
    Outcome {
        retries,
        ..Outcome::error(code, keep)
    }
}

/// Drops the request (head, and a body kept whole) from the buffer once it
/// is answered, so the next request starts where it should.
fn drop_request(c: &mut Conn, body: Body) {
    if c.head_pending {
        c.consume_head();
        if let Body::Buffered(n) = body {
            let n = n.min(c.buf.len());
            c.buf.advance(n);
            c.req.measures.bytes_in += n as u64;
        }
    }
}

fn attempt_of(e: UpstreamError) -> Attempt {
    match e {
        UpstreamError::ResponseTimeout => Attempt::Timeout,
        UpstreamError::Reset => Attempt::Reset,
        // A TLS failure counts as a failed connect (docs/tls.md): a target
        // whose certificate fails is ejected like one that refuses.
        UpstreamError::Unavailable | UpstreamError::ConnectTimeout | UpstreamError::Tls(_) => {
            Attempt::ConnectFailed
        }
        _ => Attempt::BadResponse,
    }
}

/// Ends the attempt that started at `began`: its duration in ns, with the
/// request's upstream time brought up to now.
fn lap(c: &mut Conn, began: Instant) -> u64 {
    c.req.measures.attempt_ended(began, Instant::now())
}

fn nanos(since: Instant) -> u64 {
    since.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64
}

fn idempotent(m: Method) -> bool {
    matches!(
        m,
        Method::Get | Method::Head | Method::Options | Method::Trace | Method::Put | Method::Delete
    )
}

fn has_idempotency_key(c: &Conn) -> bool {
    header(c, b"idempotency-key").is_some()
}

/// The first value of header `name` (lower-case).
fn header<'c>(c: &'c Conn, name: &[u8]) -> Option<&'c [u8]> {
    c.head
        .headers
        .iter()
        .find(|h| h.name.get(&c.buf).eq_ignore_ascii_case(name))
        .map(|h| h.value.get(&c.buf))
}

/// The hash of the request's `hash_key` (0 for other balancers). A request
/// without the key gets a random one, so such requests spread rather than
/// all landing on one target (Envoy picks at random too).
fn request_key(c: &Conn, ups: &ShardUpstreams, spec: &UpstreamSpec) -> u64 {
    let Balance::Hash(k) = &spec.balance else {
        return 0;
    };
    let found = match k {
        HashKey::Ip => Some(match c.req.client {
            IpAddr::V4(a) => hash_key(&a.octets()),
            IpAddr::V6(a) => hash_key(&a.octets()),
        }),
        HashKey::Path => Some(hash_key(&c.req.path)),
        HashKey::Header(name) => header(c, name.as_bytes()).map(hash_key),
        HashKey::Cookie(name) => cookie(c, name.as_bytes()).map(hash_key),
        HashKey::JwtClaim(claim) => c.req.identity.claim(claim).map(|v| match v {
            serde_json::Value::String(s) => hash_key(s.as_bytes()),
            other => hash_key(other.to_string().as_bytes()),
        }),
    };
    found.unwrap_or_else(|| ups.random())
}

/// The value of cookie `name` in the request's Cookie headers.
fn cookie<'c>(c: &'c Conn, name: &[u8]) -> Option<&'c [u8]> {
    c.head
        .headers
        .iter()
        .filter(|h| h.name.get(&c.buf).eq_ignore_ascii_case(b"cookie"))
        .flat_map(|h| h.value.get(&c.buf).split(|&b| b == b';'))
        .find_map(|pair| {
            let pair = pair.trim_ascii();
            let eq = pair.iter().position(|&b| b == b'=')?;
            (&pair[..eq] == name).then(|| &pair[eq + 1..])
        })
}
