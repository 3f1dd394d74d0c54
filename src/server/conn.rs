//! One client connection: the keep-alive loop and the first phase of every
//! request, reading the head.
//!
//! Owns: the keep-alive loop, parking an idle connection without its working
//! set (buffers borrowed from the shard while a request is in progress, see
//! `scratch`) and without its serving future (boxed while busy, see
//! `serve`), the client-side timeouts, for each parsed head the configured
//! header rules and the client address (`RequestCtx::client`), and the
//! request's start and end (`Measures::started`, `finish`), where every
//! request is counted, however it ended.
//! Must never: look at routes or upstreams (that is `pipeline` and `proxy`).

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::BytesMut;

use super::stream::Stream;

use super::generation::Gen;
use super::request::{Outcome, RequestCtx};
use super::state::{ConnId, Shard};
use super::wire::{self, IoFail, Src};
use crate::error::ErrorCode;
use crate::http::{parse_request, ChunkedDecoder, RequestHead, ResponseHead};
use crate::observe::metrics::TimeoutKind;

/// Upper bound for one chunk-size line including extensions.
const MAX_CHUNK_LINE: usize = 4096;

/// A busy client connection: its socket, its working set (buffers lent by
/// the shard's pool, see `scratch`) and the current request's state. It
/// lives inside the boxed busy future (`busy`) and is taken apart into a
/// `Parked` when the connection goes idle.
pub struct Conn {
    /// The client socket, plain or TLS.
    pub stream: Stream,
    /// The TCP peer's address.
    pub peer: SocketAddr,
    /// The peer's IP as text, for `x-forwarded-for`.
    pub peer_ip: String,
    /// True when the peer is in `server.trusted_proxies`.
    pub peer_trusted: bool,
    /// Read buffer: the current request head starts at offset 0.
    pub buf: BytesMut,
    /// Bytes the gateway writes itself (added headers, error bodies).
    pub extra: BytesMut,
    /// iovec scratch for gathered writes.
    pub iov: Vec<libc::iovec>,
    /// Segment list scratch, built before the iovecs.
    pub segs: Vec<(Src, std::ops::Range<usize>)>,
    /// The parsed request head (spans into `buf`).
    pub head: RequestHead,
    /// The parsed response head (spans into the upstream buffer).
    pub resp: ResponseHead,
    /// Chunked framing state for whichever body is streaming.
    pub chunk: ChunkedDecoder,
    /// This connection in the shard's registry (idle flag, park deadline).
    pub id: ConnId,
    /// True while the current head is still at the front of `buf`.
    pub head_pending: bool,
    /// The current request's own state (client, paths, id, identity,
    /// headers the policies add).
    pub req: RequestCtx,
    /// The configuration generation the current request runs on, taken
    /// from the shard before its head is read (`Shard::gen`).
    pub g: Rc<Gen>,
    /// Cancels a held read when the connection parks; made on first use.
    pub canceller: Option<monoio::io::Canceller>,
}

impl Conn {
    /// Drops the current request head from the buffer, once.
    pub fn consume_head(&mut self) {
        if self.head_pending {
            // min(): a buffer lost to a timed-out write is empty.
            let n = self.head.head_len.min(self.buf.len());
            bytes::Buf::advance(&mut self.buf, n);
            self.head_pending = false;
        }
    }

    /// A parked connection woken by bytes: it borrows a working set.
    fn wake(p: Parked, sh: &Shard) -> Conn {
        let ip = p.peer.ip();
        let g = sh.gen();
        let mut c = Conn {
            stream: p.stream,
            peer: p.peer,
            peer_ip: ip.to_string(),
            peer_trusted: g.cfg.server.trusted_proxies.contains(ip),
            buf: BytesMut::new(),
            extra: BytesMut::new(),
            iov: Vec::new(),
            segs: Vec::new(),
            req: RequestCtx::new(ip),
            head: RequestHead::blank(),
            resp: ResponseHead::blank(),
            chunk: ChunkedDecoder::new(MAX_CHUNK_LINE, g.cfg.server.max_header_bytes),
            id: p.id,
            head_pending: false,
            canceller: None,
            g,
        };
        sh.scratch.lend(&mut c);
        c
    }

