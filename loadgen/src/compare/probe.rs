//! Single blocking HTTP/1.1 requests outside the load: the start-up check of
//! each proxy and the upstream's connection/request counters.
//!
//! It must never be used for load: one connection per call, closed after.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// (connections, requests) from the upstream's stats endpoint.
pub(super) fn upstream_stats(addr: SocketAddr) -> Option<(u64, u64)> {
    let (_, body) = probe(addr, "stats", crate::serve::STATS_PATH).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
    Some((v["connections"].as_u64()?, v["requests"].as_u64()?))
}

/// One GET on a fresh connection (closed after); status and body.
pub(super) fn probe(addr: SocketAddr, host: &str, path: &str) -> Result<(u16, Vec<u8>), String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(e.to_string()),
        }
        if let Ok(Some(h)) = crate::response::parse_head(&buf, false) {
            if let crate::response::Framing::Length(n) = h.framing {
                if buf.len() >= h.len + n as usize {
                    return Ok((h.status, buf[h.len..h.len + n as usize].to_vec()));
                }
            }
        }
    }
    let h = crate::response::parse_head(&buf, false)
        .map_err(|_| "malformed response".to_string())?
        .ok_or("incomplete response")?;
    Ok((h.status, buf[h.len..].to_vec()))
}
