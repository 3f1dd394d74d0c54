//! One active health check on a non-blocking socket: connect, send the GET,
//! read the response head, and name what was seen. A `tls = true`
//! upstream's check speaks TLS with the upstream's own client settings
//! (verification, SNI, client certificate), as Envoy's transport socket
//! applies to its health checks: a target whose certificate fails is down.
//!
//! Owns: the check's wire format and the classification of its failures.
//! Must never: block (every step stops at `WouldBlock`, so one thread can
//! drive every check at once), or read a clock (the checker owns the
//! timeout and closes a probe that overran it).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};

use socket2::{Domain, Protocol, Socket, Type};

use crate::tls::UpstreamTls;

/// Largest response head a check reads; a longer one fails the check.
pub const MAX_HEAD: usize = 8 * 1024;

/// Header lines parsed; past this the status line still decides.
const MAX_HEADERS: usize = 64;

/// What one check saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckResult {
    /// A complete response head with this status (passing or not is the
    /// upstream's `expect_status`).
    Status(u16),
    /// The connection was refused.
    Refused,
    /// Connecting did not finish within the timeout.
    ConnectTimeout,
    /// Connected, but no complete response head within the timeout.
    Timeout,
    /// The connection was reset.
    Reset,
    /// The target closed the connection before a complete response head.
    Closed,
    /// The response head was not valid HTTP/1.x.
    BadResponse,
    /// The response head was longer than `MAX_HEAD`.
    HeadTooLarge,
    /// Another socket error (unreachable, out of descriptors, ...).
    Io,
    /// The TLS handshake failed (the certificate did not verify, ...).
    Tls,
}

/// Codes past any status, for the non-status results (see `CheckResult::code`).
const ERRORS: [CheckResult; 9] = [
    CheckResult::Refused,
    CheckResult::ConnectTimeout,
    CheckResult::Timeout,
    CheckResult::Reset,
    CheckResult::Closed,
    CheckResult::BadResponse,
    CheckResult::HeadTooLarge,
    CheckResult::Io,
    CheckResult::Tls,
];
const ERROR_BASE: u32 = 1000;

impl CheckResult {
    /// A non-zero number that `from_code` turns back into `self`, so the
    /// board can keep the last result in one atomic.
    pub fn code(self) -> u32 {
        match self {
            CheckResult::Status(s) => u32::from(s).clamp(1, ERROR_BASE - 1),
            other => ERROR_BASE + ERRORS.iter().position(|e| *e == other).unwrap_or(0) as u32,
        }
    }

    /// The inverse of `code`; `None` for 0 (no check yet).
    pub fn from_code(c: u32) -> Option<CheckResult> {
        match c {
            0 => None,
            c if c < ERROR_BASE => Some(CheckResult::Status(c as u16)),
            _ => ERRORS.get((c - ERROR_BASE) as usize).copied(),
        }
    }
}

impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CheckResult::Status(s) => return write!(f, "status {s}"),
            CheckResult::Refused => "connection refused",
            CheckResult::ConnectTimeout => "connect timeout",
            CheckResult::Timeout => "no response head within the timeout",
            CheckResult::Reset => "connection reset",
            CheckResult::Closed => "closed before a response head",
            CheckResult::BadResponse => "invalid response head",
            CheckResult::HeadTooLarge => "response head too large",
            CheckResult::Io => "socket error",
            CheckResult::Tls => "TLS handshake failed",
        })
    }
}

/// The request every check of a target sends (`Host` defaults to the address).
pub fn request(path: &str, host: Option<&str>, addr: SocketAddr) -> Box<[u8]> {
    let host = host.map_or_else(|| addr.to_string(), str::to_string);
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: ringway-health\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
    .into_boxed_slice()
}

/// What a complete-or-not response head says: `None` while more bytes may
/// complete it.
pub fn judge_head(head: &[u8]) -> Option<CheckResult> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Response::new(&mut headers);
    match r.parse(head) {
        Ok(httparse::Status::Complete(_)) => {
            Some(r.code.map_or(CheckResult::BadResponse, CheckResult::Status))
        }
        Ok(httparse::Status::Partial) => None,
        // The status line parsed before the headers overflowed; it decides.
        Err(httparse::Error::TooManyHeaders) => {
            Some(r.code.map_or(CheckResult::BadResponse, CheckResult::Status))
        }
        Err(_) => Some(CheckResult::BadResponse),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Connecting,
    Sending,
    Reading,
}

