//! `TlsStream`: a rustls connection (the server side for clients, the
//! client side for upstreams) driven directly over a monoio `TcpStream` with
//! owned buffers (ciphertext in `rx`/`tx`, plaintext straight into and out of
//! the caller's buffers), and both handshakes.
//!
//! Driven by hand rather than through an adapter crate: `monoio-rustls` is
//! unmaintained, and doing it here keeps one read or write syscall per
//! socket operation and the buffers under the gateway's control.
//! Owns: record-layer I/O and both handshakes (their failures are
//! classified in `fail`).
//! Must never: panic on peer input, or block (every socket wait is the
//! caller's to bound with a timeout).

use std::io::{BufRead, Write};
use std::ops::DerefMut;
use std::time::Duration;

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt, CancelHandle, CancelableAsyncReadRent};
use monoio::net::TcpStream;
use monoio::BufResult;
use rustls::{ConnectionCommon, ServerConnection};

use super::fail::{HandshakeFail, Shake};

/// Ciphertext read per socket read: one full TLS record (16 KiB payload
/// plus header and tag) arrives in one read.
const RX_BYTES: usize = 16 * 1024 + 512;

/// A TLS connection over a TCP socket: `C` is the rustls side, a
/// `ServerConnection` (a client of the gateway) or a `ClientConnection`
/// (the gateway to an upstream); one driver, monomorphised per side.
pub struct TlsStream<C = ServerConnection> {
    tcp: TcpStream,
    tls: C,
    /// Ciphertext read from the socket; rustls copies it in at once, so
    /// it is empty between reads. Owned: monoio holds it while in flight.
    rx: Vec<u8>,
    /// Ciphertext rustls produced, on its way to the socket.
    tx: Vec<u8>,
    /// Ciphertext read that rustls refused while its plaintext buffer was
    /// full (`feed`); fed before the socket is read again. Empty and
    /// unallocated but for that moment.
    held: Vec<u8>,
}

/// Runs the server side of a TLS handshake on `tcp` within `limit`.
pub async fn accept(
    tcp: TcpStream,
    config: std::sync::Arc<rustls::ServerConfig>,
    limit: Duration,
) -> Result<TlsStream, HandshakeFail> {
    let tls = ServerConnection::new(config).map_err(|_| HandshakeFail::Protocol)?;
    match monoio::time::timeout(limit, TlsStream::start(tcp, tls)).await {
        Err(_) => Err(HandshakeFail::Timeout),
        Ok(Err(Shake::Closed)) => Err(HandshakeFail::Closed),
        Ok(Err(Shake::Tls(e))) => Err(HandshakeFail::classify(&e)),
        Ok(Ok(s)) => Ok(s),
    }
}