    /// Gives the working set back and keeps only what a parked connection
    /// needs; `c.buf` must hold no client bytes.
    fn park(mut self, sh: &Shard) -> Parked {
        sh.scratch.reclaim(&mut self);
        self.stream.release_buffers();
        Parked {
            stream: self.stream,
            peer: self.peer,
            id: self.id,
        }
    }

    /// Between requests: takes up the generation the next request runs on
    /// (a reload published since the last one), and what the connection
    /// derived from the one before.
    fn next_generation(&mut self, sh: &Shard) {
        let g = sh.gen();
        if !Rc::ptr_eq(&g, &self.g) {
            self.peer_trusted = g.cfg.server.trusted_proxies.contains(self.peer.ip());
            self.chunk = ChunkedDecoder::new(MAX_CHUNK_LINE, g.cfg.server.max_header_bytes);
            self.g = g;
        }
    }
}

/// What an idle connection keeps while it waits for its next request: the
/// socket and what the next `Conn` is rebuilt from. Everything else (the
/// working set, the request state, the serving future, the configuration
/// generation) is freed, so an idle connection never holds an old
/// generation alive after a reload.
struct Parked {
    stream: Stream,
    peer: SocketAddr,
    id: ConnId,
}

/// What reading a request head ended with.
enum Head {
    /// A complete head is parsed into `conn.head`.
    Ready,
    /// The client went away, or idled out before sending a byte.
    Closed,
    /// No byte came within `PARK_AFTER`: park, and wait for the next
    /// request for at most this long.
    Park(Duration),
    /// The head is invalid or late: answer with this error and close.
    Reject(ErrorCode),
}

/// What a busy spell ended with.
enum Next {
    /// The connection went idle: wait parked for at most this long.
    Park(Parked, Duration),
    /// The connection is done.
    Close,
}

/// Serves one accepted connection until it closes.
///
/// Registers the connection now and returns the task that serves it, which
/// alternates between two states. Parked, it holds a `Parked` and waits for
/// readability; this is the state an idle keep-alive connection spends its
/// life in, and it is what the task's own size pays for. Busy, it runs
/// `busy`, which holds the working set and the request pipeline's nested
/// futures (several KiB); that future is boxed, so it is allocated once when
/// the connection wakes and freed when it parks again: once per idle spell,
/// never per request (a busy client stays in one spell).
pub fn serve(
    sh: Rc<Shard>,
    stream: Stream,
    peer: SocketAddr,
) -> impl std::future::Future<Output = ()> {
    use std::os::fd::AsRawFd;
    let id = sh.conns.add(stream.as_raw_fd());
    sh.metrics.connections_active.inc();
    let _ = stream.tcp().set_nodelay(true);
    let mut p = Parked { stream, peer, id };
    // Not an `async fn`: its arguments would keep slots of their own in
    // the task beside the locals they are moved into (`sh` and `p` twice,
    // 128 bytes for as long as the connection lives). The block below uses
    // what it captures in place.
    async move {
        let id = p.id;
        // A fresh connection starts parked, under the header timeout from now.
        let mut accepted = Some(Instant::now());
        let mut wait = sh.gen().cfg.server.header_timeout;
        loop {
            if sh.shutting_down.get() {
                break;
            }
            // Not relaxed: on epoll a relaxed wait returns at once on the
            // readiness left by the previous read, and the set would be
            // taken while idle.
            sh.conns.park(id, Instant::now() + wait, accepted.is_some());
            let woke = if p.stream.has_buffered() {
                Ok(())
            } else {
                p.stream.tcp().readable(false).await
            };
            if sh.conns.unpark(id) {
                // Counted by `expire` when it shut the socket down.
                break;
            }
            if woke.is_err() {
                break;
            }
            match Box::pin(busy(&sh, Conn::wake(p, &sh), accepted)).await {
                Next::Park(parked, left) => {
                    p = parked;
                    wait = left;
                    accepted = None;
                }
                Next::Close => break,
            }
        }
        sh.conns.remove(id);
        sh.metrics.connections_active.dec();
        sh.close_conn();
    }
}

