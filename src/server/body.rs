//! Streaming a message body from one socket to another without buffering it
//! whole: each read is forwarded before the next one, through one reused
//! buffer per side.
//!
//! Owns: body framing on the move (length countdown, chunked pass-through,
//! de-chunking for HTTP/1.0 clients, read-until-close). Must never: allocate
//! per chunk, or consume bytes past the end of the message (they belong to the
//! next pipelined message).

use std::ops::Range;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use monoio::net::TcpStream;

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

/// Both ends of a pump and their limits.
pub struct Pump<'a> {
    /// Where the body comes from.
    pub src: &'a mut TcpStream,
    /// Where it goes.
    pub dst: &'a mut TcpStream,
    /// Per-read inactivity limit on the source.
    pub read_limit: Duration,
    /// Per-write limit on the destination.
    pub write_limit: Duration,
    /// Largest payload allowed (chunked sources).
    pub max_payload: u64,
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
pub async fn pump(
    p: Pump<'_>,
    buf: &mut BytesMut,
    mut framing: Framing,
    decoder: &mut ChunkedDecoder,
    scratch: &mut (Vec<(Src, Range<usize>)>, Vec<libc::iovec>),
    mut done: bool,
) -> Result<(), PumpFail> {
    while !done {
        if buf.is_empty() {
            let owned = std::mem::take(buf);
            match wire::read_more(p.src, owned, p.read_limit).await {
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
        let owned = std::mem::take(buf);
        let mut g = Gather::new(owned, BytesMut::new(), std::mem::take(iov));
        for (src, r) in ranges.drain(..) {
            g.push(src, r);
        }
        match wire::write_gather(p.dst, g, p.write_limit).await {
            Ok(g) => {
                let (owned, _, v) = g.into_parts();
                *buf = owned;
                *iov = v;
            }
            Err(_) => return Err(PumpFail::Dst),
        }
        buf.advance(k);
        if let Framing::Length(n) = framing {
            framing = Framing::Length(n - k as u64);
        }
        done = end;
    }
    Ok(())
}
