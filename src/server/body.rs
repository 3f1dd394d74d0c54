//! Streaming a message body from one socket to another without buffering it
//! whole: each read is forwarded before the next one, through one reused
//! buffer per side, or a large one from the shard's pool for a long body.
//!
//! Owns: body framing on the move (length countdown, chunked pass-through,
//! de-chunking for HTTP/1.0 clients, read-until-close) and the pool of large
//! body buffers. Must never: allocate per chunk, or consume bytes past the end
//! of the message (they belong to the next pipelined message).

use std::ops::Range;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent};

use super::spares::Spares;
use super::wire::{self, Gather, IoFail, Src};
use crate::http::ChunkedDecoder;

/// How the rest of a body is delimited, as the pump sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// This many bytes remain.
    Length(u64),
    /// Chunked, forwarded with its framing.
    Chunked,
    /// Chunked on the source, plain bytes (close-delimited) to the destination.
    Dechunk,
    /// Everything until the source closes.
    UntilClose,
}

/// Why a body stopped before its end.
#[derive(Debug, PartialEq, Eq)]
pub enum PumpFail {
    /// The source did not send within its timeout.
    SrcTimeout,
    /// The source closed or failed before the end of the body.
    SrcClosed,
    /// Writing to the destination failed or timed out.
    Dst,
    /// The chunked framing is invalid.
    BadChunk,
    /// The decoded payload exceeded the limit.
    TooLarge,
}

/// Size of a pooled body buffer. A long body moves through it in reads of up
/// to this size instead of the connection's own buffer (16-32 KiB): a fourth
/// of the reads and writes, and their per-operation kernel work (TCP push,
/// ACK processing, wake-ups), for a 1 MiB body; measured in bench/RESULTS.md.
pub const BODY_BUF: usize = 128 * 1024;

/// Large buffers a shard lends to pumps of long bodies, so that the memory
/// follows the bodies in flight rather than every connection, and the busy
/// path reuses buffers instead of allocating them.
pub struct BodyBufs(Spares<BytesMut>);

impl Default for BodyBufs {
    fn default() -> BodyBufs {
        BodyBufs(Spares::new(MAX_POOLED_BODY_BUFS))
    }
}

/// Spare body buffers a shard keeps (4 MiB); beyond it, returned ones are freed.
const MAX_POOLED_BODY_BUFS: usize = 32;

impl BodyBufs {
    /// An empty buffer of `BODY_BUF` bytes (a pooled one, else a new one).
    fn take(&self) -> BytesMut {
        self.0
            .take()
            .unwrap_or_else(|| BytesMut::with_capacity(BODY_BUF))
    }

    /// Frees the buffers that stayed unused for a whole period.
    pub fn trim(&self) -> usize {
        self.0.trim()
    }

    /// Takes a buffer back; one lost to a timed-out read (empty, no capacity)
    /// or grown past its size is dropped.
    fn give(&self, mut b: BytesMut) {
        b.clear();
        b.reserve(BODY_BUF);
        if b.capacity() == BODY_BUF {
            self.0.give(b);
        }
    }
}

/// Both ends of a pump and their limits. Generic over the two streams: a
/// request body goes client (`Stream`) to upstream (`TcpStream`), a
/// response body the other way.
pub struct Pump<'a, S, D> {
    /// Where the body comes from.
    pub src: &'a mut S,
    /// Where it goes.
    pub dst: &'a mut D,
    /// Per-read inactivity limit on the source.
    pub read_limit: Duration,
    /// Per-write limit on the destination.
    pub write_limit: Duration,
    /// Largest payload allowed (chunked sources).
    pub max_payload: u64,
    /// The shard's pool of large buffers, for a long body.
    pub bufs: &'a BodyBufs,
    /// What went through, counted as it goes (also when the pump fails).
    pub moved: &'a mut Moved,
    /// A copy of the payload to keep (a cache fill), when wanted.
    pub tee: Option<&'a mut Tee>,
}