/// Serves requests on a woken connection until it parks or closes.
/// `accepted` is when a fresh connection (no request yet) was accepted.
async fn busy(sh: &Shard, mut c: Conn, accepted: Option<Instant>) -> Next {
    // The socket is readable: the first read is a plain one.
    let mut readable = true;
    let mut started = accepted;
    loop {
        if sh.shutting_down.get() {
            break;
        }
        match read_head(&mut c, sh, started, readable).await {
            Head::Ready => {}
            Head::Closed => break,
            Head::Park(left) => return Next::Park(c.park(sh), left),
            Head::Reject(code) => {
                c.req.new_request_id(&sh.ids);
                // No head was parsed: what was read is all this request's.
                c.req.measures.bytes_in = c.buf.len() as u64;
                super::respond::error(&mut c, sh, code, true, None).await;
                finish(&mut c, sh, Outcome::error(code, false));
                break;
            }
        }
        started = None;
        readable = false;
        c.head_pending = true;
        c.req.measures.bytes_in = c.head.head_len as u64;
        sh.metrics.requests.inc();
        let outcome = super::pipeline::handle(&mut c, sh).await;
        finish(&mut c, sh, outcome);
        if !outcome.keep {
            break;
        }
        // Early answers (404, 405, upstream errors) leave a body-less head
        // in place; the next request starts right after it.
        c.consume_head();
    }
    if c.buf.is_empty() {
        sh.scratch.reclaim(&mut c);
    }
    c.stream.close_notify(CLOSE_NOTIFY_WAIT).await;
    Next::Close
}

/// How long a TLS connection's close_notify may take to leave (it is one
/// small record; only a client that stopped reading holds it up).
const CLOSE_NOTIFY_WAIT: Duration = Duration::from_millis(100);

/// Phase 7: the request ended, whichever way; measured now and counted.
fn finish(c: &mut Conn, sh: &Shard, outcome: Outcome) {
    c.req.measures.finish(Instant::now());
    outcome.count(&c.req.measures, &sh.metrics, &c.g.families, sh.id);
    super::report::request_ended(c, sh, &outcome);
}

/// Phase 1: read until a complete request head is buffered. `accepted` is
/// set for a connection's first request (the header timeout runs from it);
/// `readable` says the socket has bytes (or end of stream) waiting.
async fn read_head(
    c: &mut Conn,
    sh: &Shard,
    accepted: Option<Instant>,
    mut readable: bool,
) -> Head {
    let mut g = c.g.clone();
    let first = accepted.is_some();
    let mut started = accepted;
    c.head.clear();
    // A head rejected here must not carry the previous request's policy
    // headers or identity.
    c.req.reset(c.peer.ip());
    loop {
        if !c.buf.is_empty() {
            sh.conns.set_idle(c.id, false);
            if c.req.measures.started.is_none() {
                // The request starts with its first byte: it runs on the
                // generation published by then (a reload while the
                // connection waited applies to it).
                c.next_generation(sh);
                g = c.g.clone();
                // One clock read: the request's start, and the header
                // timeout's unless the connection's first request already
                // runs it from the accept.
                let now = Instant::now();
                c.req.measures.started = Some(now);
                started.get_or_insert(now);
            }
            match parse_request(&c.buf, g.cfg.server.max_header_bytes, &mut c.head) {
                Ok(true) => return after_parse(c, sh),
                Ok(false) => {}
                Err(e) => return Head::Reject(e.into()),
            }
        } else {
            sh.conns.set_idle(c.id, true);
            if sh.shutting_down.get() {
                return Head::Closed;
            }
        }
        let server = &g.cfg.server;
        let limit = match started {
            Some(t) => match server.header_timeout.checked_sub(t.elapsed()) {
                Some(left) if !left.is_zero() => left,
                _ => return header_timeout(sh, !c.buf.is_empty()),
            },
            None => server.idle_timeout,
        };
        let got_bytes = !c.buf.is_empty();
        if !got_bytes && !readable {
            // The busy path: wait up to `PARK_AFTER` (or `limit`, if
            // shorter) holding the working set.
            match read_holding(c, PARK_AFTER.min(limit)).await {
                Ok(Some(0)) | Err(_) => return Head::Closed,
                Ok(Some(_)) => continue,
                // Nothing came: park for what is left of `limit`, or time
                // out when nothing is.
                Ok(None) => {
                    let left = limit.saturating_sub(PARK_AFTER);
                    if left.is_zero() {
                        return idle_timeout(sh, first);
                    }
                    return Head::Park(left);
                }
            }
        }
        readable = false;
        let buf = std::mem::take(&mut c.buf);
        match wire::read_more(&mut c.stream, buf, limit).await {
            Ok((0, buf)) => {
                c.buf = buf;
                return Head::Closed;
            }
            Ok((_, buf)) => c.buf = buf,
            Err(IoFail::Timeout) if got_bytes => return header_timeout(sh, true),
            Err(IoFail::Timeout) => return idle_timeout(sh, first),
            Err(IoFail::Io) => return Head::Closed,
        }
    }
}

