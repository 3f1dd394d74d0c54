//! One attempt's I/O with an upstream: the request goes out (head rebuilt
//! as slices of the client's buffer plus the few bytes the gateway adds,
//! body streamed), the response head comes back, and the response is relayed
//! to the client the same way.
//!
//! Owns: hop-by-hop stripping, forwarding headers and keep-alive decisions
//! on both sides (with `head`). Must never: buffer a whole body, decide a
//! retry (that is `proxy`), or return an upstream connection to the pool
//! unless its exchange ended cleanly on a message boundary.

use bytes::Buf;

use super::body::{self, Framing, Moved, Pump, PumpFail};
use super::cached::Fill;
use super::conn::Conn;
use super::head::{build_request, build_response};
use super::respond;
use super::splice;
use super::state::Shard;
use super::stream::Stream;
use super::wire::{self, Gather, IoFail};
use crate::config::UpstreamSpec;
use crate::error::ErrorCode;
use crate::http::{parse_response, BodyKind, Method, Version};
use crate::route::Route;
use crate::upstream::pool::UpstreamConn;
use crate::upstream::UpstreamError;

/// Largest upstream response head accepted.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// How much of the request body is already in the buffer, and whether that
/// is all of it. Validates chunked framing before any upstream is contacted.
pub(super) fn request_prefix(c: &mut Conn) -> Result<(usize, bool), ErrorCode> {
    let after = &c.buf[c.head.head_len..];
    c.segs.clear();
    c.chunk.reset();
    let framing = match c.head.body {
        BodyKind::Empty => return Ok((0, true)),
        BodyKind::Length(n) => Framing::Length(n),
        _ => Framing::Chunked,
    };
    match body::frame(after, framing, &mut c.chunk, &mut c.segs, 0) {
        Ok(_) if c.chunk.payload_bytes() > c.g.cfg.server.max_body_bytes => {
            Err(ErrorCode::BodyTooLarge)
        }
        Ok(p) => Ok(p),
        Err(_) => Err(ErrorCode::InvalidChunk),
    }
}

/// Why a request could not be handed over in full.
pub(super) enum Sent {
    /// The upstream connection failed before the request was fully handed
    /// over, and the request is still in the client buffer: it may go again.
    Retry,
    /// The upstream failed mid-body; answer with this and close.
    Upstream(UpstreamError),
    /// The client failed (stalled, bad chunk, too large); answer with this
    /// and close. Not the target's fault.
    Client(ErrorCode),
    /// The client went away (or an answer was already written); close.
    Gone,
}

/// Writes the request head (and buffered body bytes), then streams the rest
/// of the body.
pub(super) async fn send_request(
    c: &mut Conn,
    sh: &Shard,
    route: &Route,
    up: &mut UpstreamConn,
    rewritten: bool,
    prefix: usize,
    body_done: bool,
) -> Result<(), Sent> {
    build_request(c, route, rewritten, prefix, up.addr);
    let main = std::mem::take(&mut c.buf);
    let g = take_gather(c, main);
    let limit = c.g.cfg.upstreams[route.upstream].response_timeout;
    match wire::write_gather(&mut up.stream, g, limit).await {
        Ok(g) => c.buf = restore_gather(c, g),
        Err((_, Some(g))) => {
            c.buf = restore_gather(c, g);
            return Err(Sent::Retry);
        }
        // The write timed out and took the buffer with it.
        Err((_, None)) => return Err(Sent::Upstream(UpstreamError::ResponseTimeout)),
    }
    // A body that is all in the buffer stays there with the head, so the
    // request can go again; `proxy` drops both once it is answered.
    if c.head.body == BodyKind::Empty || body_done {
        return Ok(());
    }
    c.consume_head();
    c.buf.advance(prefix);
    c.req.measures.bytes_in += prefix as u64;
    if c.head.expect_continue && prefix == 0 && !respond::continue_100(c).await {
        return Err(Sent::Gone);
    }
    let framing = match c.head.body {
        BodyKind::Length(n) => Framing::Length(n - prefix as u64),
        _ => Framing::Chunked,
    };
    let mut moved = Moved::default();
    let p = Pump {
        src: &mut c.stream,
        dst: &mut up.stream,
        read_limit: c.g.cfg.server.body_timeout,
        write_limit: c.g.cfg.upstreams[route.upstream].response_timeout,
        max_payload: c.g.cfg.server.max_body_bytes,
        bufs: &sh.bodies,
        moved: &mut moved,
        tee: None,
    };
    let mut scratch = (std::mem::take(&mut c.segs), std::mem::take(&mut c.iov));
    let res = body::pump(p, &mut c.buf, framing, &mut c.chunk, &mut scratch, false).await;
    (c.segs, c.iov) = scratch;
    c.req.measures.bytes_in += moved.consumed;
    match res {
        Ok(()) => Ok(()),
        Err(PumpFail::SrcTimeout) => {
            sh.metrics
                .timeout(crate::observe::metrics::TimeoutKind::Body);
            Err(Sent::Client(ErrorCode::RequestTimeout))
        }
        Err(PumpFail::SrcClosed) => Err(Sent::Gone),
        Err(PumpFail::BadChunk) => Err(Sent::Client(ErrorCode::InvalidChunk)),
        Err(PumpFail::TooLarge) => Err(Sent::Client(ErrorCode::BodyTooLarge)),
        Err(PumpFail::Dst) => Err(Sent::Upstream(UpstreamError::Reset)),
    }
}

