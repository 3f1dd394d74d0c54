//! `Upstream`: a real HTTP/1.1 server on 127.0.0.1:0 (thread per
//! connection) whose replies are scripted per request by a closure, and
//! which records every request head byte-for-byte, each body's length and
//! checksum, the number of accepted connections and of bytes received.
//!
//! Must never: outlive its `Upstream` value (dropping it stops the accept
//! loop and shuts every socket down), or block without a timeout.

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::wire::{pattern, Fnv, Framing, Head, Reader, WireError};

/// Read/write timeout of upstream sockets.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(30);
/// Bodies up to this size are kept whole in `Received::body`.
const KEEP_BODY: usize = 1 << 20;

/// What the upstream does with one request (decided from its head).
#[derive(Clone, Debug)]
pub enum Reply {
    /// 200 with a JSON description of the request (see `echo_json`).
    Echo,
    /// Writes these bytes verbatim; the connection stays open.
    Raw(Vec<u8>),
    /// Writes these bytes verbatim, then closes.
    RawThenClose(Vec<u8>),
    /// Writes each piece then sleeps its delay; closes after if `close`.
    Pieces(Vec<(Vec<u8>, Duration)>, bool),
    /// Closes without writing anything.
    Close,
    /// 200 with `len` bytes of the body pattern, Content-Length or chunked.
    Stream {
        /// Body length.
        len: u64,
        /// Chunked instead of Content-Length.
        chunked: bool,
    },
    /// Sleeps, then does the inner reply (the body is read first).
    Delay(Duration, Box<Reply>),
    /// Sleeps before reading the request body, then does the inner reply.
    DelayBeforeBody(Duration, Box<Reply>),
}

/// A request as the upstream received it.
#[derive(Clone, Debug, Default)]
pub struct Received {
    /// Index of the connection it arrived on (0-based, accept order).
    pub conn: usize,
    /// Index of the request on its connection.
    pub seq: usize,
    /// The head, byte-for-byte.
    pub head: Head,
    /// Method.
    pub method: String,
    /// Request target.
    pub target: String,
    /// Version from the request line.
    pub version: String,
    /// Decoded body (first 1 MiB).
    pub body: Vec<u8>,
    /// Body bytes as on the wire, chunk framing included (first 1 MiB).
    pub raw_body: Vec<u8>,
    /// Decoded body length.
    pub body_len: u64,
    /// FNV-1a 64 of the decoded body.
    pub body_fnv: u64,
    /// The body was chunked.
    pub chunked: bool,
    /// The body ended where its framing said (false: cut short or invalid).
    pub body_complete: bool,
    /// Chunked trailers.
    pub trailers: Vec<(String, String)>,
}

impl Received {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }

    /// Every value of header `name`.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.head.header_all(name)
    }

    /// The raw head as text.
    pub fn head_text(&self) -> String {
        String::from_utf8_lossy(&self.head.raw).into_owned()
    }
}

type Handler = dyn Fn(&Received) -> Reply + Send + Sync;

struct Shared {
    name: String,
    stop: AtomicBool,
    requests: Mutex<Vec<Received>>,
    conns: AtomicUsize,
    bytes: Arc<AtomicU64>,
    streams: Mutex<Vec<TcpStream>>,
    handler: Box<Handler>,
}

/// A scripted upstream server.
pub struct Upstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Upstream {
    /// Starts an upstream named `name` (stamped as `x-upstream` on generated replies).
    pub fn start(
        name: &str,
        handler: impl Fn(&Received) -> Reply + Send + Sync + 'static,
    ) -> Upstream {
        Self::start_on(([127, 0, 0, 1], 0).into(), name, handler)
    }

    /// `start` on `addr`, e.g. a killed upstream's port again (std sets
    /// SO_REUSEADDR; binding is retried for 2 s while the old listener closes).
    pub fn start_on(
        addr: SocketAddr,
        name: &str,
        handler: impl Fn(&Received) -> Reply + Send + Sync + 'static,
    ) -> Upstream {
        let listener = bind_retrying(addr);
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(Shared {
            name: name.to_string(),
            stop: AtomicBool::new(false),
            requests: Mutex::new(Vec::new()),
            conns: AtomicUsize::new(0),
            bytes: Arc::new(AtomicU64::new(0)),
            streams: Mutex::new(Vec::new()),
            handler: Box::new(handler),
        });
        let sh = shared.clone();
        std::thread::spawn(move || accept_loop(listener, sh));
        Upstream { addr, shared }
    }

