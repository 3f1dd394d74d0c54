//! `RawClient`: a TCP client that writes exact bytes and parses what comes
//! back strictly (status, ordered headers with duplicates, Content-Length /
//! chunked / close-delimited bodies, truncation), for asserting the
//! gateway's behaviour on the wire.
//!
//! Must never: block without a timeout, or silently accept malformed
//! framing from the gateway.

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use super::wire::{Fnv, Framing, Head, Reader, WireError};

/// Default read/write timeout of a client socket.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Options for reading one response.
#[derive(Clone, Copy, Debug)]
pub struct ReadOpts {
    /// The request was HEAD: the response has no body whatever its headers say.
    pub head_request: bool,
    /// Keep the decoded body in `Response::body` (else only length and checksum).
    pub keep_body: bool,
    /// Return a response whose body was cut short instead of failing.
    pub allow_truncated: bool,
}

impl Default for ReadOpts {
    fn default() -> Self {
        ReadOpts {
            head_request: false,
            keep_body: true,
            allow_truncated: false,
        }
    }
}

/// One parsed response.
#[derive(Clone, Debug, Default)]
pub struct Response {
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// The parsed head (raw bytes, header fields in order).
    pub head: Head,
    /// Decoded body (empty when `keep_body` was false).
    pub body: Vec<u8>,
    /// Decoded body length.
    pub body_len: u64,
    /// FNV-1a 64 of the decoded body.
    pub body_fnv: u64,
    /// Body bytes as on the wire (chunk framing included), capped at 4 MiB.
    pub raw_body: Vec<u8>,
    /// The body was chunked.
    pub chunked: bool,
    /// Chunked trailers.
    pub trailers: Vec<(String, String)>,
    /// The connection closed before the framing said the body ended.
    pub truncated: bool,
}

impl Response {
    /// Header fields in order.
    pub fn headers(&self) -> &[(String, String)] {
        &self.head.headers
    }

    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }

    /// Every value of header `name`.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.head.header_all(name)
    }

    /// The body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON (panics with the body if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }

    /// `error.code` of a gateway error body, if any.
    pub fn error_code(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        v["error"]["code"].as_str().map(str::to_string)
    }

    /// The `x-upstream` header the test upstream stamps on its responses.
    pub fn upstream(&self) -> Option<&str> {
        self.header("x-upstream")
    }

    /// Whether a `Connection` header lists `close`.
    pub fn says_close(&self) -> bool {
        self.head.connection_has("close")
    }

    /// Short printable summary for assertion messages.
    pub fn summary(&self) -> String {
        let body = String::from_utf8_lossy(&self.body[..self.body.len().min(600)]).into_owned();
        format!("{}{}", String::from_utf8_lossy(&self.head.raw), body)
    }
}

/// A raw HTTP client connection.
pub struct RawClient {
    r: Reader,
    timeout: Duration,
}

impl RawClient {
    /// Connects to `addr` (panics after 5 s).
    pub fn connect(addr: SocketAddr) -> RawClient {
        Self::try_connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"))
    }