/// The configured header rules, then the client address, for a head just
/// parsed: before routing, so nothing after sees a dropped field.
fn after_parse(c: &mut Conn, sh: &Shard) -> Head {
    let g = c.g.clone();
    let server = &g.cfg.server;
    match server.header_rules.apply(&c.buf, &mut c.head) {
        Ok(0) => {}
        Ok(n) => sh.metrics.headers_dropped.add(n as u64),
        Err(e) => return Head::Reject(e.into()),
    }
    c.req.client =
        server
            .trusted_proxies
            .client(c.peer.ip(), c.peer_trusted, &c.head.headers, &c.buf);
    Head::Ready
}

/// How long a kept-alive connection waits for its next request with its
/// working set in hand before parking (handing the set back to the pool and
/// freeing its serving future). A busy client sends again well within it and
/// pays nothing extra; an idle one costs one cancelled read, one poll
/// operation and one boxed future, once per idle spell.
const PARK_AFTER: Duration = Duration::from_millis(100);

/// Reads into the empty `c.buf` for at most `hold`; `None` when nothing
/// came. The read is cancelled, not dropped, at the deadline: a drop could
/// lose bytes the kernel already delivered, a cancel hands them back.
async fn read_holding(c: &mut Conn, hold: Duration) -> Result<Option<usize>, IoFail> {
    use monoio::io::CancelableAsyncReadRent;
    // The buffer is empty, so monoio's read-at-the-start is what we want.
    let mut buf = std::mem::take(&mut c.buf);
    wire::ensure_spare(&mut buf);
    // One canceller per busy spell, reused by every read until it fires.
    let handle = c
        .canceller
        .get_or_insert_with(monoio::io::Canceller::new)
        .handle();
    let mut read = std::pin::pin!(c.stream.cancelable_read(buf, handle));
    let done = monoio::select! {
        r = &mut read => Some(r),
        _ = monoio::time::sleep(hold) => None,
    };
    let (res, buf) = match done {
        Some(r) => r,
        None => {
            c.canceller = c.canceller.take().map(|cn| cn.cancel());
            read.await
        }
    };
    c.buf = buf;
    match res {
        Ok(n) => Ok(Some(n)),
        Err(e) if e.raw_os_error() == Some(libc::ECANCELED) => Ok(None),
        Err(_) => Err(IoFail::Io),
    }
}

/// No byte came before the timeout: on a fresh connection that is the
/// header timeout, on a kept-alive one the idle timeout; both close silently.
fn idle_timeout(sh: &Shard, first: bool) -> Head {
    if first {
        return header_timeout(sh, false);
    }
    sh.metrics.timeout(TimeoutKind::Idle);
    Head::Closed
}

/// The head did not arrive in time: 408 if any byte came, silence if none.
fn header_timeout(sh: &Shard, got_bytes: bool) -> Head {
    sh.metrics.timeout(TimeoutKind::Header);
    if got_bytes {
        Head::Reject(ErrorCode::RequestTimeout)
    } else {
        Head::Closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of what `f` returns, for a function item (async or not).
    fn returned<F: Fn(A, B, C) -> R, A, B, C, R>(_: &F) -> usize {
        std::mem::size_of::<R>()
    }

    #[test]
    fn a_parked_connection_task_stays_in_a_320_byte_block() {
        // monoio's task adds 48 bytes (header, stage tag, join waker) to the
        // future; mimalloc rounds 312 up to its 320-byte size class. One
        // more field held across the park, and every idle connection pays
        // the next class (384), so this is the idle-memory budget, not a
        // guess: see bench/RESULTS.md, 2026-12-06.
        let size = returned(&serve);
        assert!(size <= 272, "serve's future is {size} bytes");
    }
}
