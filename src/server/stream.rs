//! A connection's byte stream: plain TCP or TLS over TCP, as one enum
//! (`Stream`) that implements monoio's owned-buffer read and write traits,
//! so `wire`, `body` and `respond` stay generic over it and a plain
//! connection pays one enum match per operation, no box and no vtable. A
//! client's connection is a `Stream` (rustls' server side); an upstream
//! connection (`upstream::pool`) a `Stream<ClientConnection>`.
//!
//! Owns: which kind a client connection is, what a TLS handshake proved
//! about the client (`TlsConn::peer`, in the same box as the session), and
//! the readiness and cancellation operations the connection loop needs on
//! either kind.
//! Must never: know about HTTP, or hold TLS state for a plain connection
//! (the TLS variant is boxed so that a parked plain connection, the bulk of
//! an idle gateway's memory, stays as small as before).

use std::os::fd::{AsRawFd, RawFd};

use monoio::buf::{IoBuf, IoBufMut, IoVecBuf, IoVecBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, CancelHandle, CancelableAsyncReadRent};
use monoio::net::TcpStream;
use monoio::BufResult;
use rustls::{ConnectionCommon, ServerConnection};

use crate::tls::{Peer, TlsStream};

/// A TLS connection: the record layer and, on the client side of the
/// gateway, what the handshake told about the client (SNI, verified
/// certificate), kept together in one box. An upstream connection's peer
/// is empty.
pub struct TlsConn<C = ServerConnection> {
    /// The rustls session over the socket.
    pub io: TlsStream<C>,
    /// The client as the handshake saw it.
    pub peer: Peer,
}

/// A connection's stream; `C` is the rustls side of its TLS variant.
pub enum Stream<C = ServerConnection> {
    /// Plain HTTP.
    Plain(TcpStream),
    /// HTTPS: rustls driven over the socket (`crate::tls::TlsStream`).
    /// Boxed: rustls' state is ~1 KiB and lives only on TLS connections.
    Tls(Box<TlsConn<C>>),
}

impl<C, D> Stream<C>
where
    C: std::ops::DerefMut<Target = ConnectionCommon<D>>,
{
    /// True for a TLS connection: the scheme the gateway forwards
    /// (`x-forwarded-proto`) and logs.
    #[inline]
    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    /// The TLS client's SNI and certificate; `None` on plain HTTP.
    #[inline]
    pub fn tls_peer(&self) -> Option<&Peer> {
        match self {
            Stream::Plain(_) => None,
            Stream::Tls(t) => Some(&t.peer),
        }
    }

    /// The scheme, for headers and logs.
    #[inline]
    pub fn scheme(&self) -> &'static str {
        if self.is_tls() {
            "https"
        } else {
            "http"
        }
    }

    /// The socket (under the TLS session, for TLS).
    #[inline]
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(t) => t.io.tcp(),
        }
    }

    /// Frees per-connection I/O buffers a parked connection does not need
    /// (TLS ciphertext buffers; a plain connection has none).
    #[inline]
    pub fn release_buffers(&mut self) {
        if let Stream::Tls(t) = self {
            t.io.release_buffers();
        }
    }

    /// Before the connection closes: a TLS one sends close_notify (within
    /// `limit`), so the client can tell the end from a truncation; a plain
    /// one does nothing, as before.
    pub async fn close_notify(&mut self, limit: std::time::Duration) {
        if let Stream::Tls(t) = self {
            let _ = monoio::time::timeout(limit, t.io.shutdown()).await;
        }
    }

    /// True when a read would return without waiting on the socket: for
    /// TLS, plaintext rustls already decrypted (or the peer's close). The
    /// connection loop checks it before waiting for readability, or a
    /// pipelined request that came in the same record as the last one
    /// would wait for bytes that already arrived. Not an async wrapper
    /// around `readable`: the parked task's size is budgeted to the byte
    /// (`conn`'s size test), and a wrapper future adds to it.
    #[inline]
    pub fn has_buffered(&mut self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Tls(t) => t.io.has_buffered(),
        }
    }
}

impl<C, D> AsRawFd for Stream<C>
where
    C: std::ops::DerefMut<Target = ConnectionCommon<D>>,
{
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Stream::Plain(s) => s.as_raw_fd(),
            Stream::Tls(t) => t.io.tcp().as_raw_fd(),
        }
    }
}

impl<C, D> AsyncReadRent for Stream<C>
where
    C: std::ops::DerefMut<Target = ConnectionCommon<D>>,
{
    #[inline]
    async fn read<T: IoBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Stream::Plain(s) => s.read(buf).await,
            Stream::Tls(t) => t.io.read(buf, None).await,
        }
    }

    async fn readv<T: IoVecBufMut>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Stream::Plain(s) => s.readv(buf).await,
            Stream::Tls(t) => t.io.readv(buf).await,
        }
    }
}

impl<C, D> CancelableAsyncReadRent for Stream<C>
where
    C: std::ops::DerefMut<Target = ConnectionCommon<D>>,
{
    async fn cancelable_read<T: IoBufMut>(
        &mut self,
        buf: T,
        c: CancelHandle,
    ) -> BufResult<usize, T> {
        match self {
            Stream::Plain(s) => s.cancelable_read(buf, c).await,
            Stream::Tls(t) => t.io.read(buf, Some(c)).await,
        }
    }

    async fn cancelable_readv<T: IoVecBufMut>(
        &mut self,
        buf: T,
        c: CancelHandle,
    ) -> BufResult<usize, T> {
        match self {
            Stream::Plain(s) => s.cancelable_readv(buf, c).await,
            // Not used by the gateway; a TLS readv is not cancellable.
            Stream::Tls(t) => t.io.readv(buf).await,
        }
    }
}

impl<C, D> AsyncWriteRent for Stream<C>
where
    C: std::ops::DerefMut<Target = ConnectionCommon<D>>,
{
    #[inline]
    async fn write<T: IoBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Stream::Plain(s) => s.write(buf).await,
            Stream::Tls(t) => t.io.write(buf).await,
        }
    }

    #[inline]
    async fn writev<T: IoVecBuf>(&mut self, buf: T) -> BufResult<usize, T> {
        match self {
            Stream::Plain(s) => s.writev(buf).await,
            Stream::Tls(t) => t.io.writev(buf).await,
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush().await,
            Stream::Tls(t) => t.io.flush().await,
        }
    }

    async fn shutdown(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.shutdown().await,
            Stream::Tls(t) => t.io.shutdown().await,
        }
    }
}