    /// An upstream that echoes every request.
    pub fn echo(name: &str) -> Upstream {
        Self::start(name, |_| Reply::Echo)
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far (head read; body read or failed).
    pub fn requests(&self) -> Vec<Received> {
        lock(&self.shared.requests).clone()
    }

    /// The last request received (panics if none).
    pub fn last(&self) -> Received {
        self.requests().pop().expect("upstream received no request")
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.conns.load(Ordering::SeqCst)
    }

    /// Bytes received so far over all connections.
    pub fn bytes_received(&self) -> u64 {
        self.shared.bytes.load(Ordering::SeqCst)
    }

    /// Waits until `n` requests were recorded.
    pub fn wait_requests(&self, n: usize, timeout: Duration) -> bool {
        super::eventually(timeout, || lock(&self.shared.requests).len() >= n)
    }

    /// Asserts that nothing at all reached this upstream (after a 200 ms grace).
    pub fn assert_untouched(&self, what: &str) {
        std::thread::sleep(Duration::from_millis(200));
        let reqs = self.requests();
        assert!(
            self.bytes_received() == 0 && self.connections() == 0,
            "{what}: upstream received {} bytes on {} connections; heads: {:?}",
            self.bytes_received(),
            self.connections(),
            reqs.iter().map(Received::head_text).collect::<Vec<_>>()
        );
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for s in lock(&self.shared.streams).iter() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn bind_retrying(addr: SocketAddr) -> TcpListener {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match TcpListener::bind(addr) {
            Ok(l) => return l,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("bind upstream on {addr}: {e}"),
        }
    }
}

fn accept_loop(listener: TcpListener, sh: Arc<Shared>) {
    while !sh.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((s, _)) => {
                let id = sh.conns.fetch_add(1, Ordering::SeqCst);
                let _ = s.set_nonblocking(false);
                let _ = s.set_nodelay(true);
                let _ = s.set_read_timeout(Some(SOCKET_TIMEOUT));
                let _ = s.set_write_timeout(Some(SOCKET_TIMEOUT));
                if let Ok(c) = s.try_clone() {
                    lock(&sh.streams).push(c);
                }
                let sh2 = sh.clone();
                std::thread::spawn(move || serve_conn(s, id, sh2));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Sleeps `d` in slices, returning early when the upstream is dropped.
fn nap(sh: &Shared, d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end && !sh.stop.load(Ordering::SeqCst) {
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(10)));
    }
}

fn serve_conn(stream: TcpStream, conn: usize, sh: Arc<Shared>) {
    let mut r = Reader::new(stream, Some(sh.bytes.clone()));
    let mut seq = 0;
    while !sh.stop.load(Ordering::SeqCst) {
        let head = match r.read_head(1 << 20) {
            Ok(h) => h,
            Err(WireError::Eof { clean: true }) | Err(WireError::Timeout) => return,
            Err(_) => {
                // A malformed head from the gateway: record what arrived so tests see it.
                let raw = r.pending().to_vec();
                lock(&sh.requests).push(Received {
                    conn,
                    seq,
                    head: Head {
                        raw,
                        ..Head::default()
                    },
                    ..Received::default()
                });
                return;
            }
        };
        let mut parts = head.first.split(' ');
        let mut rec = Received {
            conn,
            seq,
            method: parts.next().unwrap_or_default().to_string(),
            target: parts.next().unwrap_or_default().to_string(),
            version: parts.next().unwrap_or_default().to_string(),
            head,
            ..Received::default()
        };
        seq += 1;
        let mut reply = (sh.handler)(&rec);
        while let Reply::DelayBeforeBody(d, inner) = reply {
            nap(&sh, d);
            reply = *inner;
        }
        let framing = rec.head.framing(Framing::None);
        let ok = match framing {
            Ok(f) => {
                rec.chunked = f == Framing::Chunked;
                let mut fnv = Fnv::default();
                let mut len = 0u64;
                let mut body = Vec::new();
                r.start_capture(KEEP_BODY);
                let res = r.read_body_to(f, &mut |d: &[u8]| {
                    len += d.len() as u64;
                    fnv.update(d);
                    if body.len() < KEEP_BODY {
                        body.extend_from_slice(&d[..d.len().min(KEEP_BODY - body.len())]);
                    }
                });
                rec.raw_body = r.take_capture();
                rec.body = body;
                rec.body_len = len;
                rec.body_fnv = fnv.0;
                match res {
                    Ok(t) => {
                        rec.trailers = t;
                        rec.body_complete = true;
                    }
                    Err(_) => rec.body_complete = false,
                }
                rec.body_complete
            }
            Err(_) => false,
        };
        let close_requested = rec.head.connection_has("close");
        lock(&sh.requests).push(rec.clone());
        if !ok {
            let _ = r.stream.shutdown(Shutdown::Both);
            return;
        }
        let keep = do_reply(&sh, &mut r.stream, &rec, reply);
        if !keep || close_requested {
            let _ = r.stream.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Writes the reply; returns whether the connection stays open.
fn do_reply(sh: &Shared, s: &mut TcpStream, rec: &Received, reply: Reply) -> bool {
    let close_hdr = if rec.head.connection_has("close") {
        "connection: close\r\n"
    } else {
        ""
    };
    match reply {
        Reply::Echo => {
            let body = echo_json(&sh.name, rec).to_string();
            let mut out = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-upstream: {}\r\n{close_hdr}\r\n",
                body.len(),
                sh.name
            )
            .into_bytes();
            if rec.method != "HEAD" {
                out.extend_from_slice(body.as_bytes());
            }
            s.write_all(&out).is_ok()
        }
        Reply::Raw(b) => s.write_all(&b).is_ok(),
        Reply::RawThenClose(b) => {
            let _ = s.write_all(&b);
            false
        }
        Reply::Pieces(pieces, close) => {
            for (b, d) in pieces {
                if s.write_all(&b).is_err() {
                    return false;
                }
                nap(sh, d);
            }
            !close
        }
        Reply::Close => false,
        Reply::Stream { len, chunked } => {
            let framing = if chunked {
                "transfer-encoding: chunked".to_string()
            } else {
                format!("content-length: {len}")
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n{framing}\r\nx-upstream: {}\r\n{close_hdr}\r\n",
                sh.name
            );
            if s.write_all(head.as_bytes()).is_err() {
                return false;
            }
            let mut off = 0u64;
            while off < len {
                let n = (len - off).min(65536) as usize;
                let data = pattern(off, n);
                let ok = if chunked {
                    s.write_all(&super::wire::chunk(&data)).is_ok()
                } else {
                    s.write_all(&data).is_ok()
                };
                if !ok {
                    return false;
                }
                off += n as u64;
            }
            !chunked || s.write_all(b"0\r\n\r\n").is_ok()
        }
        Reply::Delay(d, inner) | Reply::DelayBeforeBody(d, inner) => {
            nap(sh, d);
            if sh.stop.load(Ordering::SeqCst) {
                return false;
            }
            do_reply(sh, s, rec, *inner)
        }
    }
}

/// The echo body: what the upstream saw.
pub fn echo_json(name: &str, rec: &Received) -> serde_json::Value {
    serde_json::json!({
        "upstream": name,
        "method": rec.method,
        "target": rec.target,
        "version": rec.version,
        "headers": rec.head.headers.iter().map(|(k, v)| vec![k.clone(), v.clone()]).collect::<Vec<_>>(),
        "body_len": rec.body_len,
        "body_fnv": format!("{:016x}", rec.body_fnv),
        "chunked": rec.chunked,
        "conn": rec.conn,
        "seq": rec.seq,
    })
}

/// A complete chunked 200 response with `chunks` (each sent as one chunk,
/// `ext` appended to every size line) and raw `trailers` lines.
pub fn chunked_response(chunks: &[&[u8]], ext: &str, trailers: &str) -> Vec<u8> {
    let mut out =
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-upstream: raw\r\n\r\n".to_vec();
    for c in chunks {
        out.extend_from_slice(format!("{:x}{ext}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n");
    out.extend_from_slice(trailers.as_bytes());
    out.extend_from_slice(b"\r\n");
    out
}

/// A 200 response with a Content-Length body and extra raw header lines.
pub fn fixed_response(extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-upstream: raw\r\n{extra_headers}\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}