/// The head `head::build_*` left in `c.segs`, as one gathered write over
/// `main` (the buffer it was parsed from: the client's for a request, the
/// upstream's for a response) and `c.extra`.
fn take_gather(c: &mut Conn, main: bytes::BytesMut) -> Gather {
    let mut g = Gather::new(
        main,
        std::mem::take(&mut c.extra),
        std::mem::take(&mut c.iov),
    );
    for (src, r) in c.segs.drain(..) {
        g.push(src, r);
    }
    g
}

/// Gives `c` its scratch back from a finished write; returns `main`.
fn restore_gather(c: &mut Conn, g: Gather) -> bytes::BytesMut {
    let (main, extra, iov) = g.into_parts();
    c.extra = extra;
    c.iov = iov;
    main
}

/// Reads the upstream's response head into `c.resp`, skipping interim 1xx.
/// A 101 ends the head for a request that asked for an upgrade its route
/// proxies (`c.req.upgrade`), and is a bad response for any other.
pub(super) async fn read_response_head(
    c: &mut Conn,
    up: &mut UpstreamConn,
    method: Method,
    limit: std::time::Duration,
) -> Result<(), UpstreamError> {
    loop {
        if !up.buf.is_empty() {
            match parse_response(&up.buf, MAX_RESPONSE_HEAD, method, &mut c.resp) {
                Ok(true) if c.resp.status == 101 && c.req.upgrade => {
                    return match super::upgrade::agreed(c, &up.buf) {
                        true => Ok(()),
                        false => Err(UpstreamError::BadResponse),
                    };
                }
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
        match wire::read_more(&mut up.stream, buf, limit).await {
            Ok((0, _)) => return Err(UpstreamError::Reset),
            Ok((_, buf)) => up.buf = buf,
            Err(IoFail::Timeout) => return Err(UpstreamError::ResponseTimeout),
            Err(IoFail::Io) => return Err(UpstreamError::Reset),
        }
    }
}

/// Writes the response head `build_response` left in `c.segs` (slices of
/// `up.buf` and of `c.extra`) to the client; `Err` when the client has gone.
pub(super) async fn send_head(c: &mut Conn, up: &mut UpstreamConn) -> Result<(), IoFail> {
    // The response head is gathered from the upstream buffer.
    let main = std::mem::take(&mut up.buf);
    let g = take_gather(c, main);
    let head_bytes = g.remaining() as u64;
    let limit = c.g.cfg.server.idle_timeout;
    let g = wire::write_gather(&mut c.stream, g, limit)
        .await
        .map_err(|(e, _)| e)?;
    up.buf = restore_gather(c, g);
    c.req.measures.bytes_out += head_bytes;
    Ok(())
}

/// How a relayed response ended for the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Relayed {
    /// The head went out (the body too, unless `keep` is false for that
    /// reason); `keep`: the client connection may carry another request.
    Sent { keep: bool },
    /// Writing the head failed: the client had gone (reset the connection),
    /// so it got no response at all.
    ClientGone,
}

/// Sends the response head and streams the body to the client; pools the
/// upstream connection when the exchange ended cleanly. Returns how it
/// ended for the client, or the error to answer when the head could not be
/// rebuilt (nothing was sent then).
pub(super) async fn relay_response(
    c: &mut Conn,
    sh: &Shard,
    route: &Route,
    mut up: UpstreamConn,
    spec: &UpstreamSpec,
) -> Result<Relayed, UpstreamError> {
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
        Err(_) => return Err(UpstreamError::BadResponse),
    };
    if c.req.cache.is_some() {
        super::cache_fill::tee_first(c, &up.buf, consumed, framing);
    }
    if send_head(c, &mut up).await.is_err() {
        return Ok(Relayed::ClientGone);
    }
    up.buf.advance(consumed);
    let framing = match framing {
        Framing::Length(n) => Framing::Length(n - (consumed - c.resp.head_len) as u64),
        f => f,
    };
    let done = done || framing == Framing::Length(0);
    let mut moved = Moved::default();
    let res = match spliced(c, sh, &mut up, spec, framing, done, &mut moved).await {
        Some(res) => res,
        None => copied(c, sh, &mut up, spec, framing, done, &mut moved).await,
    };
    c.req.measures.bytes_out += moved.written;
    let keep = match res {
        Ok(()) => {
            // The connection of an upgrade request is never pooled, even
            // when the upstream refused the upgrade: it was opened for it.
            if c.resp.keep_alive && framing != Framing::UntilClose && !c.req.upgrade {
                c.g.upstreams.checkin(route.upstream, up);
            }
            !close
        }
        Err(PumpFail::Dst) => false,
        Err(_) => {
            sh.metrics.upstream_aborted.inc();
            false
        }
    };
    Ok(Relayed::Sent { keep })
}

