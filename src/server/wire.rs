//! Socket I/O helpers, generic over the stream (a client's `Stream`,
//! plain or TLS, or an upstream's `TcpStream`) for the connection and proxy phases: reads into a
//! connection buffer and gathered (vectored) writes, each bounded by a timeout.
//!
//! monoio owns a buffer while an operation is in flight and hands it back on
//! completion; when a timeout drops the operation the buffer is gone, which is
//! fine because every caller closes the connection on a timeout.
//! Must never: allocate per call (iovec storage is reused scratch).

use std::ops::Range;
use std::time::Duration;

use bytes::BytesMut;
use monoio::buf::{IoBuf, IoBufMut, IoVecBuf};
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};

/// Why a read or write did not complete.
#[derive(Debug)]
pub enum IoFail {
    /// The deadline passed; the buffer was dropped with the operation.
    Timeout,
    /// The socket failed (reset, broken pipe, wrote nothing); callers only
    /// need to know the connection is unusable, not why.
    Io,
}

/// Minimum free space asked for before each read.
const READ_RESERVE: usize = 8 * 1024;

/// Makes room for a read behind the buffered bytes. Consumed requests shrink
/// a `BytesMut`'s capacity from the front; `reserve` takes that space back
/// (no allocation while the buffer is at most half full).
pub fn ensure_spare(buf: &mut BytesMut) {
    if buf.capacity() - buf.len() < READ_RESERVE {
        buf.reserve(READ_RESERVE);
    }
}

/// Reads more bytes onto the end of `buf`; `Ok((0, buf))` is end of stream.
pub async fn read_more(
    stream: &mut impl AsyncReadRent,
    buf: BytesMut,
    limit: Duration,
) -> Result<(usize, BytesMut), IoFail> {
    read_at_most(stream, buf, limit, usize::MAX).await
}

/// `read_more` that reads no more than `max` (≥ 1) bytes.
pub async fn read_at_most(
    stream: &mut impl AsyncReadRent,
    mut buf: BytesMut,
    limit: Duration,
    max: usize,
) -> Result<(usize, BytesMut), IoFail> {
    ensure_spare(&mut buf);
    // monoio writes at the start of a plain `BytesMut`: read into the spare
    // capacity behind the bytes already buffered instead.
    let (len, cap) = (buf.len(), buf.capacity());
    let end = len + max.min(cap - len);
    match monoio::time::timeout(limit, stream.read(buf.slice_mut(len..end))).await {
        Err(_) => Err(IoFail::Timeout),
        Ok((Ok(n), slice)) => Ok((n, slice.into_inner())),
        Ok((Err(_), _)) => Err(IoFail::Io),
    }
}

/// Writes `buf[range]` fully; hands the buffer back on success.
pub async fn write_range(
    stream: &mut impl AsyncWriteRent,
    buf: BytesMut,
    range: Range<usize>,
    limit: Duration,
) -> Result<BytesMut, IoFail> {
    let slice = buf.slice(range);
    match monoio::time::timeout(limit, stream.write_all(slice)).await {
        Err(_) => Err(IoFail::Timeout),
        Ok((Ok(_), s)) => Ok(s.into_inner()),
        Ok((Err(_), _)) => Err(IoFail::Io),
    }
}

/// Writes a static byte string fully.
pub async fn write_static(
    stream: &mut impl AsyncWriteRent,
    bytes: &'static [u8],
    limit: Duration,
) -> Result<(), IoFail> {
    match monoio::time::timeout(limit, stream.write_all(bytes)).await {
        Err(_) => Err(IoFail::Timeout),
        Ok((Ok(_), _)) => Ok(()),
        Ok((Err(_), _)) => Err(IoFail::Io),
    }
}

/// Which owned buffer a gathered segment points into.
#[derive(Clone, Copy)]
pub enum Src {
    /// The primary buffer (the connection buffer the head was parsed from).
    Main,
    /// The scratch buffer holding bytes the gateway wrote itself.
    Extra,
}

/// A gathered write over two owned buffers: unchanged bytes stay where they
/// were parsed (`main`), new bytes live in `extra`; only iovecs are built.
pub struct Gather {
    /// Buffer the forwarded slices point into.
    pub main: BytesMut,
    /// Buffer for bytes the gateway adds.
    pub extra: BytesMut,
    iov: Vec<libc::iovec>,
    first: usize,
}

