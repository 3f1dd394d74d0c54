//! One client connection and one request/response exchange on it.
//!
//! Owns connecting (plain or TLS), writing the prebuilt request bytes and
//! reading exactly one response, noting when its first byte arrived. It must
//! never reorder or pipeline requests: one exchange at a time per connection.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use crate::response::{parse_head, ChunkScan, Framing};
use crate::target::Target;
use crate::tls::TlsStream;

/// How an exchange failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Connect or TLS handshake failed.
    Connect,
    /// The request could not be written.
    Write,
    /// Reading failed, the peer closed early or the response was malformed.
    Read,
}

/// A completed response.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Bytes read for this response.
    pub bytes: u64,
    /// When the first response byte arrived.
    pub first_byte: Instant,
    /// The connection cannot be reused.
    pub close: bool,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

/// An open connection with its read buffer.
pub struct Conn {
    stream: Stream,
    buf: Vec<u8>,
    /// The peer ended the connection: end of stream, or a reset or broken
    /// pipe, while writing a request or reading a response.
    peer_closed: bool,
}

/// True for the errors that mean the peer closed or reset the connection.
fn is_peer_close(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    matches!(
        e.kind(),
        BrokenPipe | ConnectionAborted | ConnectionReset | UnexpectedEof
    )
}

/// What every connection of a run shares: where to connect and how.
#[derive(Clone)]
pub struct Dialer {
    /// The target.
    pub target: Target,
    /// TLS configuration when the target is https.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Dialer {
    /// A copy whose TLS sessions are its own (with `--tls-resume`): one
    /// connection slot resumes the sessions of its own earlier connections,
    /// as one client does. Shared by every slot, rustls' cache keeps at
    /// most 8 TLS 1.3 tickets per server, fewer than the slots that want one
    /// at once, and some handshakes would be full for want of a ticket.
    pub fn with_own_sessions(&self) -> Dialer {
        let tls = self.tls.as_ref().map(|cfg| {
            let mut own = (**cfg).clone();
            own.resumption =
                rustls::client::Resumption::in_memory_sessions(crate::tls::SESSION_CACHE);
            Arc::new(own)
        });
        Dialer {
            target: self.target.clone(),
            tls,
        }
    }

    /// Opens a connection (TCP_NODELAY, then TLS when configured).
    pub async fn connect(&self) -> Result<Conn, Failure> {
        let tcp = TcpStream::connect_addr(self.target.addr)
            .await
            .map_err(|_| Failure::Connect)?;
        let _ = tcp.set_nodelay(true);
        let stream = match &self.tls {
            None => Stream::Plain(tcp),
            Some(cfg) => Stream::Tls(Box::new(
                TlsStream::connect(tcp, cfg.clone(), &self.target.host)
                    .await
                    .map_err(|_| Failure::Connect)?,
            )),
        };
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(16 * 1024),
            peer_closed: false,
        })
    }
}

/// Builds the request bytes once for a whole run.
pub fn build_request(
    method: &str,
    target: &Target,
    headers: &[(String, String)],
    body: &[u8],
) -> Bytes {
    let mut r = format!(
        "{method} {} HTTP/1.1\r\nhost: {}\r\n",
        target.path, target.authority
    );
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        r.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    r.push_str("\r\n");
    let mut v = r.into_bytes();
    v.extend_from_slice(body);
    Bytes::from(v)
}

impl Conn {
    /// True once the peer closed or reset this connection (see
    /// `Recorder::closed_by_peer`); a failed exchange with this false was
    /// dropped by us (malformed response).
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// For a TLS connection, whether its handshake resumed a session.
    pub fn tls_resumed(&self) -> Option<bool> {
        match &self.stream {
            Stream::Plain(_) => None,
            Stream::Tls(s) => Some(s.resumed()),
        }
    }

    /// For a TLS connection, the negotiated version, suite and group.
    pub fn tls_negotiated(&self) -> Option<String> {
        match &self.stream {
            Stream::Plain(_) => None,
            Stream::Tls(s) => Some(s.negotiated()),
        }
    }

    /// Sends `req` and reads one response.
    pub async fn exchange(&mut self, req: Bytes, head_request: bool) -> Result<Reply, Failure> {
        self.buf.clear();
        let written = match &mut self.stream {
            Stream::Plain(s) => s.write_all(req).await.0.map(|_| ()),
            Stream::Tls(s) => s.write_all(&req).await,
        };
        if let Err(e) = written {
            self.peer_closed = is_peer_close(&e);
            return Err(Failure::Write);
        }
        let mut first_byte = None;
        let mut total = 0u64;
        let head = loop {
            let n = self.fill().await?;
            if n == 0 {
                return Err(Failure::Read);
            }
            first_byte.get_or_insert_with(Instant::now);
            total += n as u64;
            if let Some(h) = parse_head(&self.buf, head_request).map_err(|_| Failure::Read)? {
                break h;
            }
            if self.buf.len() > 64 * 1024 {
                return Err(Failure::Read);
            }
        };
        let first_byte = first_byte.unwrap_or_else(Instant::now);
        let mut close = head.close;
        match head.framing {
            Framing::Length(n) => {
                // Body bytes beyond the buffer are counted and dropped, never kept.
                let mut have = (self.buf.len() - head.len) as u64;
                while have < n {
                    self.buf.clear();
                    let got = self.fill().await?;
                    if got == 0 {
                        return Err(Failure::Read);
                    }
                    total += got as u64;
                    have += got as u64;
                }
            }
            Framing::Chunked => {
                let mut scan = ChunkScan::default();
                while scan
                    .scan(&self.buf[head.len..])
                    .map_err(|_| Failure::Read)?
                    .is_none()
                {
                    let got = self.fill().await?;
                    if got == 0 {
                        return Err(Failure::Read);
                    }
                    total += got as u64;
                }
            }
            Framing::UntilClose => {
                close = true;
                loop {
                    self.buf.clear();
                    let got = self.fill().await?;
                    if got == 0 {
                        break;
                    }
                    total += got as u64;
                }
            }
        }
        Ok(Reply {
            status: head.status,
            bytes: total,
            first_byte,
            close,
        })
    }

    async fn fill(&mut self) -> Result<usize, Failure> {
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(self.buf.capacity());
        }
        let res = match &mut self.stream {
            Stream::Plain(s) => {
                let buf = std::mem::take(&mut self.buf);
                let len = buf.len();
                let (res, slice) = s.read(buf.slice_mut(len..)).await;
                self.buf = slice.into_inner();
                res
            }
            Stream::Tls(s) => s.read(&mut self.buf).await,
        };
        match res {
            Ok(0) => {
                self.peer_closed = true;
                Ok(0)
            }
            Ok(n) => Ok(n),
            Err(e) => {
                self.peer_closed = is_peer_close(&e);
                Err(Failure::Read)
            }
        }
    }
}
