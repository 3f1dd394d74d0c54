//! WebSocket on both sides of the gateway for the upgrade tests: a real
//! server (`ws_server.py`, on the `websockets` package) on an ephemeral
//! port, and a client written here byte by byte (the handshake, masked
//! frames out, frames in), so the tests assert on the bytes that crossed.
//! The client runs over plain TCP or over a rustls client stream (`Wire`).
//!
//! Also the checks both the plain and the TLS upgrade tests make (echo,
//! close, idle timeout, drain on SIGTERM).
//!
//! Must never: skip a test silently. Without python3 or websockets,
//! `WsServer::start` panics saying what to install.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The running server; dropping it stops the process.
pub struct WsServer {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl WsServer {
    /// Starts the server (see `ws_server.py` for what each path does).
    pub fn start() -> WsServer {
        WsServer::spawn(&[])
    }

    /// Starts it serving wss:// with the PEM chain `cert` and key `key`.
    pub fn start_tls(cert: &std::path::Path, key: &std::path::Path) -> WsServer {
        WsServer::spawn(&[cert, key])
    }

    fn spawn(args: &[&std::path::Path]) -> WsServer {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/common/ws_server.py");
        // The asyncio API came with websockets 13.
        super::python::require("websockets.asyncio.server", "WebSocket", "'websockets>=13'");
        let mut child = Command::new("python3")
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn python3 ws_server.py");
        let port = super::python::port(&mut child, "ws_server.py");
        WsServer {
            child,
            addr: ([127, 0, 0, 1], port).into(),
        }
    }
}

impl Drop for WsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How long a test waits for what should happen now.
pub const WAIT: Duration = Duration::from_secs(5);

/// Frame opcodes (RFC 6455 5.2).
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// The fixed key of every handshake, and the accept value RFC 6455 4.2.2
/// derives from it (the RFC's own example).
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// The handshake request for `path` with extra header lines.
pub fn handshake_request(path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut out = format!(
        "GET {path} HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
    );
    for (k, v) in extra {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// What a client runs over: a TCP socket, or TLS over one.
pub trait Wire: Read + Write {
    /// Sets the socket's read timeout.
    fn set_read_timeout(&self, d: Option<Duration>) -> std::io::Result<()>;
}

impl Wire for TcpStream {
    fn set_read_timeout(&self, d: Option<Duration>) -> std::io::Result<()> {
        TcpStream::set_read_timeout(self, d)
    }
}

impl Wire for rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    fn set_read_timeout(&self, d: Option<Duration>) -> std::io::Result<()> {
        self.sock.set_read_timeout(d)
    }
}

/// A client connection: the handshake's answer, then frames.
pub struct WsClient<S: Wire = TcpStream> {
    pub stream: S,
    /// Bytes read past what was consumed.
    pending: Vec<u8>,
}

/// A response head as read by `WsClient::read_head`.
pub struct Head {
    pub status: u16,
    /// The head as text, lines and all.
    pub raw: String,
}

impl Head {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.raw.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

impl WsClient {
    /// Connects to `addr` (5 s read timeout).
    pub fn connect(addr: SocketAddr) -> WsClient {
        WsClient::over(TcpStream::connect(addr).expect("connect"))
    }

    /// Connects and sends the handshake for `path`; returns the client and
    /// the response head.
    pub fn open(addr: SocketAddr, path: &str, extra: &[(&str, &str)]) -> (WsClient, Head) {
        WsClient::connect(addr).handshake(path, extra)
    }

    /// Connects and completes the handshake for `path`, asserting a 101.
    pub fn upgraded(addr: SocketAddr, path: &str, extra: &[(&str, &str)]) -> WsClient {
        WsClient::connect(addr).upgrade(path, extra)
    }
}

impl<S: Wire> WsClient<S> {
    /// A client over a connected `stream` (5 s read timeout).
    pub fn over(stream: S) -> WsClient<S> {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        WsClient {
            stream,
            pending: Vec::new(),
        }
    }

    /// Sends the handshake for `path`; returns the client and the
    /// response head.
    pub fn handshake(mut self, path: &str, extra: &[(&str, &str)]) -> (WsClient<S>, Head) {
        self.send_raw(&handshake_request(path, extra));
        let head = self.read_head();
        (self, head)
    }

    /// Completes the handshake for `path`, asserting a 101.
    pub fn upgrade(self, path: &str, extra: &[(&str, &str)]) -> WsClient<S> {
        let (c, head) = self.handshake(path, extra);
        assert_eq!(head.status, 101, "handshake refused: {}", head.raw);
        assert_eq!(
            head.header("sec-websocket-accept"),
            Some(ACCEPT),
            "{}",
            head.raw
        );
        assert!(head
            .header("upgrade")
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket")));
        assert!(head
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("upgrade")));
        c
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
        self.stream.flush().expect("flush");
    }

    fn fill(&mut self) -> usize {
        let mut b = [0u8; 65536];
        match self.stream.read(&mut b) {
            Ok(n) => {
                self.pending.extend_from_slice(&b[..n]);
                n
            }
            Err(e) => panic!("read: {e}"),
        }
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        while self.pending.len() < n {
            assert!(
                self.fill() > 0,
                "closed with {} of {n} bytes",
                self.pending.len()
            );
        }
        self.pending.drain(..n).collect()
    }

    /// Reads a response head (through its blank line).
    pub fn read_head(&mut self) -> Head {
        loop {
            if let Some(i) = self.pending.windows(4).position(|w| w == b"\r\n\r\n") {
                let raw: Vec<u8> = self.pending.drain(..i + 4).collect();
                let raw = String::from_utf8_lossy(&raw).into_owned();
                let status = raw
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| panic!("bad head {raw:?}"));
                return Head { status, raw };
            }
            assert!(self.fill() > 0, "closed before a head: {:?}", self.pending);
        }
    }

    /// Reads `n` body bytes after a head.
    pub fn read_bytes(&mut self, n: usize) -> Vec<u8> {
        self.take(n)
    }

    /// Reads the JSON body of the gateway's error answer with `head`.
    pub fn read_json(&mut self, head: &Head) -> serde_json::Value {
        let len: usize = head
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let body = self.take(len);
        serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)))
    }

    /// Sends one final frame, masked as a client must.
    pub fn send(&mut self, opcode: u8, payload: &[u8]) {
        let mask = [0x37u8, 0xfa, 0x21, 0x3d];
        let mut f = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n < 65536 => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.send_raw(&f);
    }

    /// Reads one frame: (final bit and opcode byte, payload). Server
    /// frames are never masked.
    pub fn recv(&mut self) -> (u8, Vec<u8>) {
        let h = self.take(2);
        assert_eq!(h[1] & 0x80, 0, "server frame masked");
        let len = match h[1] & 0x7f {
            126 => u16::from_be_bytes(self.take(2).try_into().unwrap()) as usize,
            127 => u64::from_be_bytes(self.take(8).try_into().unwrap()) as usize,
            n => n as usize,
        };
        (h[0], self.take(len))
    }

    /// Every byte up to the end of the stream (those already read first);
    /// an error if the stream does not end cleanly.
    pub fn read_to_end(&mut self) -> std::io::Result<Vec<u8>> {
        let mut got = std::mem::take(&mut self.pending);
        self.stream.read_to_end(&mut got).map(|_| got)
    }

    /// Whether the peer closes (EOF or reset; over TLS also a TCP end
    /// without close_notify) within `timeout`, with every byte it sent
    /// before.
    pub fn closed_within(&mut self, timeout: Duration) -> (bool, Vec<u8>) {
        let _ = self.stream.set_read_timeout(Some(timeout));
        let deadline = std::time::Instant::now() + timeout;
        let mut b = [0u8; 4096];
        loop {
            match self.stream.read(&mut b) {
                Ok(0) => return (true, std::mem::take(&mut self.pending)),
                Ok(n) => self.pending.extend_from_slice(&b[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof
                    ) =>
                {
                    return (true, std::mem::take(&mut self.pending))
                }
                Err(_) => return (false, std::mem::take(&mut self.pending)),
            }
            if std::time::Instant::now() >= deadline {
                return (false, std::mem::take(&mut self.pending));
            }
        }
    }
}

