//! The two halves each end of a tunnel splits into, so both directions
//! move at once: a read half (its own descriptor of the socket) and a
//! write half (the stream's own). A plain socket's halves are the
//! sockets themselves; a TLS stream's share its session (`tls::split`).
//!
//! Static dispatch only: `tunnel::run` is generic over both ends, so a
//! plain tunnel compiles to the same reads and writes as before, with no
//! box and no vtable. A new kind of end (an upstream TLS stream, say)
//! plugs in by implementing `End` with `tls::split` as the TLS one does;
//! for a `TlsStream` generic over its rustls side that is one impl,
//! `impl<C, D: 'static> End for TlsStream<C> where C: DerefMut<Target =
//! ConnectionCommon<D>>` with `ReadHalf<'a, D>`/`WriteHalf<'a, D>`, and
//! `upgrade::switch` matches on both ends' enums.
//!
//! Owns: which operations a tunnel needs of an end. Must never: look at
//! the bytes, or buffer beyond the buffer it is handed.

use std::os::fd::{AsRawFd, RawFd};

use bytes::BytesMut;
use monoio::io::{AsyncWriteRent, AsyncWriteRentExt, CancelHandle, CancelableAsyncReadRent};
use monoio::net::TcpStream;
use monoio::BufResult;

use crate::tls::split::{self, ReadHalf, WriteHalf};
use crate::tls::TlsStream;

/// One end of a tunnel: a stream that splits into two halves.
pub trait End {
    /// The half that reads from this end.
    type Rd<'a>: Rd
    where
        Self: 'a;
    /// The half that writes to this end.
    type Wr<'a>: Wr
    where
        Self: 'a;
    /// The socket's descriptor (shut down to end the tunnel at once).
    fn fd(&self) -> RawFd;
    /// The halves; `rd` is a second descriptor of this end's socket.
    fn split(&mut self, rd: TcpStream) -> (Self::Rd<'_>, Self::Wr<'_>);
}

/// Reads bytes of the tunnelled protocol.
pub trait Rd {
    /// Reads into the empty `buf` (its spare capacity); `Ok(0)` is the end
    /// of the stream.
    async fn read(&mut self, buf: BytesMut, c: CancelHandle) -> BufResult<usize, BytesMut>;
}

/// Writes bytes of the tunnelled protocol.
pub trait Wr {
    /// Writes all of `buf`.
    async fn write_all(&mut self, buf: BytesMut) -> BufResult<usize, BytesMut>;
    /// Ends this direction (a half-close).
    async fn shutdown(&mut self) -> std::io::Result<()>;
}

impl End for TcpStream {
    type Rd<'a> = TcpStream;
    type Wr<'a> = &'a mut TcpStream;

    #[inline]
    fn fd(&self) -> RawFd {
        self.as_raw_fd()
    }

    #[inline]
    fn split(&mut self, rd: TcpStream) -> (TcpStream, &mut TcpStream) {
        (rd, self)
    }
}

impl Rd for TcpStream {
    #[inline]
    async fn read(&mut self, buf: BytesMut, c: CancelHandle) -> BufResult<usize, BytesMut> {
        self.cancelable_read(buf, c).await
    }
}

impl Wr for &mut TcpStream {
    #[inline]
    async fn write_all(&mut self, buf: BytesMut) -> BufResult<usize, BytesMut> {
        AsyncWriteRentExt::write_all(*self, buf).await
    }

    #[inline]
    async fn shutdown(&mut self) -> std::io::Result<()> {
        AsyncWriteRent::shutdown(*self).await
    }
}

/// The client's TLS stream: a half-close is close_notify then FIN.
impl<C, D: 'static> End for TlsStream<C>
where
    C: std::ops::DerefMut<Target = rustls::ConnectionCommon<D>>,
{
    type Rd<'a>
        = ReadHalf<'a, D>
    where
        C: 'a;
    type Wr<'a>
        = WriteHalf<'a, D>
    where
        C: 'a;

    fn fd(&self) -> RawFd {
        self.tcp().as_raw_fd()
    }

    fn split(&mut self, rd: TcpStream) -> (Self::Rd<'_>, Self::Wr<'_>) {
        let (tcp, conn, held) = self.parts();
        split::split(rd, tcp, conn, held)
    }
}

impl<D> Rd for ReadHalf<'_, D> {
    async fn read(&mut self, buf: BytesMut, c: CancelHandle) -> BufResult<usize, BytesMut> {
        ReadHalf::read(self, buf, c).await
    }
}

impl<D> Wr for WriteHalf<'_, D> {
    async fn write_all(&mut self, buf: BytesMut) -> BufResult<usize, BytesMut> {
        WriteHalf::write_all(self, buf).await
    }

    async fn shutdown(&mut self) -> std::io::Result<()> {
        WriteHalf::shutdown(self).await
    }
}
