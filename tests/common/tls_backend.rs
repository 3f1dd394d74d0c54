//! `TlsBackend`: a real HTTPS upstream for the upstream-TLS wire tests, on
//! std threads with rustls (`StreamOwned`): a certificate of the test's CA,
//! optionally a required client certificate, keep-alive, and counters of
//! what the gateway did (TCP connections, completed and resumed handshakes,
//! requests, the SNI it sent). `/healthz` answers 200 or 503 as switched;
//! a WebSocket upgrade request gets a 101 and the connection closes.
//!
//! Must never: listen on anything but loopback, or block a thread longer
//! than its read timeout (a hung gateway must fail a test, never hang it).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use crate::tls::{Leaf, TestCa};

/// What the backend saw, shared with its threads.
#[derive(Default)]
pub struct Seen {
    /// TCP connections accepted.
    pub accepted: AtomicUsize,
    /// Handshakes completed.
    pub handshakes: AtomicUsize,
    /// Of those, resumed ones.
    pub resumed: AtomicUsize,
    /// Requests answered (health checks included).
    pub requests: AtomicUsize,
    /// Health checks answered.
    pub checks: AtomicUsize,
    /// The SNI of the last handshake (`None` when none was sent).
    pub sni: Mutex<Option<Option<String>>>,
    /// `/healthz` answers 503 while set.
    pub unhealthy: AtomicBool,
    /// When not 0: each connection is closed (close_notify, then FIN) after
    /// answering this many requests, as an upstream's keep-alive limit does.
    pub close_after: AtomicUsize,
    stop: AtomicBool,
}

/// An HTTPS upstream on a loopback port.
pub struct TlsBackend {
    addr: SocketAddr,
    /// What it saw.
    pub seen: Arc<Seen>,
}

impl TlsBackend {
    /// Serves `leaf`; with `client_ca`, requires a client certificate it signed.
    pub fn start(leaf: &Leaf, client_ca: Option<&TestCa>) -> TlsBackend {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&leaf.cert)
            .expect("chain")
            .map(|c| c.expect("cert"))
            .collect();
        let key = PrivateKeyDer::from_pem_file(&leaf.key).expect("key");
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("versions");
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add(ca.der()).expect("client root");
                let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .expect("client verifier");
                builder.with_client_cert_verifier(v)
            }
        };
        let config = Arc::new(builder.with_single_cert(chain, key).expect("server cert"));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Seen::default());
        let s = seen.clone();
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(tcp) = tcp else { continue };
                s.accepted.fetch_add(1, Ordering::SeqCst);
                let (config, s) = (config.clone(), s.clone());
                std::thread::spawn(move || serve(tcp, config, &s));
            }
        });
        TlsBackend { addr, seen }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A counter's value now.
    pub fn count(&self, c: fn(&Seen) -> &AtomicUsize) -> usize {
        c(&self.seen).load(Ordering::SeqCst)
    }

    /// The SNI of the last completed handshake (outer `None`: none yet).
    pub fn last_sni(&self) -> Option<Option<String>> {
        self.seen.sni.lock().expect("sni").clone()
    }
}

impl Drop for TlsBackend {
    fn drop(&mut self) {
        self.seen.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// One connection: the handshake, then requests until the gateway closes.
fn serve(tcp: TcpStream, config: Arc<ServerConfig>, s: &Seen) {
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(conn) = ServerConnection::new(config) else {
        return;
    };
    let mut tls = StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        if tls.conn.complete_io(&mut tls.sock).is_err() {
            // The rustls alert (a refused client certificate, say) goes out.
            let _ = tls.conn.write_tls(&mut tls.sock);
            return;
        }
    }
    s.handshakes.fetch_add(1, Ordering::SeqCst);
    if tls.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
        s.resumed.fetch_add(1, Ordering::SeqCst);
    }
    *s.sni.lock().expect("sni") = Some(tls.conn.server_name().map(str::to_string));
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let mut answered = 0;
    loop {
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match tls.read(&mut tmp) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        buf.drain(..end);
        let path = head.split(' ').nth(1).unwrap_or("").to_string();
        s.requests.fetch_add(1, Ordering::SeqCst);
        if head
            .to_ascii_lowercase()
            .contains("\r\nupgrade: websocket\r\n")
        {
            let switch = "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n";
            let _ = tls.write_all(switch.as_bytes()).and_then(|_| tls.flush());
            return;
        }
        let status = if path == "/healthz" {
            s.checks.fetch_add(1, Ordering::SeqCst);
            if s.unhealthy.load(Ordering::SeqCst) {
                "503 Service Unavailable"
            } else {
                "200 OK"
            }
        } else {
            "200 OK"
        };
        let body = format!("tls backend saw {path}");
        let resp = format!(
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\nx-tls-backend: yes\r\n\r\n{body}",
            body.len()
        );
        if tls
            .write_all(resp.as_bytes())
            .and_then(|_| tls.flush())
            .is_err()
        {
            return;
        }
        answered += 1;
        if answered == s.close_after.load(Ordering::SeqCst) {
            tls.conn.send_close_notify();
            let _ = tls.flush();
            return;
        }
    }
}
