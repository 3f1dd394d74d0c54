//! The fixed phases every request goes through, in order:
//!
//! 1. read head        (`conn::read_head`, before this module)
//! 2. identify         request id: the client's if valid, else a new one
//! 3. normalise        the path, before anything looks at it; on a TLS
//!    connection with client certificates, the Host must be the SNI (421)
//! 4. match route      host, path, method, headers → one compiled route
//! 5. policies         per-route checks that may answer early: the body
//!    limit, then `admit::admit` over the route's compiled policy list
//!    (CORS, auth, rate and concurrency limits, validation: enum variants
//!    of `crate::policy::Policy`, never boxed closures)
//! 6. upstream         `proxy::forward`: attempts at targets, the response
//!    streamed back; on a route with `cache`, `cached::serve` first (a
//!    stored response may answer, and a fetched one is stored)
//! 7. outcome          what happened, returned as one `Outcome` record
//!
//! Must never: touch sockets directly (that is `proxy` and `respond`).

use super::admit::{self, Admission};
use super::conn::Conn;
use super::request::Outcome;
use super::state::Shard;
use super::wire::{self, IoFail};
use super::{proxy, respond};
use crate::error::ErrorCode;
use crate::http::header::valid_request_id;
use crate::http::{normalize_path, BodyKind, HeaderKind, PathMode};
use crate::observe::metrics::TimeoutKind;
use crate::observe::trace::TraceContext;
use crate::policy;
use crate::ratelimit::Permit;
use crate::route::{Route, RouteMatch};

/// Runs phases 2 to 7 for the head in `c.head`; the outcome says, among
/// other things, whether the connection may carry another request.
pub async fn handle(c: &mut Conn, sh: &Shard) -> Outcome {
    // The request's generation, held by the request (not borrowed from
    // `c`, which the phases below take mutably); an `Rc`, so no atomic.
    let g = c.g.clone();
    identify(c, sh);

    // A request answered early whose body is not fully buffered cannot share
    // the connection with the next request; a small body that already
    // arrived is skipped instead (as nginx discards it) to keep the
    // connection.
    let buffered_body = match c.head.body {
        BodyKind::Empty => Some(0),
        BodyKind::Length(n) if (c.buf.len() - c.head.head_len) as u64 >= n => Some(n as usize),
        _ => None,
    };
    let body_pending = buffered_body.is_none();

    if let Err(code) = normalise(c, g.cfg.server.path_mode) {
        let keep = respond::error(c, sh, code, true, None).await;
        return Outcome::error(code, keep);
    }
    if let Some(peer) = c.stream.tls_peer() {
        // Before routing, which reads the Host: an identity proven for one
        // name is not carried to another (domain fronting, docs/tls.md).
        // The connection closes: its next request would be misdirected too.
        if !peer.host_allowed(c.head.host.map(|h| h.get(&c.buf))) {
            let code = ErrorCode::MisdirectedRequest;
            let keep = respond::error(c, sh, code, true, None).await;
            return Outcome::error(code, keep);
        }
    }

    let route = match g.cfg.router.find(&c.head, &c.buf, &c.req.path) {
        RouteMatch::Found(route) => route,
        RouteMatch::MethodNotAllowed { allow, route } => {
            c.req
                .measures
                .enter_route(route.index(), &g.families, sh.id);
            if let Some(h) = policy::preflight(&route.policies, &c.head, &c.buf) {
                let keep = respond::no_content(c, sh, body_pending, &h).await;
                return Outcome::answered(204, keep && skip_body(c, buffered_body));
            }
            let code = ErrorCode::MethodNotAllowed;
            let keep = respond::error(c, sh, code, body_pending, Some(allow)).await;
            return Outcome::error(code, keep && skip_body(c, buffered_body));
        }
        RouteMatch::NotFound => {
            let code = ErrorCode::RouteNotFound;
            let keep = respond::error(c, sh, code, body_pending, None).await;
            return Outcome::error(code, keep && skip_body(c, buffered_body));
        }
    };

    c.req
        .measures
        .enter_route(route.index(), &g.families, sh.id);
    if let BodyKind::Length(n) = c.head.body {
        if n > g.cfg.server.max_body_bytes {
            let keep = respond::error(c, sh, ErrorCode::BodyTooLarge, true, None).await;
            return Outcome::error(ErrorCode::BodyTooLarge, keep);
        }
    }
    match super::upgrade::wanted(c, route) {
        Ok(wanted) => c.req.upgrade = wanted,
        Err(code) => {
            let keep = respond::error(c, sh, code, body_pending, None).await;
            return Outcome::error(code, keep && skip_body(c, buffered_body));
        }
    }

    // Phase 5. The permit (a route with a concurrency limit) is held until
    // forward returns, whichever way it ends; dropping the task drops it too.
    let _permit = if route.policies.is_empty() {
        None
    } else {
        match policies(c, sh, route, body_pending, buffered_body).await {
            Ok(permit) => permit,
            Err(outcome) => return outcome,
        }
    };
    match &route.cache {
        None => proxy::forward(c, sh, route).await,
        Some(rc) => super::cached::serve(c, sh, route, rc).await,
    }
}

