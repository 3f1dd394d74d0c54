//! Idle keep-alive connections held open against a proxy, for its memory
//! figure: each does one request (so the proxy has set up its per-connection
//! state), then sits idle until dropped.
//!
//! Dropping resets the connections (SO_LINGER 0) so that tens of thousands of
//! them do not park loopback ports in TIME_WAIT for the next proxy. It must
//! never hold a connection past its `Idle` value.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Open idle connections.
pub struct Idle {
    conns: Vec<TcpStream>,
}

impl Idle {
    /// Opens up to `n` connections to `addr`, each answering one GET of `path`.
    pub fn open(addr: SocketAddr, host: &str, path: &str, n: usize) -> Result<Idle, String> {
        let req = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\n\r\n");
        let mut conns = Vec::with_capacity(n);
        let mut buf = [0u8; 4096];
        for i in 0..n {
            let fail = |e: std::io::Error| format!("idle connection {i} of {n}: {e}");
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(fail)?;
            s.set_read_timeout(Some(Duration::from_secs(5)))
                .map_err(fail)?;
            s.write_all(req.as_bytes()).map_err(fail)?;
            // One small response; its head and 13-byte body arrive together on loopback.
            let got = s.read(&mut buf).map_err(fail)?;
            if got == 0 || !buf.starts_with(b"HTTP/1.1 200") {
                return Err(format!("idle connection {i} of {n}: no 200 response"));
            }
            conns.push(s);
        }
        Ok(Idle { conns })
    }

    /// How many are open.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether none are open.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }
}

impl Drop for Idle {
    fn drop(&mut self) {
        for s in &self.conns {
            let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
        }
    }
}
