//! Reading one admin request off a blocking socket: the head (httparse) and
//! a `Content-Length` body, all of it before one deadline, within fixed
//! size limits; and the lingering close that lets a refused client read its
//! error instead of a reset.
//!
//! Owns: the admin listener's framing rules and limits. Must never: wait
//! past the request's deadline (it is whole-request, not per read, so a
//! client trickling one byte at a time cannot stretch it), buffer more than
//! `MAX_HEAD + MAX_BODY` bytes, or choose a status (`crate::error`).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use crate::error::ErrorCode;

/// Largest request head.
pub const MAX_HEAD: usize = 8 * 1024;
/// Largest request body (`POST /revocations` lists are a few KiB).
pub const MAX_BODY: usize = 64 * 1024;
/// Header fields parsed at most.
const MAX_HEADERS: usize = 32;
/// How long a refused request's remaining input is read and discarded.
const LINGER: Duration = Duration::from_secs(2);
/// How much of a refused request's remaining input is read at most.
const LINGER_BYTES: usize = 16 * 1024 * 1024;

/// One admin request.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    /// The method token, as sent.
    pub method: String,
    /// The request target's path (without query).
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

/// Reads one request from `s`, all of it before `deadline`.
pub fn read(s: &mut TcpStream, deadline: Instant) -> Result<Request, ReadError> {
    let mut buf = vec![0u8; 1024];
    let mut len = 0;
    let Head {
        len: head_len,
        method,
        path,
        body_len,
        expect_continue,
    } = loop {
        if let Some(head) = parse_head(&buf[..len])? {
            break head;
        }
        if len == MAX_HEAD {
            return Err(ReadError::Refuse(ErrorCode::HeaderTooLarge));
        }
        if len == buf.len() {
            buf.resize((buf.len() * 2).min(MAX_HEAD), 0);
        }
        len += read_some(s, &mut buf[len..], deadline)?;
    };
    let total = head_len + body_len;
    if expect_continue && len < total {
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
        method,
        path,
        body: buf.split_off(head_len),
    })
}

/// A parsed request head.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    len: usize,
    method: String,
    path: String,
    body_len: usize,
    expect_continue: bool,
}

/// The parsed head of `buf`, or `None` when more bytes are needed.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, ReadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ReadError::Refuse(ErrorCode::TooManyHeaders))
        }
        Err(_) => return Err(ReadError::Refuse(ErrorCode::MalformedRequest)),
    };
    let refuse = |c| Err(ReadError::Refuse(c));
    let mut body_len = None;
    let mut expect_continue = false;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("expect") {
            expect_continue = h.value.eq_ignore_ascii_case(b"100-continue");
        }
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return refuse(ErrorCode::LengthRequired);
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            let Some(n) = content_length(h.value) else {
                return refuse(ErrorCode::InvalidContentLength);
            };
            if body_len.is_some_and(|m| m != n) {
                return refuse(ErrorCode::InvalidContentLength);
            }
            body_len = Some(n);
        }
    }
    let body_len = body_len.unwrap_or(0);
    if body_len > MAX_BODY {
        return refuse(ErrorCode::BodyTooLarge);
    }
    let target = req.path.unwrap_or("/");
    let path = target.split('?').next().unwrap_or(target);
    let method = req.method.unwrap_or("");
    Ok(Some(Head {
        len: head_len,
        method: method.to_owned(),
        path: path.to_owned(),
        body_len,
        expect_continue,
    }))
}

/// Digits only; a value too large for `usize` is "too large", not invalid.
fn content_length(v: &[u8]) -> Option<usize> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        v.iter()
            .try_fold(0usize, |n, &d| {
                n.checked_mul(10)?.checked_add(usize::from(d - b'0'))
            })
            .unwrap_or(usize::MAX),
    )
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

    fn head(raw: &str) -> Result<Option<(usize, String, String, usize)>, ReadError> {
        parse_head(raw.as_bytes()).map(|h| h.map(|h| (h.len, h.method, h.path, h.body_len)))
    }

    #[test]
    fn heads_and_their_limits() {
        assert_eq!(head("GET /metrics HTTP/1.1\r\nHost: a"), Ok(None));
        assert_eq!(
            head("GET /metrics?x=1 HTTP/1.1\r\n\r\n"),
            Ok(Some((29, "GET".into(), "/metrics".into(), 0)))
        );
        assert_eq!(
            head("POST /r HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n"),
            Ok(Some((58, "POST".into(), "/r".into(), 5)))
        );
        let refused = |c| Err(ReadError::Refuse(c));
        for (raw, code) in [
            (
                "POST /r HTTP/1.1\r\nContent-Length: 65537\r\n\r\n",
                ErrorCode::BodyTooLarge,
            ),
            (
                "POST /r HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                ErrorCode::BodyTooLarge,
            ),
            (
                "POST /r HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                ErrorCode::InvalidContentLength,
            ),
            (
                "POST /r HTTP/1.1\r\nContent-Length: +1\r\n\r\n",
                ErrorCode::InvalidContentLength,
            ),
            (
                "POST /r HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                ErrorCode::LengthRequired,
            ),
            ("GET /\x01 HTTP/1.1\r\n\r\n", ErrorCode::MalformedRequest),
        ] {
            assert_eq!(head(raw), refused(code), "{raw:?}");
        }
        assert_eq!(
            head(&format!(
                "POST /r HTTP/1.1\r\nContent-Length: {MAX_BODY}\r\n\r\n"
            ))
            .map(|h| h.map(|h| h.3)),
            Ok(Some(MAX_BODY))
        );
    }
}
