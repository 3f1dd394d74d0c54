//! The admin listener (control plane): `/metrics` in Prometheus text format,
//! and `/revocations` (`revocations`) to change the JWT revocation list.
//!
//! Runs on its own plain thread with blocking sockets, away from the shards.
//! Must never: be reachable on the data-plane listener, or take anything but
//! relaxed reads of shard counters.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use std::sync::Arc;

use crate::config::Compiled;
use crate::observe::Metrics;

mod revocations;

/// Binds the admin listener and serves it on a background thread.
pub fn spawn(
    addr: SocketAddr,
    metrics: Metrics,
    cfg: Arc<Compiled>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new()
        .name("ringway-admin".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = serve(stream, &metrics, &cfg);
            }
        })?;
    Ok(bound)
}

fn serve(mut s: TcpStream, metrics: &Metrics, cfg: &Compiled) -> std::io::Result<()> {
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
    let line = buf[..len]
        .split(|&b| b == b'\r')
        .next()
        .unwrap_or(b"")
        .to_vec();
    let line = line.as_slice();
    let (status, ctype, body) = match line {
        l if l.split(|&b| b == b' ').nth(1) == Some(b"/revocations") => {
            let Some(body) = read_body(&mut s, &mut buf, len)? else {
                return Ok(());
            };
            let method = l.split(|&b| b == b' ').next().unwrap_or(b"");
            let (status, text) = revocations::handle(&cfg.auth, method, body);
            (status, "text/plain", text)
        }
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

/// The request body after the head in `buf[..len]` (Content-Length only, up
/// to the buffer size); `None` when it is missing or too large.
fn read_body<'b>(
    s: &mut TcpStream,
    buf: &'b mut [u8; 4096],
    mut len: usize,
) -> std::io::Result<Option<&'b [u8]>> {
    let Some(end) = buf[..len]
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
    else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let cl = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(Some(0), |v| v.trim().parse::<usize>().ok());
    let Some(want) = cl.filter(|n| end + n <= buf.len()) else {
        return Ok(None);
    };
    while len < end + want {
        let n = s.read(&mut buf[len..end + want])?;
        if n == 0 {
            return Ok(None);
        }
        len += n;
    }
    Ok(Some(&buf[end..end + want]))
}