/// One check in flight, with the buffer its response head is read into.
pub struct Probe {
    sock: Socket,
    /// The TLS session over `sock`, for a `tls = true` upstream: rustls
    /// buffers the handshake and records; `sock` stays non-blocking.
    tls: Option<rustls::ClientConnection>,
    stage: Stage,
    sent: usize,
    head: Box<[u8]>,
    filled: usize,
}

impl Probe {
    /// Starts connecting to `addr` (with TLS when `tls` is given); `Err`
    /// when that failed at once.
    pub fn start(addr: SocketAddr, tls: Option<&UpstreamTls>) -> Result<Probe, CheckResult> {
        let tls = match tls {
            None => None,
            Some(t) => Some(
                rustls::ClientConnection::new(t.config.clone(), t.name_for(addr))
                    .map_err(|_| CheckResult::Tls)?,
            ),
        };
        let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
            .map_err(|_| CheckResult::Io)?;
        sock.set_nonblocking(true).map_err(|_| CheckResult::Io)?;
        let _ = sock.set_nodelay(true);
        let stage = match sock.connect(&addr.into()) {
            Ok(()) => Stage::Sending,
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Stage::Connecting,
            Err(e) => return Err(classify(&e, true)),
        };
        Ok(Probe {
            sock,
            tls,
            stage,
            sent: 0,
            head: vec![0; MAX_HEAD].into_boxed_slice(),
            filled: 0,
        })
    }

    /// The socket, for poll(2).
    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// The poll(2) events this probe waits for: what the stage needs, or
    /// what TLS needs first (the handshake's reads, records still queued).
    pub fn events(&self) -> libc::c_short {
        match (self.stage, &self.tls) {
            (Stage::Connecting, _) => libc::POLLOUT,
            (_, Some(t)) if t.wants_write() => libc::POLLOUT,
            (_, Some(t)) if t.is_handshaking() => libc::POLLIN,
            (Stage::Sending, _) => libc::POLLOUT,
            (Stage::Reading, _) => libc::POLLIN,
        }
    }

    /// What running out of time at this point means.
    pub fn timed_out(&self) -> CheckResult {
        match self.stage {
            Stage::Connecting => CheckResult::ConnectTimeout,
            Stage::Sending | Stage::Reading => CheckResult::Timeout,
        }
    }

    /// Makes all the progress possible without blocking: `Some` once the
    /// check has its result. `req` is the request to send.
    pub fn advance(&mut self, req: &[u8]) -> Option<CheckResult> {
        loop {
            let step = match self.stage {
                Stage::Connecting => self.connecting(),
                Stage::Sending => self.sending(req),
                Stage::Reading => self.reading(),
            };
            match step {
                Ok(true) => continue,
                Ok(false) => return None,
                Err(r) => return Some(r),
            }
        }
    }