/// The tee's chunk parser bounds: the relay's own parser has already
/// accepted the same bytes under its bounds, so these are only generous.
const TEE_MAX_LINE: usize = 64 * 1024;
const TEE_MAX_TRAILERS: usize = 64 * 1024;

/// A copy of the payload a pump moves, kept up to `limit` bytes: a
/// response being stored by the cache while it streams to its client.
/// Past the limit the copy stops (and is dropped) but the stream goes on.
pub struct Tee {
    /// The payload so far (de-chunked).
    pub body: BytesMut,
    /// The most to keep.
    pub limit: usize,
    /// The payload outgrew `limit`: nothing will be stored.
    pub over: bool,
    /// The body reached its end (set by the relay).
    pub finished: bool,
    /// Its own chunk parser: the pump's serves the forwarding.
    decoder: ChunkedDecoder,
}

impl Tee {
    /// A copy bounded to `limit` bytes, starting with room for `hint`.
    pub fn new(limit: usize, hint: usize) -> Tee {
        Tee {
            body: BytesMut::with_capacity(hint.min(limit)),
            limit,
            over: false,
            finished: false,
            decoder: crate::http::ChunkedDecoder::new(TEE_MAX_LINE, TEE_MAX_TRAILERS),
        }
    }

    /// Keeps the payload in `bytes`, the next body bytes as framed.
    pub fn take(&mut self, bytes: &[u8], framing: Framing) {
        if self.over {
            return;
        }
        let Tee {
            body,
            limit,
            over,
            decoder,
            ..
        } = self;
        let mut keep = |part: &[u8]| {
            if body.len() + part.len() > *limit {
                *over = true;
            } else if !*over {
                body.extend_from_slice(part);
            }
        };
        match framing {
            Framing::Length(_) | Framing::UntilClose => keep(bytes),
            Framing::Chunked | Framing::Dechunk => {
                if decoder.feed(bytes, |r| keep(&bytes[r])).is_err() {
                    *over = true;
                }
            }
        }
        if self.over {
            self.body = BytesMut::new();
        }
    }
}

/// Bytes a pump moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Moved {
    /// Source bytes consumed as the body, framing included.
    pub consumed: u64,
    /// Bytes written to the destination (less than `consumed` when de-chunking).
    pub written: u64,
}

/// Bytes at the front of `buf` that belong to the body, and the payload
/// ranges among them (for de-chunking), without consuming anything.
pub fn frame(
    buf: &[u8],
    framing: Framing,
    decoder: &mut ChunkedDecoder,
    ranges: &mut Vec<(Src, Range<usize>)>,
    base: usize,
) -> Result<(usize, bool), PumpFail> {
    match framing {
        Framing::Length(n) => {
            let k = (buf.len() as u64).min(n) as usize;
            ranges.push((Src::Main, base..base + k));
            Ok((k, k as u64 == n))
        }
        Framing::UntilClose => {
            ranges.push((Src::Main, base..base + buf.len()));
            Ok((buf.len(), false))
        }
        Framing::Chunked => {
            let k = decoder.feed(buf, |_| {}).map_err(|_| PumpFail::BadChunk)?;
            ranges.push((Src::Main, base..base + k));
            Ok((k, decoder.is_done()))
        }
        Framing::Dechunk => {
            let k = decoder
                .feed(buf, |r| {
                    ranges.push((Src::Main, base + r.start..base + r.end))
                })
                .map_err(|_| PumpFail::BadChunk)?;
            Ok((k, decoder.is_done()))
        }
    }
}

