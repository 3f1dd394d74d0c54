//! Reading one admin request off a blocking socket with the data plane's
//! rules: `crate::http::parse_request` (framing, Host, method case,
//! smuggling defences), the configured header rules and path
//! normalisation; then a `Content-Length` body, all of it before one
//! deadline, within fixed size limits; and the lingering close that lets a
//! refused client read its error instead of a reset.
//!
//! The head and the body are read in two steps (`read_head`, then
//! `Head::read_body`) so that the caller can refuse a request (its token,
//! its method) before any body byte is read or `100 Continue` is sent.
//!
//! Owns: the admin listener's limits. Must never: wait past the request's
//! deadline (it is whole-request, not per read, so a client trickling one
//! byte at a time cannot stretch it), buffer more than `MAX_HEAD +
//! MAX_BODY` bytes, or choose a status (`crate::error`).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use crate::config::ServerSettings;
use crate::error::ErrorCode;
use crate::http::{normalize_path, parse_request, BodyKind, HeaderKind, Method, RequestHead};

/// Largest request head.
pub const MAX_HEAD: usize = 8 * 1024;
/// Largest request body (`POST /revocations` lists are a few KiB).
pub const MAX_BODY: usize = 64 * 1024;
/// How long a refused request's remaining input is read and discarded.
const LINGER: Duration = Duration::from_secs(2);
/// How much of a refused request's remaining input is read at most.
const LINGER_BYTES: usize = 16 * 1024 * 1024;

/// What the admin API needs of a parsed head.
#[derive(Debug, PartialEq, Eq)]
pub struct Parsed {
    /// Bytes through the empty line.
    pub head_len: usize,
    /// The method.
    pub method: Method,
    /// The normalised path, without the query.
    pub path: String,
    /// The path and query as sent (the registry takes only one spelling).
    pub target: String,
    /// The `Authorization` value, if sent (the parser allows one).
    pub authorization: Option<Vec<u8>>,
    /// The `Content-Length` (0 without a body).
    pub body_len: usize,
    /// `Expect: 100-continue` on HTTP/1.1.
    pub expect_continue: bool,
}

/// A request whose head is read and checked, and its body not yet.
pub struct Head {
    /// The parsed head.
    pub parsed: Parsed,
    buf: Vec<u8>,
    len: usize,
}

/// One whole admin request.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The normalised path, without the query.
    pub path: String,
    /// The body (empty without `Content-Length`).
    pub body: Vec<u8>,
}

/// Why no request was read.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The client closed or the socket failed: nothing to answer.
    Gone,
    /// A request the client should be told about.
    Refuse(ErrorCode),
}

/// Reads and checks the head of one request from `s` before `deadline`.
pub fn read_head(
    s: &mut TcpStream,
    deadline: Instant,
    server: &ServerSettings,
) -> Result<Head, ReadError> {
    let mut buf = vec![0u8; 1024];
    let mut len = 0;
    let mut head = RequestHead::new();
    loop {
        if len == buf.len() {
            buf.resize((buf.len() * 2).min(MAX_HEAD), 0);
        }
        len += read_some(s, &mut buf[len..], deadline)?;
        if let Some(parsed) = parse(&buf[..len], &mut head, server).map_err(ReadError::Refuse)? {
            return Ok(Head { parsed, buf, len });
        }
    }
}

/// The checked head at the start of `buf`, or `None` when more bytes are needed.
pub fn parse(
    buf: &[u8],
    head: &mut RequestHead,
    server: &ServerSettings,
) -> Result<Option<Parsed>, ErrorCode> {
    if !parse_request(buf, MAX_HEAD, head)? {
        return Ok(None);
    }
    server.header_rules.apply(buf, head)?;
    let mut path = Vec::new();
    normalize_path(head.path.get(buf), server.path_mode, &mut path)?;
    let body_len = match head.body {
        BodyKind::Empty => 0,
        BodyKind::Length(n) if n > MAX_BODY as u64 => return Err(ErrorCode::BodyTooLarge),
        BodyKind::Length(n) => n as usize,
        // Admin bodies are short lists: a length up front is no burden.
        BodyKind::Chunked | BodyKind::UntilClose => return Err(ErrorCode::LengthRequired),
    };
    let authorization = head
        .headers
        .iter()
        .find(|h| h.kind == HeaderKind::Authorization)
        .map(|h| h.value.get(buf).to_vec());
    // From the path on: an absolute-form target's scheme and host are not the registry's.
    let target = buf
        .get(head.path.start as usize..head.target.end as usize)
        .unwrap_or_default();
    Ok(Some(Parsed {
        head_len: head.head_len,
        method: head.method,
        path: String::from_utf8_lossy(&path).into_owned(),
        target: String::from_utf8_lossy(target).into_owned(),
        authorization,
        body_len,
        expect_continue: head.expect_continue,
    }))
}