    /// `Ok(true)` once connected, `Ok(false)` while still connecting.
    fn connecting(&mut self) -> Result<bool, CheckResult> {
        match self.sock.take_error() {
            Ok(Some(e)) | Err(e) => return Err(classify(&e, true)),
            Ok(None) => {}
        }
        match self.sock.peer_addr() {
            Ok(_) => {
                self.stage = Stage::Sending;
                Ok(true)
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Ok(false),
            Err(e) => Err(classify(&e, true)),
        }
    }

    /// `Ok(true)` once the whole request is sent, `Ok(false)` on `WouldBlock`.
    fn sending(&mut self, req: &[u8]) -> Result<bool, CheckResult> {
        while self.sent < req.len() {
            match write_on(&mut self.sock, &mut self.tls, &req[self.sent..]) {
                Ok(0) => return Err(CheckResult::Reset),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(classify(&e, false)),
            }
        }
        self.stage = Stage::Reading;
        Ok(true)
    }

    /// `Ok(false)` on `WouldBlock`; `Err` carries the result, a status included.
    fn reading(&mut self) -> Result<bool, CheckResult> {
        loop {
            let Some(room) = self.head.get_mut(self.filled..).filter(|r| !r.is_empty()) else {
                return Err(CheckResult::HeadTooLarge);
            };
            match read_on(&mut self.sock, &mut self.tls, room) {
                Ok(0) => return Err(CheckResult::Closed),
                Ok(n) => {
                    self.filled += n;
                    if let Some(r) = judge_head(&self.head[..self.filled]) {
                        return Err(r);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(classify(&e, false)),
            }
        }
    }
}

/// Writes `data` to the socket, through TLS when there is a session (whose
/// handshake runs first; `WouldBlock` until it is done).
fn write_on(
    sock: &mut Socket,
    tls: &mut Option<rustls::ClientConnection>,
    data: &[u8],
) -> io::Result<usize> {
    match tls {
        None => sock.write(data),
        Some(t) => rustls::Stream::new(t, sock).write(data),
    }
}

/// Reads from the socket, through TLS when there is a session (which
/// first sends what it still has queued).
fn read_on(
    sock: &mut Socket,
    tls: &mut Option<rustls::ClientConnection>,
    buf: &mut [u8],
) -> io::Result<usize> {
    match tls {
        None => sock.read(buf),
        Some(t) => rustls::Stream::new(t, sock).read(buf),
    }
}

/// Names a socket error; `connecting` tells a connect timeout from a read one.
fn classify(e: &io::Error, connecting: bool) -> CheckResult {
    // rustls' refusals (a certificate that did not verify, an alert).
    if e.get_ref().is_some_and(|i| i.is::<rustls::Error>()) {
        return CheckResult::Tls;
    }
    match e.kind() {
        // A TLS peer that closed without close_notify (rustls says so).
        io::ErrorKind::UnexpectedEof => CheckResult::Closed,
        io::ErrorKind::ConnectionRefused => CheckResult::Refused,
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => CheckResult::Reset,
        io::ErrorKind::TimedOut if connecting => CheckResult::ConnectTimeout,
        io::ErrorKind::TimedOut => CheckResult::Timeout,
        _ => CheckResult::Io,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_names_path_host_and_agent() {
        let a: SocketAddr = "127.0.0.1:3001".parse().unwrap();
        let r = request("/healthz?deep=1", None, a);
        assert_eq!(
            &*r,
            b"GET /healthz?deep=1 HTTP/1.1\r\nHost: 127.0.0.1:3001\r\nUser-Agent: ringway-health\r\nConnection: close\r\n\r\n"
        );
        let r = request("/", Some("api.internal"), a);
        assert!(r.starts_with(b"GET / HTTP/1.1\r\nHost: api.internal\r\n"));
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        assert!(request("/", None, v6).starts_with(b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n"));
    }

    #[test]
    fn heads_are_judged_when_complete() {
        let ok = b"HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n";
        assert_eq!(judge_head(ok), Some(CheckResult::Status(204)));
        for cut in 0..ok.len() {
            assert_eq!(judge_head(&ok[..cut]), None, "cut at {cut}");
        }
        assert_eq!(
            judge_head(b"HTTP/1.0 503 Busy\r\n\r\nbody"),
            Some(CheckResult::Status(503))
        );
        assert_eq!(
            judge_head(b"SSH-2.0-OpenSSH\r\n"),
            Some(CheckResult::BadResponse)
        );
        assert_eq!(
            judge_head(b"HTTP/1.1 2x0 OK\r\n\r\n"),
            Some(CheckResult::BadResponse)
        );
    }

    #[test]
    fn too_many_headers_still_use_the_status_line() {
        let mut h = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            h.extend_from_slice(format!("x-{i}: y\r\n").as_bytes());
        }
        h.extend_from_slice(b"\r\n");
        assert_eq!(judge_head(&h), Some(CheckResult::Status(200)));
    }

    #[test]
    fn codes_round_trip() {
        assert_eq!(CheckResult::from_code(0), None);
        for s in [100u16, 200, 404, 599, 999] {
            let r = CheckResult::Status(s);
            assert_eq!(CheckResult::from_code(r.code()), Some(r));
        }
        for r in ERRORS {
            assert_eq!(CheckResult::from_code(r.code()), Some(r));
            assert!(r.code() >= ERROR_BASE);
        }
    }
}