    /// Connects to `addr`, returning the error.
    pub fn try_connect(addr: SocketAddr) -> io::Result<RawClient> {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(CLIENT_TIMEOUT))?;
        s.set_write_timeout(Some(CLIENT_TIMEOUT))?;
        Ok(RawClient {
            r: Reader::new(s, None),
            timeout: CLIENT_TIMEOUT,
        })
    }

    /// Connects to `addr` from the local address `from` (another loopback
    /// address, e.g. 127.0.0.2, to be another client IP).
    pub fn connect_from(addr: SocketAddr, from: std::net::IpAddr) -> RawClient {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        s.bind(&SocketAddr::new(from, 0).into())
            .unwrap_or_else(|e| panic!("bind {from}: {e}"));
        s.connect_timeout(&addr.into(), Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connect {addr} from {from}: {e}"));
        let s: TcpStream = s.into();
        s.set_nodelay(true).expect("nodelay");
        s.set_read_timeout(Some(CLIENT_TIMEOUT)).expect("timeout");
        s.set_write_timeout(Some(CLIENT_TIMEOUT)).expect("timeout");
        RawClient {
            r: Reader::new(s, None),
            timeout: CLIENT_TIMEOUT,
        }
    }

    /// Sets the read timeout used by subsequent reads.
    pub fn set_timeout(&mut self, d: Duration) {
        self.timeout = d;
        let _ = self.r.stream.set_read_timeout(Some(d));
    }

    /// The socket.
    pub fn stream(&self) -> &TcpStream {
        &self.r.stream
    }

    /// The client's own address (what the gateway sees as the peer).
    pub fn local_addr(&self) -> SocketAddr {
        self.r.stream.local_addr().expect("local_addr")
    }

    /// Writes all of `bytes` (panics on error).
    pub fn send(&mut self, bytes: &[u8]) {
        self.try_send(bytes)
            .unwrap_or_else(|e| panic!("send {} bytes: {e}", bytes.len()));
    }

    /// Writes all of `bytes`.
    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.r.stream.write_all(bytes)?;
        self.r.stream.flush()
    }

    /// Closes with a reset (SO_LINGER 0): the peer's next write fails.
    pub fn reset(self) {
        let _ = socket2::SockRef::from(&self.r.stream).set_linger(Some(Duration::ZERO));
    }

    /// Half-closes the write side.
    pub fn shutdown_write(&self) {
        let _ = self.r.stream.shutdown(Shutdown::Write);
    }

    /// Sends `bytes` and reads one response.
    pub fn roundtrip(&mut self, bytes: &[u8]) -> Response {
        self.send(bytes);
        self.read_response()
    }

    /// Reads one complete response (panics on error, timeout or truncation).
    pub fn read_response(&mut self) -> Response {
        self.read_response_with(ReadOpts::default())
    }

    /// Reads one response with `opts` (panics on error).
    pub fn read_response_with(&mut self, opts: ReadOpts) -> Response {
        match self.try_read_response(opts) {
            Ok(r) => r,
            Err(e) => panic!("reading response: {e}"),
        }
    }

    /// Reads one response; the error says what failed and which bytes were seen.
    pub fn try_read_response(&mut self, opts: ReadOpts) -> Result<Response, String> {
        self.r.start_capture(1 << 16);
        let head = match self.r.read_head(1 << 20) {
            Ok(h) => h,
            Err(e) => {
                let seen = self.r.take_capture();
                let mut pending = seen;
                pending.extend_from_slice(self.r.pending());
                return Err(format!(
                    "{e} while reading the head; bytes seen: {:?}",
                    String::from_utf8_lossy(&pending)
                ));
            }
        };
        let _ = self.r.take_capture();
        let mut parts = head.first.splitn(3, ' ');
        let version = parts.next().unwrap_or_default().to_string();
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {:?}", head.first))?;
        let reason = parts.next().unwrap_or_default().to_string();
        if version != "HTTP/1.1" && version != "HTTP/1.0" {
            return Err(format!("bad status line {:?}", head.first));
        }
        let framing = if opts.head_request
            || (100..200).contains(&status)
            || status == 204
            || status == 304
        {
            Framing::None
        } else {
            head.framing(Framing::ToClose)
                .map_err(|e| format!("{e} in {:?}", String::from_utf8_lossy(&head.raw)))?
        };
        let mut resp = Response {
            version,
            status,
            reason,
            chunked: framing == Framing::Chunked,
            head,
            ..Response::default()
        };
        let mut fnv = Fnv::default();
        let mut body = Vec::new();
        let mut len = 0u64;
        self.r.start_capture(4 << 20);
        let res = self.r.read_body_to(framing, &mut |d: &[u8]| {
            len += d.len() as u64;
            fnv.update(d);
            if opts.keep_body {
                body.extend_from_slice(d);
            }
        });
        resp.raw_body = self.r.take_capture();
        resp.body = body;
        resp.body_len = len;
        resp.body_fnv = fnv.0;
        match res {
            Ok(t) => resp.trailers = t,
            Err(WireError::Eof { .. }) | Err(WireError::Io(_)) if opts.allow_truncated => {
                resp.truncated = true;
            }
            Err(e) => {
                return Err(format!(
                "{e} while reading the body after {len} bytes; head: {:?}; raw body start: {:?}",
                String::from_utf8_lossy(&resp.head.raw),
                String::from_utf8_lossy(&resp.raw_body[..resp.raw_body.len().min(400)])
            ))
            }
        }
        Ok(resp)
    }

    /// Reads until the peer closes or `CLIENT_TIMEOUT`; returns every byte.
    pub fn read_to_close_raw(&mut self) -> Vec<u8> {
        let (bytes, closed) = self.read_until_close(self.timeout);
        assert!(
            closed,
            "connection not closed within {:?}; bytes: {:?}",
            self.timeout,
            String::from_utf8_lossy(&bytes)
        );
        bytes
    }

    /// Reads until close or `timeout`; returns the bytes and whether the peer closed.
    pub fn read_until_close(&mut self, timeout: Duration) -> (Vec<u8>, bool) {
        let _ = self.r.stream.set_read_timeout(Some(timeout));
        let deadline = std::time::Instant::now() + timeout;
        let mut out = self.r.take_pending();
        let closed = loop {
            match self.r.fill() {
                Ok(0) => break true,
                Ok(_) => {
                    out.extend_from_slice(&self.r.take_pending());
                    if std::time::Instant::now() >= deadline {
                        break false;
                    }
                }
                Err(WireError::Io(_)) => break true,
                Err(_) => break false,
            }
        };
        let _ = self.r.stream.set_read_timeout(Some(self.timeout));
        (out, closed)
    }

    /// Whether the peer closes (EOF or reset) within `timeout`; bytes are discarded.
    pub fn is_closed(&mut self, timeout: Duration) -> bool {
        self.read_until_close(timeout).1
    }

    /// Asserts the connection gets closed within 3 s with no further bytes.
    pub fn assert_closed_silently(&mut self, what: &str) {
        let (bytes, closed) = self.read_until_close(Duration::from_secs(3));
        assert!(closed, "{what}: connection still open after 3 s");
        assert!(
            bytes.is_empty(),
            "{what}: expected no bytes before close, got {:?}",
            String::from_utf8_lossy(&bytes)
        );
    }
}