impl<C, D> TlsStream<C>
where
    C: DerefMut<Target = ConnectionCommon<D>>,
{
    /// Wraps `tls` around `tcp` and runs its handshake (unbounded: the
    /// caller bounds it).
    pub(super) async fn start(tcp: TcpStream, tls: C) -> Result<TlsStream<C>, Shake> {
        let mut s = TlsStream {
            tcp,
            tls,
            rx: Vec::with_capacity(RX_BYTES),
            tx: Vec::new(),
            held: Vec::new(),
        };
        s.handshake().await?;
        Ok(s)
    }

    /// The socket under the TLS session.
    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// The rustls connection (negotiated version, ALPN, SNI).
    pub fn session(&self) -> &C {
        &self.tls
    }

    /// The error that failed the session, once a read or write reported
    /// one (rustls keeps it): for an upstream, a TLS 1.3 server's refusal
    /// of the client certificate arrives only after the handshake.
    pub fn failure(&mut self) -> Option<rustls::Error> {
        self.tls.process_new_packets().err()
    }

    /// The socket, the session and any ciphertext read but not yet taken
    /// by rustls, for `split::split` (an upgraded connection's tunnel).
    /// Frees the ciphertext buffers: the halves read into the tunnel's own
    /// buffers and share one of their own for writes.
    pub fn parts(&mut self) -> (&mut TcpStream, &mut ConnectionCommon<D>, Vec<u8>) {
        self.release_buffers();
        let held = std::mem::take(&mut self.held);
        (&mut self.tcp, &mut self.tls, held)
    }

    /// True when a read would return without touching the socket:
    /// decrypted plaintext is waiting, ciphertext is held, or the peer's
    /// close was seen.
    pub fn has_buffered(&mut self) -> bool {
        !self.held.is_empty()
            || !matches!(self.tls.reader().fill_buf(), Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }

    /// Frees the ciphertext buffers while the connection is parked; the
    /// next read or write makes them again (once per idle spell, as the
    /// connection's working set).
    pub fn release_buffers(&mut self) {
        self.rx = Vec::new();
        self.tx = Vec::new();
    }

    async fn handshake(&mut self) -> Result<(), Shake> {
        while self.tls.is_handshaking() {
            if self.tls.wants_write() {
                self.flush_tls().await.map_err(|_| Shake::Closed)?;
                continue;
            }
            match self.fill(None).await {
                Ok(0) => return Err(Shake::Closed),
                Ok(_) => {}
                Err(Fill::Tls(e)) => {
                    // The alert rustls queued tells the peer why.
                    let _ = self.flush_tls().await;
                    return Err(Shake::Tls(e));
                }
                Err(Fill::Io(_)) => return Err(Shake::Closed),
            }
        }
        // TLS 1.3 session tickets go out right after the handshake.
        self.flush_tls().await.map_err(|_| Shake::Closed)
    }

    /// Reads ciphertext once (or takes what was held) and hands it to
    /// rustls; `Ok(0)` is the end of the TCP stream (rustls is told, so the
    /// reader reports it).
    async fn fill(&mut self, cancel: Option<CancelHandle>) -> Result<usize, Fill> {
        if !self.held.is_empty() {
            let held = std::mem::take(&mut self.held);
            feed(&mut self.tls, &held, &mut self.held)?;
            return Ok(held.len());
        }
        let mut rx = std::mem::take(&mut self.rx);
        rx.clear();
        if rx.capacity() == 0 {
            rx.reserve_exact(RX_BYTES);
        }
        let (res, back) = match cancel {
            None => self.tcp.read(rx).await,
            Some(c) => self.tcp.cancelable_read(rx, c).await,
        };
        rx = back;
        let fed = match res {
            Ok(n) => feed(&mut self.tls, &rx[..n], &mut self.held).map(|()| n),
            Err(e) => Err(Fill::Io(e)),
        };
        self.rx = rx;
        fed
    }

    /// Writes everything rustls has queued (records, alerts, tickets).
    async fn flush_tls(&mut self) -> std::io::Result<()> {
        while self.tls.wants_write() {
            let mut tx = std::mem::take(&mut self.tx);
            tx.clear();
            self.tls.write_tls(&mut tx)?;
            let (res, back) = self.tcp.write_all(tx).await;
            self.tx = back;
            res?;
        }
        Ok(())
    }

    /// Reads plaintext into `buf`; `Ok(0)` is the end of the stream (a
    /// clean close_notify or a TCP close).
    pub async fn read<T: IoBufMut>(
        &mut self,
        mut buf: T,
        cancel: Option<CancelHandle>,
    ) -> BufResult<usize, T> {
        let room = buf.bytes_total();
        loop {
            let (mut n, mut ended) = (0, false);
            let mut reader = self.tls.reader();
            while n < room {
                match reader.fill_buf() {
                    Ok([]) => {
                        ended = true;
                        break;
                    }
                    Ok(chunk) => {
                        let k = chunk.len().min(room - n);
                        // SAFETY: `write_ptr()..+room` is the buffer's
                        // writable region and `n + k <= room`; the source
                        // is rustls' own buffer, which cannot overlap it.
                        unsafe {
                            std::ptr::copy_nonoverlapping(chunk.as_ptr(), buf.write_ptr().add(n), k)
                        };
                        reader.consume(k);
                        n += k;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    // A TCP close without close_notify: the end, as for
                    // plain HTTP (request framing catches truncation).
                    Err(_) => {
                        ended = true;
                        break;
                    }
                }
            }
            if n > 0 || room == 0 || ended {
                // SAFETY: the first `n` bytes were just written above.
                unsafe { buf.set_init(n) };
                return (Ok(n), buf);
            }
            match self.fill(cancel.clone()).await {
                Ok(0) => return (Ok(0), buf),
                Ok(_) => {
                    // Key updates and alerts rustls answers on its own.
                    if self.tls.wants_write() {
                        if let Err(e) = self.flush_tls().await {
                            return (Err(e), buf);
                        }
                    }
                }
                Err(Fill::Io(e)) => return (Err(e), buf),
                Err(Fill::Tls(e)) => {
                    let _ = self.flush_tls().await;
                    return (
                        Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
                        buf,
                    );
                }
            }
        }
    }

    /// Vectored reads are not supported on TLS (the gateway never reads
    /// vectored from a client); an error, never a silent short read.
    pub async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        let e = std::io::Error::new(std::io::ErrorKind::Unsupported, "vectored TLS read");
        (Err(e), buf)
    }

    /// Encrypts as much of `buf` as rustls accepts and sends it.
    pub async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        // SAFETY: `read_ptr()..+bytes_init()` is the buffer's initialised
        // region, borrowed only for this synchronous call.
        let src = unsafe { std::slice::from_raw_parts(buf.read_ptr(), buf.bytes_init()) };
        let n = match self.tls.writer().write(src) {
            Ok(n) => n,
            Err(e) => return (Err(e), buf),
        };
        match self.flush_tls().await {
            Ok(()) => (Ok(n), buf),
            Err(e) => (Err(e), buf),
        }
    }

    /// Encrypts the segments as one payload (rustls' vectored write: one
    /// record for a gathered head and small body, not one per segment),
    /// then one flush.
    pub async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        // SAFETY: `read_iovec_ptr()` has `read_iovec_len()` iovecs describing
        // memory `buf` owns, read synchronously while `buf` is held; IoSlice
        // is ABI-compatible with iovec on Unix (std's guarantee).
        let segs = unsafe {
            std::slice::from_raw_parts(
                buf.read_iovec_ptr() as *const std::io::IoSlice<'_>,
                buf.read_iovec_len(),
            )
        };
        let n = match self.tls.writer().write_vectored(segs) {
            Ok(n) => n,
            Err(e) => return (Err(e), buf),
        };
        match self.flush_tls().await {
            Ok(()) => (Ok(n), buf),
            Err(e) => (Err(e), buf),
        }
    }

    /// Sends anything queued.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        self.flush_tls().await
    }

    /// Sends close_notify, then shuts the socket's write side.
    pub async fn shutdown(&mut self) -> std::io::Result<()> {
        self.tls.send_close_notify();
        self.flush_tls().await?;
        monoio::io::AsyncWriteRent::shutdown(&mut self.tcp).await
    }
}