/// `n` bytes of a pattern that differs at every offset mod 251.
pub fn bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// Sends `payload` as one `opcode` frame and expects it back unchanged.
pub fn echo<S: Wire>(c: &mut WsClient<S>, opcode: u8, payload: &[u8]) {
    c.send(opcode, payload);
    let (head, got) = c.recv();
    assert_eq!(
        head,
        0x80 | opcode,
        "frame type for {} bytes",
        payload.len()
    );
    assert!(
        got == payload,
        "echo of {} bytes came back as {} different bytes",
        payload.len(),
        got.len()
    );
}

/// Sends a close with `code` and expects the server's close with the same
/// code, then the end of the connection.
pub fn close<S: Wire>(c: &mut WsClient<S>, code: u16) {
    let mut body = code.to_be_bytes().to_vec();
    body.extend_from_slice(b"bye");
    c.send(CLOSE, &body);
    let (head, got) = c.recv();
    assert_eq!(head, 0x80 | CLOSE);
    assert_eq!(got[..2], code.to_be_bytes(), "close code {got:?}");
    let (closed, rest) = c.closed_within(WAIT);
    assert!(
        closed && rest.is_empty(),
        "not closed after the close handshake: {rest:?}"
    );
}

/// Asserts the gateway closes `c` with no further byte, no sooner than
/// `not_before` after `since` and within `WAIT`.
pub fn closed_silently<S: Wire>(c: &mut WsClient<S>, since: Instant, not_before: Duration) {
    let (closed, rest) = c.closed_within(WAIT);
    assert!(closed, "still open {:?} after", since.elapsed());
    assert!(rest.is_empty(), "bytes before the close: {rest:?}");
    let took = since.elapsed();
    assert!(
        took >= not_before,
        "closed after {took:?}, before {not_before:?}"
    );
}

