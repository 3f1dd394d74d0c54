//! WebSocket on both sides of the gateway for the upgrade tests: a real
//! server (`ws_server.py`, on the `websockets` package) on an ephemeral
//! port, and a client written here byte by byte (the handshake, masked
//! frames out, frames in), so the tests assert on the bytes that crossed.
//!
//! Must never: skip a test silently. Without python3 or websockets,
//! `WsServer::start` panics saying what to install.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The running server; dropping it stops the process.
pub struct WsServer {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl WsServer {
    /// Starts the server (see `ws_server.py` for what each path does).
    pub fn start() -> WsServer {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/common/ws_server.py");
        // The asyncio API came with websockets 13.
        super::python::require("websockets.asyncio.server", "WebSocket", "'websockets>=13'");
        let mut child = Command::new("python3")
            .arg(script)
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

/// A client connection: the handshake's answer, then frames.
pub struct WsClient {
    pub stream: TcpStream,
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
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        WsClient {
            stream,
            pending: Vec::new(),
        }
    }

    /// Connects and sends the handshake for `path`; returns the client and
    /// the response head.
    pub fn open(addr: SocketAddr, path: &str, extra: &[(&str, &str)]) -> (WsClient, Head) {
        let mut c = WsClient::connect(addr);
        c.send_raw(&handshake_request(path, extra));
        let head = c.read_head();
        (c, head)
    }

    /// Connects and completes the handshake for `path`, asserting a 101.
    pub fn upgraded(addr: SocketAddr, path: &str, extra: &[(&str, &str)]) -> WsClient {
        let (c, head) = WsClient::open(addr, path, extra);
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

    /// Whether the peer closes (EOF or reset) within `timeout`, with every
    /// byte it sent before.
    pub fn closed_within(&mut self, timeout: Duration) -> (bool, Vec<u8>) {
        let _ = self.stream.set_read_timeout(Some(timeout));
        let deadline = std::time::Instant::now() + timeout;
        let mut b = [0u8; 4096];
        loop {
            match self.stream.read(&mut b) {
                Ok(0) => return (true, std::mem::take(&mut self.pending)),
                Ok(n) => self.pending.extend_from_slice(&b[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
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