/// Streams the body from `p.src` to `p.dst`. `buf` holds source bytes not yet
/// forwarded; on success it holds only bytes past the end of the body.
/// `done` says the body already ended in what was forwarded before.
///
/// Once `buf` is drained, a body longer than `buf` can hold in one read
/// continues through a pooled `BODY_BUF` buffer; `buf` gets its own buffer
/// back at the end (with any bytes read past the body), on every path.
pub async fn pump<S: AsyncReadRent, D: AsyncWriteRent>(
    p: Pump<'_, S, D>,
    buf: &mut BytesMut,
    framing: Framing,
    decoder: &mut ChunkedDecoder,
    scratch: &mut (Vec<(Src, Range<usize>)>, Vec<libc::iovec>),
    done: bool,
) -> Result<(), PumpFail> {
    let bufs = p.bufs;
    let mut own = None;
    let res = pump_loop(p, buf, framing, decoder, scratch, done, &mut own).await;
    if let Some(own) = own {
        let big = std::mem::replace(buf, own);
        // Bytes past the end of a chunked or length body read into the
        // large buffer belong to the next message (rare: reads of a length
        // body stop at its end).
        buf.extend_from_slice(&big);
        bufs.give(big);
    }
    res
}

/// True when the rest of the body will not come in one read into `buf`.
fn is_long(framing: Framing, buf: &BytesMut, reads: usize) -> bool {
    match framing {
        Framing::Length(n) => n > (buf.capacity() - buf.len()) as u64,
        // Unknown length: long once one read has not finished it.
        _ => reads > 0,
    }
}

async fn pump_loop<S: AsyncReadRent, D: AsyncWriteRent>(
    mut p: Pump<'_, S, D>,
    buf: &mut BytesMut,
    mut framing: Framing,
    decoder: &mut ChunkedDecoder,
    scratch: &mut (Vec<(Src, Range<usize>)>, Vec<libc::iovec>),
    mut done: bool,
    own: &mut Option<BytesMut>,
) -> Result<(), PumpFail> {
    let mut reads = 0;
    while !done {
        if buf.is_empty() {
            if own.is_none() && is_long(framing, buf, reads) {
                *own = Some(std::mem::replace(buf, p.bufs.take()));
            }
            // A length body is read up to its end and no further.
            let at_most = match framing {
                Framing::Length(n) => n.min(usize::MAX as u64) as usize,
                _ => usize::MAX,
            };
            let owned = std::mem::take(buf);
            reads += 1;
            match wire::read_at_most(p.src, owned, p.read_limit, at_most).await {
                Ok((0, owned)) => {
                    *buf = owned;
                    if framing == Framing::UntilClose {
                        return Ok(());
                    }
                    return Err(PumpFail::SrcClosed);
                }
                Ok((_, owned)) => *buf = owned,
                Err(IoFail::Timeout) => return Err(PumpFail::SrcTimeout),
                Err(IoFail::Io) => return Err(PumpFail::SrcClosed),
            }
        }
        let (ranges, iov) = scratch;
        ranges.clear();
        let (k, end) = frame(buf, framing, decoder, ranges, 0)?;
        let chunked = matches!(framing, Framing::Chunked | Framing::Dechunk);
        if chunked && decoder.payload_bytes() > p.max_payload {
            return Err(PumpFail::TooLarge);
        }
        if let Some(t) = p.tee.as_deref_mut() {
            t.take(&buf[..k], framing);
        }
        let owned = std::mem::take(buf);
        let mut g = Gather::new(owned, BytesMut::new(), std::mem::take(iov));
        for (src, r) in ranges.drain(..) {
            g.push(src, r);
        }
        let len = g.remaining() as u64;
        match wire::write_gather(p.dst, g, p.write_limit).await {
            Ok(g) => {
                let (owned, _, v) = g.into_parts();
                *buf = owned;
                *iov = v;
            }
            Err(_) => return Err(PumpFail::Dst),
        }
        p.moved.consumed += k as u64;
        p.moved.written += len;
        buf.advance(k);
        if let Framing::Length(n) = framing {
            framing = Framing::Length(n - k as u64);
        }
        done = end;
    }
    Ok(())
}
