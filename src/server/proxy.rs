//! Phase 6, the upstream exchange: the request goes out (head rebuilt as
//! slices of the client's buffer plus the few bytes the gateway adds, body
//! streamed), the response comes back the same way.
//!
//! Owns: hop-by-hop stripping, forwarding headers, keep-alive decisions on
//! both sides, and the one retry of an idempotent request whose pooled
//! connection turned out to be closed. Must never: buffer a whole body, or
//! return an upstream connection to the pool unless its exchange ended
//! cleanly on a message boundary.

use bytes::Buf;

use super::body::{self, Framing, Pump, PumpFail};
use super::conn::Conn;
use super::head::{build_request, build_response};
use super::respond;
use super::state::Shard;
use super::wire::{self, Gather, IoFail};
use crate::config::UpstreamSpec;
use crate::error::ErrorCode;
use crate::http::{parse_response, BodyKind, Method, Version};
use crate::route::Route;
use crate::upstream::pool::{self, UpstreamConn};
use crate::upstream::UpstreamError;

/// Largest upstream response head accepted.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// Proxies the request in `c` to the route's upstream and streams the answer
/// back; returns whether the client connection may carry another request.
pub async fn forward(c: &mut Conn, sh: &Shard, route: &Route) -> bool {
    let spec = &sh.cfg.upstreams[route.upstream];
    let method = c.head.method;
    let req_body = c.head.body;
    let rewritten = route.rewrite_path(&c.path, &mut c.rewritten);
    let retryable = req_body == BodyKind::Empty && idempotent(method);

    // Body bytes already buffered behind the head go out with it.
    let (prefix, body_done) = match request_prefix(c, sh) {
        Ok(p) => p,
        Err(code) => return respond::error(c, sh, code, true, None).await,
    };

    let mut attempt = 0;
    loop {
        let mut up = match acquire(sh, route.upstream, spec).await {
            Ok(up) => up,
            Err(e) => return upstream_error(c, sh, e, req_body != BodyKind::Empty).await,
        };
        let sent = send_request(c, sh, route, &mut up, rewritten, prefix, body_done).await;
        match sent {
            Ok(()) => {}
            Err(Sent::Retry) if up.reused && attempt == 0 && retryable => {
                attempt += 1;
                continue;
            }
            Err(Sent::Retry) => return upstream_error(c, sh, UpstreamError::Reset, true).await,
            Err(Sent::Answered(keep)) => return keep,
        }
        match read_response_head(c, &mut up, method, spec).await {
            Ok(()) => {
                // A body-less head stayed buffered for a possible retry.
                c.consume_head();
                return relay_response(c, sh, route, up, spec).await;
            }
            Err(UpstreamError::Reset) if up.reused && attempt == 0 && retryable => {
                attempt += 1;
                continue;
            }
            Err(e) => {
                // The request body was sent in full, so the client connection
                // is still in sync and may be kept.
                return upstream_error(c, sh, e, false).await;
            }
        }
    }
}

fn idempotent(m: Method) -> bool {
    matches!(
        m,
        Method::Get | Method::Head | Method::Options | Method::Trace | Method::Put | Method::Delete
    )
}

/// How much of the request body is already in the buffer, and whether that
/// is all of it. Validates chunked framing before any upstream is contacted.
fn request_prefix(c: &mut Conn, sh: &Shard) -> Result<(usize, bool), ErrorCode> {
    let after = &c.buf[c.head.head_len..];
    c.segs.clear();
    c.chunk.reset();
    let framing = match c.head.body {
        BodyKind::Empty => return Ok((0, true)),
        BodyKind::Length(n) => Framing::Length(n),
        _ => Framing::Chunked,
    };
    match body::frame(after, framing, &mut c.chunk, &mut c.segs, 0) {
        Ok(_) if c.chunk.payload_bytes() > sh.cfg.server.max_body_bytes => {
            Err(ErrorCode::BodyTooLarge)
        }
        Ok(p) => Ok(p),
        Err(_) => Err(ErrorCode::InvalidChunk),
    }
}

