//! HTTP/1.1 framing shared by the test client and the test upstream: a
//! buffered reader over a `TcpStream` that reads heads, Content-Length,
//! chunked and close-delimited bodies, plus the deterministic body pattern
//! and the FNV-1a checksum both ends use to compare bodies without storing
//! them.
//!
//! Strict on purpose: what the gateway emits must be valid HTTP/1.1, so any
//! bare LF, obs-fold or bad chunk line is reported as `WireError::Invalid`
//! rather than tolerated. Must never: block without the socket's timeout.

use std::fmt;
use std::io::{self, Read};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Running FNV-1a 64 checksum.
#[derive(Clone, Copy, Debug)]
pub struct Fnv(pub u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    /// Folds `data` into the checksum.
    pub fn update(&mut self, data: &[u8]) {
        let mut h = self.0;
        for &b in data {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// FNV-1a 64 of `data`.
pub fn fnv1a(data: &[u8]) -> u64 {
    let mut f = Fnv::default();
    f.update(data);
    f.0
}

/// Byte `i` of the deterministic body pattern (not periodic at any small size).
pub fn pattern_byte(i: u64) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// `len` bytes of the body pattern starting at offset `start`.
pub fn pattern(start: u64, len: usize) -> Vec<u8> {
    (0..len as u64).map(|i| pattern_byte(start + i)).collect()
}

/// Checksum of the first `len` bytes of the body pattern.
pub fn pattern_fnv(len: u64) -> u64 {
    let mut f = Fnv::default();
    let mut off = 0;
    while off < len {
        let n = (len - off).min(65536) as usize;
        f.update(&pattern(off, n));
        off += n as u64;
    }
    f.0
}

/// Why a read failed.
#[derive(Debug)]
pub enum WireError {
    /// The socket's read timeout expired.
    Timeout,
    /// The peer closed; `clean` when nothing of the current message was read.
    Eof { clean: bool },
    /// Connection reset or another socket error.
    Io(io::Error),
    /// The bytes are not valid HTTP/1.1.
    Invalid(String),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Timeout => write!(f, "timed out"),
            WireError::Eof { clean: true } => write!(f, "peer closed (no bytes)"),
            WireError::Eof { clean: false } => write!(f, "peer closed mid-message"),
            WireError::Io(e) => write!(f, "io error: {e}"),
            WireError::Invalid(m) => write!(f, "invalid HTTP: {m}"),
        }
    }
}

/// How a message body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the peer closes.
    ToClose,
}