// SAFETY: the iovecs point into `main` and `extra`, whose heap storage does not
// move while the Gather is owned by the runtime (BytesMut never reallocates
// without `&mut` access, and the Gather is not touched while in flight).
unsafe impl IoVecBuf for Gather {
    fn read_iovec_ptr(&self) -> *const libc::iovec {
        self.iov[self.first..].as_ptr()
    }

    fn read_iovec_len(&self) -> usize {
        self.iov.len() - self.first
    }
}

impl Gather {
    /// Starts a gathered write; `iov` is reused scratch (cleared here).
    pub fn new(main: BytesMut, extra: BytesMut, mut iov: Vec<libc::iovec>) -> Gather {
        iov.clear();
        Gather {
            main,
            extra,
            iov,
            first: 0,
        }
    }

    /// Appends `range` of the chosen buffer. Must not be called after the
    /// buffers are modified (the pointer is taken now).
    pub fn push(&mut self, src: Src, range: Range<usize>) {
        if range.is_empty() {
            return;
        }
        let seg = match src {
            Src::Main => &self.main[range],
            Src::Extra => &self.extra[range],
        };
        let (ptr, len) = (seg.as_ptr(), seg.len());
        // Runs of untouched header lines are contiguous in the buffer: merge
        // them into one iovec.
        if let Some(last) = self.iov.last_mut() {
            if (last.iov_base as usize) + last.iov_len == ptr as usize {
                last.iov_len += len;
                return;
            }
        }
        self.iov.push(libc::iovec {
            iov_base: ptr as *mut libc::c_void,
            iov_len: len,
        });
    }

    /// Total bytes still to write.
    pub fn remaining(&self) -> usize {
        self.iov[self.first..].iter().map(|v| v.iov_len).sum()
    }

    fn consume(&mut self, mut n: usize) {
        while n > 0 && self.first < self.iov.len() {
            let v = &mut self.iov[self.first];
            if n >= v.iov_len {
                n -= v.iov_len;
                self.first += 1;
            } else {
                // SAFETY: advancing within the same segment.
                v.iov_base = unsafe { (v.iov_base as *mut u8).add(n) } as *mut libc::c_void;
                v.iov_len -= n;
                n = 0;
            }
        }
    }

    /// Gives back the buffers and the iovec scratch.
    pub fn into_parts(self) -> (BytesMut, BytesMut, Vec<libc::iovec>) {
        (self.main, self.extra, self.iov)
    }
}

/// Writes every segment of `g`. On an I/O error the Gather comes back so the
/// caller can retry elsewhere; on a timeout it is lost.
pub async fn write_gather(
    stream: &mut impl AsyncWriteRent,
    mut g: Gather,
    limit: Duration,
) -> Result<Gather, (IoFail, Option<Gather>)> {
    while g.remaining() > 0 {
        match monoio::time::timeout(limit, stream.writev(g)).await {
            Err(_) => return Err((IoFail::Timeout, None)),
            Ok((Ok(0), back)) => return Err((IoFail::Io, Some(back))),
            Ok((Ok(n), back)) => {
                g = back;
                g.consume(n);
            }
            Ok((Err(_), back)) => return Err((IoFail::Io, Some(back))),
        }
    }
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(g: &Gather) -> Vec<u8> {
        let mut out = Vec::new();
        for v in &g.iov[g.first..] {
            // SAFETY: iovecs point into g's own buffers.
            out.extend_from_slice(unsafe {
                std::slice::from_raw_parts(v.iov_base as *const u8, v.iov_len)
            });
        }
        out
    }

    #[test]
    fn contiguous_ranges_merge_and_consume_splits_segments() {
        let main = BytesMut::from(&b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n"[..]);
        let extra = BytesMut::from(&b"via: x\r\n"[..]);
        let mut g = Gather::new(main, extra, Vec::new());
        g.push(Src::Main, 0..16);
        g.push(Src::Main, 16..22); // contiguous: merged
        g.push(Src::Extra, 0..8);
        g.push(Src::Main, 28..30);
        g.push(Src::Main, 5..5); // empty: ignored
        assert_eq!(g.iov.len(), 3);
        assert_eq!(collect(&g), b"GET / HTTP/1.1\r\nA: 1\r\nvia: x\r\n\r\n");
        assert_eq!(g.remaining(), 32);
        g.consume(19);
        assert_eq!(collect(&g), b"1\r\nvia: x\r\n\r\n");
        g.consume(3);
        assert_eq!(collect(&g), b"via: x\r\n\r\n");
        g.consume(10);
        assert_eq!(g.remaining(), 0);
    }
}