/// Sends SIGTERM to `gw` (started with `shutdown_grace_ms = 700`) while
/// `c` is open: a message `c` echoes during the grace period, then `c` is
/// closed with no further byte after at least 500 ms, and the gateway
/// exits 0, counting `c` as dropped.
pub fn drained_on_sigterm<S: Wire>(
    gw: &mut super::Gateway,
    c: &mut WsClient<S>,
    opcode: u8,
    during: &[u8],
) {
    let t = Instant::now();
    gw.signal(libc::SIGTERM);
    assert!(gw.wait_log("shutting down", WAIT));
    echo(c, opcode, during);
    closed_silently(c, t, Duration::from_millis(500));
    let st = gw
        .wait_exit(WAIT)
        .expect("gateway did not exit after the grace period");
    assert!(st.success(), "exit status {st}");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "exit took {:?}",
        t.elapsed()
    );
    let stopped = gw.log_entries("stopped");
    assert_eq!(stopped.len(), 1, "logs: {:?}", gw.logs());
    assert_eq!(stopped[0]["in_flight_dropped"], 1, "{}", stopped[0]);
}

/// With `upgrade_idle_timeout_ms = 1000` on `gw`: a connection `open`ed
/// to `/echo` with traffic every 250 ms stays open past the timeout, one
/// to `/silent` is closed silently after it (and counted), and the busy
/// one idles out too once it stops.
pub fn idles_out_unless_busy<S: Wire>(gw: &super::Gateway, open: impl Fn(&str) -> WsClient<S>) {
    let mut busy = open("/echo");
    for i in 0..6u8 {
        std::thread::sleep(Duration::from_millis(250));
        echo(&mut busy, BINARY, &[i]);
    }
    let mut idle = open("/silent");
    closed_silently(&mut idle, Instant::now(), Duration::from_millis(800));
    assert!(super::eventually(WAIT, || gw
        .counter("ringway_timeouts_total{kind=\"upgrade\"}")
        >= 1.0));
    let (closed, _) = busy.closed_within(WAIT);
    assert!(closed, "the busy one idles out too once it stops");
}

/// Echo of binary and text messages of every length class (0 B to 1 MiB),
/// a ping's pong, and 20 messages in flight at once both ways.
pub fn echo_every_kind<S: Wire>(c: &mut WsClient<S>) {
    for n in [0, 125, 126, 65_535, 65_536, 1 << 20] {
        let payload = bytes(n);
        echo(c, BINARY, &payload);
    }
    for text in ["", "hello", &"é".repeat(62), &"x".repeat(65_536)] {
        echo(c, TEXT, text.as_bytes());
    }
    c.send(PING, b"are you there");
    assert_eq!(c.recv(), (0x80 | PONG, b"are you there".to_vec()));
    // Several messages in flight at once, both ways.
    for i in 0..20u8 {
        c.send(BINARY, &[i; 300]);
    }
    for i in 0..20u8 {
        assert_eq!(c.recv(), (0x80 | BINARY, vec![i; 300]));
    }
}