/// What a ciphertext read ended with, when not bytes.
pub(super) enum Fill {
    Io(std::io::Error),
    Tls(rustls::Error),
}

/// Hands `input` to rustls; an empty `input` is the TCP stream's end.
/// rustls refuses ciphertext while it holds more than 16 KiB of plaintext
/// not yet read (its fixed limit): one socket read can complete a record
/// begun in the last one and then hold more, so what it refuses is kept in
/// `held`, to be fed once the plaintext has been drained.
pub(super) fn feed<D>(
    conn: &mut ConnectionCommon<D>,
    mut input: &[u8],
    held: &mut Vec<u8>,
) -> Result<(), Fill> {
    loop {
        // read_tls takes at most what its deframer has room for; loop.
        let k = match conn.read_tls(&mut input) {
            Ok(k) => k,
            Err(_) if !input.is_empty() && has_plaintext(conn) => {
                held.extend_from_slice(input);
                return Ok(());
            }
            Err(e) => return Err(Fill::Io(e)),
        };
        let processed = conn.process_new_packets();
        // 0: the end of the stream (or a close_notify already seen), which
        // the reader reports; an error then is not the peer's last word.
        if k == 0 {
            return Ok(());
        }
        processed.map_err(Fill::Tls)?;
        if input.is_empty() {
            return Ok(());
        }
    }
}

/// Whether decrypted plaintext waits to be read.
pub(super) fn has_plaintext<D>(conn: &mut ConnectionCommon<D>) -> bool {
    conn.process_new_packets()
        .is_ok_and(|s| s.plaintext_bytes_to_read() > 0)
}