/// Phase 5: a CORS preflight answered here, the route's policies, and the
/// body checks some need; `Err` when the request was answered.
async fn policies<'r>(
    c: &mut Conn,
    sh: &Shard,
    route: &'r Route,
    body_pending: bool,
    buffered_body: Option<usize>,
) -> Result<Option<Permit<'r>>, Outcome> {
    if let Some(h) = policy::preflight(&route.policies, &c.head, &c.buf) {
        let keep = respond::no_content(c, sh, body_pending, &h).await;
        return Err(Outcome::answered(204, keep && skip_body(c, buffered_body)));
    }
    let permit = match admit::admit(c, sh, route).await {
        Admission::Pass(permit) => permit,
        Admission::Refuse(d) => {
            let keep = respond::error_with_headers(c, sh, d.code, body_pending, &d.headers).await;
            return Err(Outcome::error(d.code, keep && skip_body(c, buffered_body)));
        }
    };
    if let Some(n) = policy::body_to_buffer(&route.policies, &c.head) {
        match buffer_body(c, sh, n as usize).await {
            Ok(()) => {}
            Err(Some(code)) => {
                let keep = respond::error(c, sh, code, true, None).await;
                return Err(Outcome::error(code, keep));
            }
            Err(None) => return Err(Outcome::closed()),
        }
        let start = c.head.head_len;
        let body = &c.buf[start..start + n as usize];
        if let Err(d) = policy::run_body(&route.policies, body) {
            let keep = respond::error_with_headers(c, sh, d.code, false, &d.headers).await;
            return Err(Outcome::error(
                d.code,
                keep && skip_body(c, Some(n as usize)),
            ));
        }
    }
    Ok(permit)
}

/// Reads until the `n`-byte body is in `c.buf` behind the head (a policy
/// must see it whole); `Err(None)` means the client went away.
pub(super) async fn buffer_body(
    c: &mut Conn,
    sh: &Shard,
    n: usize,
) -> Result<(), Option<ErrorCode>> {
    let want = c.head.head_len + n;
    if c.buf.len() < want && c.head.expect_continue && !respond::continue_100(c).await {
        return Err(None);
    }
    while c.buf.len() < want {
        let mut buf = std::mem::take(&mut c.buf);
        buf.reserve(want - buf.len());
        let limit = c.g.cfg.server.body_timeout;
        match wire::read_more(&mut c.stream, buf, limit).await {
            Ok((0, buf)) => {
                c.buf = buf;
                return Err(None);
            }
            Ok((_, buf)) => c.buf = buf,
            Err(IoFail::Timeout) => {
                sh.metrics.timeout(TimeoutKind::Body);
                return Err(Some(ErrorCode::RequestTimeout));
            }
            Err(IoFail::Io) => return Err(None),
        }
    }
    Ok(())
}

/// Phase 2: join the client's trace (or start one), then keep a valid
/// client request id, else generate one (the trace id, when so configured).
fn identify(c: &mut Conn, sh: &Shard) {
    let tracing = &c.g.cfg.tracing;
    // Two traceparent fields are invalid (W3C): a new trace starts.
    let incoming = only_one(c, HeaderKind::TraceParent).map(|v| v.get(&c.buf));
    c.req.trace = TraceContext::start(incoming, &sh.trace_ids, tracing.sample_ratio);
    if super::report::wanted(sh) {
        c.req.seen.capture(&c.head, &c.buf);
    }
    let mut found = None;
    for h in &c.head.headers {
        if h.kind == HeaderKind::XRequestId {
            if found.is_some() {
                // Two ids: trust neither.
                found = None;
                break;
            }
            found = Some(h.value);
        }
    }
    if let Some(span) = found {
        let v = span.get(&c.buf);
        if valid_request_id(v) && v.len() <= c.req.rid.len() {
            c.req.rid[..v.len()].copy_from_slice(v);
            c.req.rid_len = v.len();
            return;
        }
    }
    if tracing.request_id_from_trace {
        let hex = c.req.trace.trace_hex();
        c.req.rid[..hex.len()].copy_from_slice(&hex);
        c.req.rid_len = hex.len();
    } else {
        c.req.new_request_id(&sh.ids);
    }
}

/// The value of the one field of `kind`; `None` when absent or repeated.
fn only_one(c: &Conn, kind: HeaderKind) -> Option<crate::http::Span> {
    let mut it = c.head.headers.iter().filter(|h| h.kind == kind);
    let first = it.next()?;
    it.next().is_none().then_some(first.value)
}

/// Phase 3: normalise the path into `c.req.path` under the `[server]`
/// `escaped_slashes` / `path_params` modes. What is routed is what the
/// upstream receives (a route may add the raw path in a header).
fn normalise(c: &mut Conn, mode: PathMode) -> Result<(), ErrorCode> {
    let raw = c.head.path.get(&c.buf);
    if raw == b"*" {
        // Asterisk-form (OPTIONS *) addresses the gateway itself: no route.
        c.req.path.clear();
        c.req.path.push(b'*');
        return Ok(());
    }
    let raw: &[u8] = if raw.is_empty() { b"/" } else { raw };
    normalize_path(raw, mode, &mut c.req.path)
        .map(|_| ())
        .map_err(ErrorCode::from)
}

/// After an early answer on a kept connection: drops the head and the
/// already-buffered body so the next request starts where it should.
fn skip_body(c: &mut Conn, buffered_body: Option<usize>) -> bool {
    let Some(n) = buffered_body else { return false };
    c.consume_head();
    if c.buf.len() < n {
        return false;
    }
    bytes::Buf::advance(&mut c.buf, n);
    c.req.measures.bytes_in += n as u64;
    true
}