impl Head {
    /// Reads the body (asking for it with `100 Continue` when the client
    /// waits for that) before `deadline`.
    pub fn read_body(self, s: &mut TcpStream, deadline: Instant) -> Result<Request, ReadError> {
        let Head {
            parsed,
            mut buf,
            mut len,
        } = self;
        let total = parsed.head_len + parsed.body_len;
        if parsed.expect_continue && len < total {
            // curl sends bodies over 1 KiB only after this (or a 1 s pause).
            s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .map_err(|_| ReadError::Gone)?;
        }
        buf.resize(total.max(len), 0);
        while len < total {
            len += read_some(s, &mut buf[len..total], deadline)?;
        }
        buf.truncate(total);
        Ok(Request {
            method: parsed.method,
            path: parsed.path,
            body: buf.split_off(parsed.head_len),
        })
    }
}

/// One read of at least one byte, waiting no later than `deadline`.
fn read_some(s: &mut TcpStream, buf: &mut [u8], deadline: Instant) -> Result<usize, ReadError> {
    let timeout = ReadError::Refuse(ErrorCode::RequestTimeout);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timeout);
        }
        s.set_read_timeout(Some(left))
            .map_err(|_| ReadError::Gone)?;
        match s.read(buf) {
            Ok(0) => return Err(ReadError::Gone),
            Ok(n) => return Ok(n),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(timeout)
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Err(ReadError::Gone),
        }
    }
}

/// Closes `s` after a response without resetting it: the write side is
/// shut, then what the client still sends is read and dropped until it
/// closes, for at most `LINGER` and `LINGER_BYTES`. Closing a socket with
/// unread input sends a reset, which can destroy the response in the
/// client's receive buffer before it was read (nginx: `lingering_close`).
pub fn linger_close(s: &mut TcpStream) {
    let _ = s.shutdown(Shutdown::Write);
    let until = Instant::now() + LINGER;
    let mut sink = [0u8; 16 * 1024];
    let mut drained = 0;
    while drained < LINGER_BYTES {
        match read_some(s, &mut sink, until) {
            Ok(n) => drained += n,
            Err(_) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Summary = (usize, Method, String, usize, Option<Vec<u8>>);

    fn head(raw: &str) -> Result<Option<Summary>, ErrorCode> {
        let cfg =
            crate::config::load_str("[server]\nlisten = \"127.0.0.1:0\"\n", "t").expect("config");
        let mut h = RequestHead::new();
        parse(raw.as_bytes(), &mut h, &cfg.server)
            .map(|p| p.map(|p| (p.head_len, p.method, p.path, p.body_len, p.authorization)))
    }

    #[test]
    fn heads_are_held_to_the_data_planes_rules_and_the_admin_limits() {
        assert_eq!(head("GET /metrics HTTP/1.1\r\nHost: a"), Ok(None));
        assert_eq!(
            head("GET /x/../metrics?x=1 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer t\r\n\r\n"),
            Ok(Some((
                68,
                Method::Get,
                "/metrics".into(),
                0,
                Some(b"Bearer t".to_vec())
            )))
        );
        for (raw, code) in [
            (
                "POST /r HTTP/1.1\r\nHost: a\r\nContent-Length: 65537\r\n\r\n",
                ErrorCode::BodyTooLarge,
            ),
            (
                "POST /r HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                ErrorCode::InvalidContentLength,
            ),
            (
                "POST /r HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
                ErrorCode::LengthRequired,
            ),
            (
                "POST /r HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                ErrorCode::ConflictingFraming,
            ),
            ("GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", ErrorCode::MalformedRequest),
            ("GET /metrics HTTP/1.1\r\n\r\n", ErrorCode::InvalidHost),
            ("get /metrics HTTP/1.1\r\nHost: a\r\n\r\n", ErrorCode::InvalidMethod),
            ("GET /metrics HTTP/2.0\r\nHost: a\r\n\r\n", ErrorCode::HttpVersionNotSupported),
            ("GET /a%2Fb HTTP/1.1\r\nHost: a\r\n\r\n", ErrorCode::AmbiguousPath),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n",
                ErrorCode::AmbiguousHeader,
            ),
        ] {
            assert_eq!(head(raw), Err(code), "{raw:?}");
        }
        let big = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n",
            "y".repeat(MAX_HEAD)
        );
        assert_eq!(head(&big), Err(ErrorCode::HeaderTooLarge));
        assert_eq!(
            head(&format!(
                "POST /r HTTP/1.1\r\nHost: a\r\nContent-Length: {MAX_BODY}\r\n\r\n"
            ))
            .map(|h| h.map(|h| h.3)),
            Ok(Some(MAX_BODY))
        );
    }
}
