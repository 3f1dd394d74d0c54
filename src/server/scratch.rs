//! The per-request working set of a connection (read buffer, gateway-written
//! bytes, iovecs, header tables, path scratch) and the shard's pool of them.
//!
//! A connection holds a set only while a request is in progress: while it
//! waits for the next request its set goes back to the pool, so an idle
//! keep-alive connection costs its socket and its parked task (see
//! `conn::serve`), not the ~38 KiB a set weighs. Sets are made once and
//! reused, so the busy path does not allocate.
//! Must never: take a set from a connection whose read buffer still holds
//! client bytes (a pipelined request would be lost), or share sets across
//! shards.

use std::ops::Range;

use bytes::BytesMut;

use super::conn::Conn;
use super::spares::Spares;
use super::wire::Src;
use crate::http::request::MAX_HEADERS;
use crate::http::HeaderEntry;

/// How many spare sets a shard keeps: enough to absorb the churn of its
/// busy connections; beyond it, returned sets are freed.
const MAX_POOLED: usize = 256;

/// Capacity of the buffer for bytes the gateway writes itself.
const EXTRA_CAP: usize = 4096;

/// One working set, moved into a `Conn`'s fields while it is busy.
struct Scratch {
    buf: BytesMut,
    extra: BytesMut,
    iov: Vec<libc::iovec>,
    segs: Vec<(Src, Range<usize>)>,
    req_headers: Vec<HeaderEntry>,
    resp_headers: Vec<HeaderEntry>,
    path: Vec<u8>,
    rewritten: Vec<u8>,
    /// `RequestCtx::seen`'s bytes (empty unless a sink quotes heads).
    seen: Vec<u8>,
    policy_headers: Vec<u8>,
}

/// A shard's free list of working sets.
pub struct ScratchPool {
    buf_size: usize,
    free: Spares<Scratch>,
}

impl ScratchPool {
    /// A pool whose read buffers hold a whole head of `max_header_bytes`
    /// plus room for body bytes behind it.
    pub fn new(max_header_bytes: usize) -> ScratchPool {
        ScratchPool {
            buf_size: (max_header_bytes + 4096).max(16 * 1024),
            free: Spares::new(MAX_POOLED),
        }
    }

    /// Frees the sets that stayed unused since the last call (run once a
    /// second), so a burst of busy connections does not leave its peak
    /// behind for good; returns how many were freed.
    pub fn trim(&self) -> usize {
        self.free.trim()
    }

    /// Moves a working set into `c` (a pooled one, else a new one).
    pub fn lend(&self, c: &mut Conn) {
        let s = self.free.take().unwrap_or_else(|| Scratch {
            buf: BytesMut::with_capacity(self.buf_size),
            extra: BytesMut::with_capacity(EXTRA_CAP),
            iov: Vec::with_capacity(64),
            segs: Vec::with_capacity(64),
            req_headers: Vec::with_capacity(MAX_HEADERS),
            resp_headers: Vec::with_capacity(MAX_HEADERS),
            path: Vec::with_capacity(256),
            rewritten: Vec::with_capacity(256),
            seen: Vec::new(),
            policy_headers: Vec::with_capacity(256),
        });
        c.buf = s.buf;
        c.extra = s.extra;
        c.iov = s.iov;
        c.segs = s.segs;
        c.head.headers = s.req_headers;
        c.resp.headers = s.resp_headers;
        c.req.path = s.path;
        c.req.rewritten = s.rewritten;
        c.req.seen.bytes = s.seen;
        c.req.resp_headers = s.policy_headers;
    }

    /// Takes `c`'s working set back; `c.buf` must hold no client bytes.
    /// A set that grew past twice its usual size is freed instead of pooled,
    /// as is any set beyond the pool's bound.
    pub fn reclaim(&self, c: &mut Conn) {
        debug_assert!(c.buf.is_empty(), "reclaiming a buffer with client bytes");
        let mut s = Scratch {
            buf: std::mem::take(&mut c.buf),
            extra: std::mem::take(&mut c.extra),
            iov: std::mem::take(&mut c.iov),
            segs: std::mem::take(&mut c.segs),
            req_headers: std::mem::take(&mut c.head.headers),
            resp_headers: std::mem::take(&mut c.resp.headers),
            path: std::mem::take(&mut c.req.path),
            rewritten: std::mem::take(&mut c.req.rewritten),
            seen: std::mem::take(&mut c.req.seen.bytes),
            policy_headers: std::mem::take(&mut c.req.resp_headers),
        };
        if !self.free.has_room() {
            return;
        }
        // Both are empty: reserve() moves their start back to the front of
        // the allocation (consumed requests advanced it) without allocating.
        s.buf.clear();
        s.buf.reserve(self.buf_size);
        s.extra.clear();
        s.extra.reserve(EXTRA_CAP);
        if s.buf.capacity() <= 2 * self.buf_size && s.extra.capacity() <= 4 * EXTRA_CAP {
            s.req_headers.clear();
            s.resp_headers.clear();
            s.path.clear();
            s.rewritten.clear();
            s.seen.clear();
            s.policy_headers.clear();
            self.free.give(s);
        }
    }
}