/// The rest of a long length-framed body between two plain sockets, moved
/// with splice (`super::splice`); `None` when it does not apply or could not
/// start, and the body is to be copied.
async fn spliced(
    c: &mut Conn,
    sh: &Shard,
    up: &mut UpstreamConn,
    spec: &UpstreamSpec,
    framing: Framing,
    done: bool,
    moved: &mut Moved,
) -> Option<Result<(), PumpFail>> {
    let Framing::Length(n) = framing else {
        return None;
    };
    if done || n < splice::SPLICE_MIN || !up.buf.is_empty() {
        return None;
    }
    // A body being stored must pass through user space to be kept.
    if c.req.cache.as_deref_mut().and_then(Fill::tee).is_some() {
        return None;
    }
    let (Stream::Plain(dst), Stream::Plain(src)) = (&c.stream, &up.stream) else {
        return None;
    };
    let mut written = 0;
    let res = splice::splice_body(
        src,
        dst,
        &sh.pipes,
        n,
        spec.response_timeout,
        c.g.cfg.server.idle_timeout,
        &mut written,
    )
    .await;
    moved.consumed += written;
    moved.written += written;
    match res {
        Ok(()) => Some(Ok(())),
        Err(None) => None,
        Err(Some(e)) => Some(Err(e)),
    }
}

/// The rest of the body copied through user-space buffers (`body::pump`).
async fn copied(
    c: &mut Conn,
    sh: &Shard,
    up: &mut UpstreamConn,
    spec: &UpstreamSpec,
    framing: Framing,
    done: bool,
    moved: &mut Moved,
) -> Result<(), PumpFail> {
    let p = Pump {
        src: &mut up.stream,
        dst: &mut c.stream,
        read_limit: spec.response_timeout,
        write_limit: c.g.cfg.server.idle_timeout,
        max_payload: u64::MAX,
        bufs: &sh.bodies,
        moved,
        tee: c.req.cache.as_deref_mut().and_then(Fill::tee),
    };
    let mut scratch = (std::mem::take(&mut c.segs), std::mem::take(&mut c.iov));
    let res = body::pump(p, &mut up.buf, framing, &mut c.chunk, &mut scratch, done).await;
    (c.segs, c.iov) = scratch;
    if let Some(t) = c.req.cache.as_deref_mut().and_then(Fill::tee) {
        t.finished = res.is_ok();
    }
    res
}
