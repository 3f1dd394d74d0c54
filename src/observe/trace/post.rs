//! One OTLP/HTTP export request: resolve, connect, write, read the status,
//! each step bounded, on a blocking `std::net::TcpStream`.
//!
//! Owns: the request's head (`Content-Type: application/json`,
//! `Connection: close`: one connection a batch, at most a few a second)
//! and what counts as success (a 2xx). Must never: wait past the deadline
//! it is given (name resolution aside: the system resolver has its own), or
//! run on a shard.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::config::OtlpEndpoint;

/// Longest wait for a connection to the collector.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest wait for one write or read once connected.
pub const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// Most bytes of the response read to find its status line.
const MAX_HEAD: usize = 4096;

/// Why an export request failed.
#[derive(Debug)]
pub enum PostError {
    /// The collector's name did not resolve.
    Resolve(io::Error),
    /// No connection within the timeout, or refused.
    Connect(io::Error),
    /// The request could not be written in time.
    Write(io::Error),
    /// No complete status line came back in time.
    Read(io::Error),
    /// The collector answered something that is not HTTP/1.x.
    BadResponse,
    /// The collector answered with a non-2xx status.
    Status(u16),
    /// The deadline passed before the exchange finished.
    Deadline,
}

impl fmt::Display for PostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PostError::Resolve(e) => write!(f, "cannot resolve the collector: {e}"),
            PostError::Connect(e) => write!(f, "cannot connect to the collector: {e}"),
            PostError::Write(e) if timed_out(e) => f.write_str("sending the spans timed out"),
            PostError::Write(e) => write!(f, "sending the spans failed: {e}"),
            PostError::Read(e) if timed_out(e) => {
                f.write_str("the collector did not answer in time")
            }
            PostError::Read(e) => write!(f, "reading the collector's answer failed: {e}"),
            PostError::BadResponse => f.write_str("the collector's answer is not HTTP/1.x"),
            PostError::Status(s) => write!(f, "the collector answered {s}"),
            PostError::Deadline => f.write_str("the export took too long"),
        }
    }
}

/// A socket timeout shows as `WouldBlock` (SO_RCVTIMEO/SO_SNDTIMEO) or `TimedOut`.
fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Writes the whole request (head and `body`) into `out`.
pub fn request(ep: &OtlpEndpoint, body: &str, out: &mut Vec<u8>) {
    out.clear();
    let _ = write!(
        out,
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: ringway/{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        ep.path,
        ep.authority,
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    out.extend_from_slice(body.as_bytes());
}

/// Sends `req` (from `request`) to `ep` and returns the 2xx status, all
/// before `deadline`.
pub fn post(ep: &OtlpEndpoint, req: &[u8], deadline: Instant) -> Result<u16, PostError> {
    let addrs: Vec<SocketAddr> = (&*ep.host, ep.port)
        .to_socket_addrs()
        .map_err(PostError::Resolve)?
        .collect();
    let mut stream = connect(&addrs, deadline)?;
    let _ = stream.set_nodelay(true);
    let mut sent = 0;
    while sent < req.len() {
        stream
            .set_write_timeout(Some(step(deadline, IO_TIMEOUT)?))
            .map_err(PostError::Write)?;
        match stream.write(&req[sent..]) {
            Ok(0) => return Err(PostError::Write(io::ErrorKind::WriteZero.into())),
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(PostError::Write(e)),
        }
    }
    let status = read_status(&mut stream, deadline)?;
    if (200..300).contains(&status) {
        Ok(status)
    } else {
        Err(PostError::Status(status))
    }
}

fn connect(addrs: &[SocketAddr], deadline: Instant) -> Result<TcpStream, PostError> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for a in addrs {
        match TcpStream::connect_timeout(a, step(deadline, CONNECT_TIMEOUT)?) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(PostError::Connect(last))
}

fn read_status(stream: &mut TcpStream, deadline: Instant) -> Result<u16, PostError> {
    let mut head = [0u8; MAX_HEAD];
    let mut filled = 0;
    loop {
        if let Some(status) = status_line(&head[..filled])? {
            return Ok(status);
        }
        if filled == head.len() {
            return Err(PostError::BadResponse);
        }
        stream
            .set_read_timeout(Some(step(deadline, IO_TIMEOUT)?))
            .map_err(PostError::Read)?;
        match stream.read(&mut head[filled..]) {
            Ok(0) => return Err(PostError::Read(io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(PostError::Read(e)),
        }
    }
}

/// The status of a response whose status line is complete; `Ok(None)` while
/// more bytes are needed.
pub fn status_line(buf: &[u8]) -> Result<Option<u16>, PostError> {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let line = &buf[..end];
    let code = match line {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', b'0' | b'1', b' ', d @ ..] if d.len() >= 3 => {
            &d[..3]
        }
        _ => return Err(PostError::BadResponse),
    };
    if !code.iter().all(u8::is_ascii_digit) || line.get(12).is_some_and(|&b| b != b' ') {
        return Err(PostError::BadResponse);
    }
    Ok(Some(
        code.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0')),
    ))
}

/// `limit`, or less when the deadline is nearer; an error once it passed.
fn step(deadline: Instant, limit: Duration) -> Result<Duration, PostError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(PostError::Deadline);
    }
    Ok(left.min(limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(status_line(b"HTTP/1.1 200 OK\r\n").ok(), Some(Some(200)));
        assert_eq!(status_line(b"HTTP/1.0 503 \r\n").ok(), Some(Some(503)));
        assert_eq!(status_line(b"HTTP/1.1 204\r\n").ok(), Some(Some(204)));
        assert_eq!(status_line(b"HTTP/1.1 200 O").ok(), Some(None));
        assert_eq!(status_line(b"").ok(), Some(None));
        for bad in [
            &b"HTTP/2 200 OK\r\n"[..],
            b"HTTP/1.1 20 OK\r\n",
            b"HTTP/1.1 2x0 OK\r\n",
            b"HTTP/1.1 2000 OK\r\n",
            b"SSH-2.0-OpenSSH\r\n",
            b"\r\n",
        ] {
            assert!(
                status_line(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn the_request_head() {
        let ep = OtlpEndpoint::parse("http://[::1]:4318/v1/traces").expect("endpoint");
        let mut out = Vec::new();
        request(&ep, "{}", &mut out);
        let text = String::from_utf8(out).expect("ascii");
        assert!(
            text.starts_with("POST /v1/traces HTTP/1.1\r\nHost: [::1]:4318\r\n"),
            "{text}"
        );
        assert!(
            text.contains("\r\nContent-Type: application/json\r\n"),
            "{text}"
        );
        assert!(
            text.ends_with("\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"),
            "{text}"
        );
    }

    #[test]
    fn a_passed_deadline_stops_before_connecting() {
        let ep = OtlpEndpoint::parse("http://127.0.0.1:9/v1/traces").expect("endpoint");
        let past = Instant::now() - Duration::from_millis(1);
        assert!(matches!(post(&ep, b"x", past), Err(PostError::Deadline)));
    }
}