/// A parsed message head.
#[derive(Clone, Debug, Default)]
pub struct Head {
    /// Exact bytes including the final CRLFCRLF.
    pub raw: Vec<u8>,
    /// The request line or status line.
    pub first: String,
    /// Header fields in order, duplicates kept, names as sent.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// Parses `raw` (ending in CRLFCRLF) strictly.
    pub fn parse(raw: &[u8]) -> Result<Head, WireError> {
        let text = String::from_utf8_lossy(raw);
        let body = text
            .strip_suffix("\r\n\r\n")
            .ok_or_else(|| WireError::Invalid("head does not end in CRLFCRLF".into()))?;
        let mut lines = body.split("\r\n");
        let first = lines.next().unwrap_or_default().to_string();
        if first.contains(['\r', '\n']) {
            return Err(WireError::Invalid(format!(
                "bare CR/LF in first line {first:?}"
            )));
        }
        let mut headers = Vec::new();
        for line in lines {
            if line.contains(['\r', '\n']) {
                return Err(WireError::Invalid(format!("bare CR/LF in {line:?}")));
            }
            if line.starts_with([' ', '\t']) {
                return Err(WireError::Invalid(format!("obs-fold {line:?}")));
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| WireError::Invalid(format!("header without colon {line:?}")))?;
            if name.is_empty() || name.contains([' ', '\t']) {
                return Err(WireError::Invalid(format!("bad header name {line:?}")));
            }
            headers.push((
                name.to_string(),
                value.trim_matches([' ', '\t']).to_string(),
            ));
        }
        Ok(Head {
            raw: raw.to_vec(),
            first,
            headers,
        })
    }

    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name` (case-insensitive), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether a `Connection` header lists `token`.
    pub fn connection_has(&self, token: &str) -> bool {
        self.header_all("connection")
            .iter()
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// Body framing from Transfer-Encoding / Content-Length; `default` when neither.
    pub fn framing(&self, default: Framing) -> Result<Framing, WireError> {
        let te = self.header_all("transfer-encoding");
        if !te.is_empty() {
            let joined = te.join(",").to_ascii_lowercase();
            if joined.trim() != "chunked" {
                return Err(WireError::Invalid(format!("transfer-encoding {joined:?}")));
            }
            if self.header("content-length").is_some() {
                return Err(WireError::Invalid("both CL and TE".into()));
            }
            return Ok(Framing::Chunked);
        }
        let cl = self.header_all("content-length");
        match cl.as_slice() {
            [] => Ok(default),
            [v] => v
                .parse::<u64>()
                .map(Framing::Length)
                .map_err(|_| WireError::Invalid(format!("content-length {v:?}"))),
            _ => Err(WireError::Invalid(format!("several content-length {cl:?}"))),
        }
    }
}

/// Buffered reader over one connection.
pub struct Reader {
    /// The socket (read timeout set by the owner).
    pub stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    counter: Option<Arc<AtomicU64>>,
    capture: Option<(Vec<u8>, usize)>,
}

impl Reader {
    /// Wraps `stream`; every byte read is also added to `counter`.
    pub fn new(stream: TcpStream, counter: Option<Arc<AtomicU64>>) -> Reader {
        Reader {
            stream,
            buf: Vec::with_capacity(65536),
            start: 0,
            counter,
            capture: None,
        }
    }

    /// Bytes read but not consumed yet.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Consumes and returns every pending byte.
    pub fn take_pending(&mut self) -> Vec<u8> {
        let v = self.pending().to_vec();
        self.consume(v.len());
        v
    }

    /// Reads once more from the socket; Ok(0) on EOF.
    pub fn fill(&mut self) -> Result<usize, WireError> {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 1 << 20 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let mut tmp = [0u8; 65536];
        loop {
            match self.stream.read(&mut tmp) {
                Ok(n) => {
                    self.buf.extend_from_slice(&tmp[..n]);
                    if let Some(c) = &self.counter {
                        c.fetch_add(n as u64, Ordering::SeqCst);
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    return Err(WireError::Timeout)
                }
                Err(e) => return Err(WireError::Io(e)),
            }
        }
    }

    /// Starts recording every consumed byte (up to `cap` bytes).
    pub fn start_capture(&mut self, cap: usize) {
        self.capture = Some((Vec::new(), cap));
    }

    /// Stops recording and returns what was captured.
    pub fn take_capture(&mut self) -> Vec<u8> {
        self.capture.take().map(|(v, _)| v).unwrap_or_default()
    }

    fn consume(&mut self, n: usize) {
        if let Some((v, cap)) = &mut self.capture {
            let room = cap.saturating_sub(v.len()).min(n);
            v.extend_from_slice(&self.buf[self.start..self.start + room]);
        }
        self.start += n;
    }

    /// Reads one head (up to `max` bytes) ending in CRLFCRLF.
    pub fn read_head(&mut self, max: usize) -> Result<Head, WireError> {
        let mut scanned: usize = 0;
        loop {
            let pending = self.pending();
            if let Some(i) = find(&pending[scanned.saturating_sub(3)..], b"\r\n\r\n") {
                let end = scanned.saturating_sub(3) + i + 4;
                let raw = pending[..end].to_vec();
                self.consume(end);
                return Head::parse(&raw);
            }
            scanned = pending.len();
            if scanned > max {
                return Err(WireError::Invalid(format!("head larger than {max} bytes")));
            }
            if self.fill()? == 0 {
                return Err(WireError::Eof {
                    clean: self.pending().is_empty(),
                });
            }
        }
    }

    /// Reads a CRLF-terminated line (without the CRLF), at most `max` bytes.
    pub fn read_line(&mut self, max: usize) -> Result<Vec<u8>, WireError> {
        loop {
            if let Some(i) = find(self.pending(), b"\r\n") {
                let line = self.pending()[..i].to_vec();
                self.consume(i + 2);
                if line.contains(&b'\n') || line.contains(&b'\r') {
                    return Err(WireError::Invalid(format!("bare CR/LF in line {line:?}")));
                }
                return Ok(line);
            }
            if self.pending().len() > max {
                return Err(WireError::Invalid("line too long".into()));
            }
            if self.fill()? == 0 {
                return Err(WireError::Eof { clean: false });
            }
        }
    }

    /// Reads exactly `n` bytes, handing them to `sink` as they arrive.
    pub fn read_exact_to(
        &mut self,
        mut n: u64,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<(), WireError> {
        while n > 0 {
            if self.pending().is_empty() && self.fill()? == 0 {
                return Err(WireError::Eof { clean: false });
            }
            let take = (self.pending().len() as u64).min(n) as usize;
            sink(&self.pending()[..take]);
            self.consume(take);
            n -= take as u64;
        }
        Ok(())
    }

    /// Reads a chunked body strictly, handing decoded data to `sink`; returns the trailers.
    pub fn read_chunked_to(
        &mut self,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<Vec<(String, String)>, WireError> {
        loop {
            let line = self.read_line(4096)?;
            let text = String::from_utf8_lossy(&line).to_string();
            let size_part = text.split(';').next().unwrap_or_default();
            let size_part = size_part.trim_end_matches([' ', '\t']);
            if size_part.is_empty()
                || size_part.len() > 16
                || !size_part.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return Err(WireError::Invalid(format!("chunk size line {text:?}")));
            }
            let size = u64::from_str_radix(size_part, 16)
                .map_err(|_| WireError::Invalid(format!("chunk size {text:?}")))?;
            if size == 0 {
                let mut trailers = Vec::new();
                loop {
                    let t = self.read_line(8192)?;
                    if t.is_empty() {
                        return Ok(trailers);
                    }
                    let t = String::from_utf8_lossy(&t).to_string();
                    let (k, v) = t
                        .split_once(':')
                        .ok_or_else(|| WireError::Invalid(format!("trailer {t:?}")))?;
                    trailers.push((k.to_string(), v.trim().to_string()));
                }
            }
            self.read_exact_to(size, sink)?;
            let crlf = self.read_line(2)?;
            if !crlf.is_empty() {
                return Err(WireError::Invalid("chunk data not followed by CRLF".into()));
            }
        }
    }

    /// Reads until the peer closes, handing data to `sink`.
    pub fn read_to_close_to(&mut self, sink: &mut dyn FnMut(&[u8])) -> Result<(), WireError> {
        loop {
            if !self.pending().is_empty() {
                let n = self.pending().len();
                sink(&self.pending()[..n]);
                self.consume(n);
            }
            if self.fill()? == 0 {
                return Ok(());
            }
        }
    }

    /// Reads a body with `framing`; returns trailers (chunked only).
    pub fn read_body_to(
        &mut self,
        framing: Framing,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<Vec<(String, String)>, WireError> {
        match framing {
            Framing::None => Ok(Vec::new()),
            Framing::Length(n) => self.read_exact_to(n, sink).map(|()| Vec::new()),
            Framing::Chunked => self.read_chunked_to(sink),
            Framing::ToClose => self.read_to_close_to(sink).map(|()| Vec::new()),
        }
    }
}

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Encodes `data` as one chunk (`size CRLF data CRLF`).
pub fn chunk(data: &[u8]) -> Vec<u8> {
    let mut v = format!("{:x}\r\n", data.len()).into_bytes();
    v.extend_from_slice(data);
    v.extend_from_slice(b"\r\n");
    v
}
