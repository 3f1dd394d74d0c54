//! The admin listener (control plane): `/metrics` in Prometheus text format.
//!
//! Runs on its own plain thread with blocking sockets, away from the shards.
//! Must never: be reachable on the data-plane listener, or take anything but
//! relaxed reads of shard counters.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use crate::observe::Metrics;

/// Binds the admin listener and serves it on a background thread.
pub fn spawn(addr: SocketAddr, metrics: Metrics) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new()
        .name("ringway-admin".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = serve(stream, &metrics);
            }
        })?;
    Ok(bound)
}

fn serve(mut s: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = [0u8; 4096];
    let mut len = 0;
    while !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf[len..])?;
        if n == 0 || len + n == buf.len() {
            return Ok(());
        }
        len += n;
    }
    let line = buf[..len].split(|&b| b == b'\r').next().unwrap_or(b"");
    let (status, ctype, body) = match line {
        l if l.starts_with(b"GET /metrics ") => {
            ("200 OK", "text/plain; version=0.0.4", metrics.render())
        }
        l if l.starts_with(b"GET /healthz ") => ("200 OK", "text/plain", "ok\n".to_string()),
        _ => ("404 Not Found", "text/plain", "not found\n".to_string()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body.as_bytes())
}