/// Finds a pooled connection to the next target, or opens one, trying each
/// target once before giving up.
async fn acquire(
    sh: &Shard,
    up: usize,
    spec: &UpstreamSpec,
) -> Result<UpstreamConn, UpstreamError> {
    let n = spec.targets.len();
    let start = sh.pools.next_target(up, spec);
    if let Some(conn) = sh.pools.checkout(up, start, spec) {
        sh.metrics.upstream_reused.inc();
        return Ok(conn);
    }
    let mut last = UpstreamError::Unavailable;
    for i in 0..n {
        let t = (start + i) % n;
        match pool::connect(spec, t, spec.targets[t]).await {
            Ok(conn) => {
                sh.metrics.upstream_connects.inc();
                return Ok(conn);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Outcome of a failed request send.
enum Sent {
    /// The upstream connection failed before the request was fully handed
    /// over; nothing reached the client yet.
    Retry,
    /// The gateway already answered the client; the flag is keep-alive.
    Answered(bool),
}

/// Writes the request head (and buffered body bytes), then streams the rest
/// of the body.
async fn send_request(
    c: &mut Conn,
    sh: &Shard,
    route: &Route,
    up: &mut UpstreamConn,
    rewritten: bool,
    prefix: usize,
    body_done: bool,
) -> Result<(), Sent> {
    let target = sh.cfg.upstreams[route.upstream].targets[up.target];
    build_request(c, route, rewritten, prefix, target);
    let g = take_gather(c);
    match wire::write_gather(&mut up.stream, g, up_write_limit(sh, route)).await {
        Ok(g) => restore_gather(c, g),
        Err((_, Some(g))) => {
            restore_gather(c, g);
            return Err(Sent::Retry);
        }
        Err((_, None)) => {
            let keep = upstream_error(c, sh, UpstreamError::ResponseTimeout, true).await;
            return Err(Sent::Answered(keep));
        }
    }
    if c.head.body == BodyKind::Empty {
        return Ok(());
    }
    c.consume_head();
    c.buf.advance(prefix);
    if body_done {
        return Ok(());
    }
    if c.head.expect_continue && prefix == 0 && !respond::continue_100(c, sh).await {
        return Err(Sent::Answered(false));
    }
    let framing = match c.head.body {
        BodyKind::Length(n) => Framing::Length(n - prefix as u64),
        _ => Framing::Chunked,
    };
    let p = Pump {
        src: &mut c.stream,
        dst: &mut up.stream,
        read_limit: sh.cfg.server.body_timeout,
        write_limit: up_write_limit(sh, route),
        max_payload: sh.cfg.server.max_body_bytes,
        bufs: &sh.bodies,
    };
    let mut scratch = (std::mem::take(&mut c.segs), std::mem::take(&mut c.iov));
    let res = body::pump(p, &mut c.buf, framing, &mut c.chunk, &mut scratch, false).await;
    (c.segs, c.iov) = scratch;
    let code = match res {
        Ok(()) => return Ok(()),
        Err(PumpFail::SrcTimeout) => {
            sh.metrics
                .timeout(crate::observe::metrics::TimeoutKind::Body);
            ErrorCode::RequestTimeout
        }
        Err(PumpFail::SrcClosed) => return Err(Sent::Answered(false)),
        Err(PumpFail::BadChunk) => ErrorCode::InvalidChunk,
        Err(PumpFail::TooLarge) => ErrorCode::BodyTooLarge,
        Err(PumpFail::Dst) => ErrorCode::UpstreamReset,
    };
    respond::error(c, sh, code, true, None).await;
    Err(Sent::Answered(false))
}

fn up_write_limit(sh: &Shard, route: &Route) -> std::time::Duration {
    sh.cfg.upstreams[route.upstream].response_timeout
}

fn take_gather(c: &mut Conn) -> Gather {
    let mut g = Gather::new(
        std::mem::take(&mut c.buf),
        std::mem::take(&mut c.extra),
        std::mem::take(&mut c.iov),
    );
    for (src, r) in c.segs.drain(..) {
        g.push(src, r);
    }
    g
}

fn restore_gather(c: &mut Conn, g: Gather) {
    let (buf, extra, iov) = g.into_parts();
    c.buf = buf;
    c.extra = extra;
    c.iov = iov;
}

/// Reads the upstream's response head into `c.resp`, skipping interim 1xx.
async fn read_response_head(
    c: &mut Conn,
    up: &mut UpstreamConn,
    method: Method,
    spec: &UpstreamSpec,
) -> Result<(), UpstreamError> {
    loop {
        if !up.buf.is_empty() {
            match parse_response(&up.buf, MAX_RESPONSE_HEAD, method, &mut c.resp) {
                Ok(true) if c.resp.status == 101 => return Err(UpstreamError::BadResponse),
                Ok(true) if c.resp.status < 200 => {
                    up.buf.advance(c.resp.head_len);
                    continue;
                }
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => return Err(UpstreamError::from(e)),
            }
        }
        let buf = std::mem::take(&mut up.buf);
        match wire::read_more(&mut up.stream, buf, spec.response_timeout).await {
            Ok((0, _)) => return Err(UpstreamError::Reset),
            Ok((_, buf)) => up.buf = buf,
            Err(IoFail::Timeout) => return Err(UpstreamError::ResponseTimeout),
            Err(IoFail::Io) => return Err(UpstreamError::Reset),
        }
    }
}

/// Sends the response head and streams the body to the client; pools the
/// upstream connection when the exchange ended cleanly.
async fn relay_response(
    c: &mut Conn,
    sh: &Shard,
    route: &Route,
    mut up: UpstreamConn,
    spec: &UpstreamSpec,
) -> bool {
    let http10 = c.head.version == Version::Http10;
    let framing = match c.resp.body {
        BodyKind::Empty => Framing::Length(0),
        BodyKind::Length(n) => Framing::Length(n),
        BodyKind::Chunked if http10 => Framing::Dechunk,
        BodyKind::Chunked => Framing::Chunked,
        BodyKind::UntilClose => Framing::UntilClose,
    };
    let close = !c.head.keep_alive
        || sh.shutting_down.get()
        || matches!(framing, Framing::UntilClose | Framing::Dechunk);
    c.chunk.reset();
    let (consumed, done) = match build_response(c, route, &up.buf, framing, close) {
        Ok(v) => v,
        Err(_) => return upstream_error(c, sh, UpstreamError::BadResponse, false).await,
    };
    // The response head is gathered from the upstream buffer.
    let mut g = Gather::new(
        std::mem::take(&mut up.buf),
        std::mem::take(&mut c.extra),
        std::mem::take(&mut c.iov),
    );
    for (src, r) in c.segs.drain(..) {
        g.push(src, r);
    }
    match wire::write_gather(&mut c.stream, g, sh.cfg.server.idle_timeout).await {
        Ok(g) => {
            let (ubuf, extra, iov) = g.into_parts();
            up.buf = ubuf;
            c.extra = extra;
            c.iov = iov;
        }
        Err(_) => return false,
    }
    up.buf.advance(consumed);
    let framing = match framing {
        Framing::Length(n) => Framing::Length(n - (consumed - c.resp.head_len) as u64),
        f => f,
    };
    let done = done || framing == Framing::Length(0);
    let p = Pump {
        src: &mut up.stream,
        dst: &mut c.stream,
        read_limit: spec.response_timeout,
        write_limit: sh.cfg.server.idle_timeout,
        max_payload: u64::MAX,
        bufs: &sh.bodies,
    };
    let mut scratch = (std::mem::take(&mut c.segs), std::mem::take(&mut c.iov));
    let res = body::pump(p, &mut up.buf, framing, &mut c.chunk, &mut scratch, done).await;
    (c.segs, c.iov) = scratch;
    match res {
        Ok(()) => {
            if c.resp.keep_alive && framing != Framing::UntilClose {
                sh.pools.checkin(route.upstream, spec, up);
            }
            !close
        }
        Err(PumpFail::Dst) => false,
        Err(_) => {
            sh.metrics.upstream_aborted.inc();
            false
        }
    }
}

/// Answers an upstream failure that happened before any response byte was
/// sent to the client. `body_unread` forces the client connection closed.
async fn upstream_error(c: &mut Conn, sh: &Shard, e: UpstreamError, body_unread: bool) -> bool {
    respond::error(c, sh, ErrorCode::from(e), body_unread, None).await
}
