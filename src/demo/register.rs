//! How the demo's sample services join the gateway: each registers itself
//! with the built-in registry (`PUT /registry/services/{name}/instances/{id}`
//! on the admin listener) and renews it every third of its TTL, as
//! `examples/registry/register.sh` does for a real service.
//!
//! Must never: stop the demo when the registry is not answering yet (it
//! retries), or outlive the process (a detached thread; the instances
//! expire with their TTL once the demo stops).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Seconds an instance lives without a heartbeat.
pub const TTL_S: u64 = 10;

/// The environment variable the demo's `[registry] token` is read from.
pub const TOKEN_VAR: &str = "RINGWAY_DEMO_REGISTRY_TOKEN";

/// Registers every `(service, addr)` with the registry at `admin`, then
/// keeps them alive; calls `ready` once all are registered.
pub fn keep_registered(
    admin: SocketAddr,
    token: String,
    services: Vec<(String, SocketAddr)>,
    ready: impl FnOnce() + Send + 'static,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("demo-register".into())
        .spawn(move || {
            let mut ready = Some(ready);
            loop {
                let all = services
                    .iter()
                    .filter(|(name, addr)| register(admin, &token, name, *addr))
                    .count();
                if all == services.len() {
                    if let Some(r) = ready.take() {
                        r();
                    }
                    std::thread::sleep(Duration::from_secs(TTL_S / 3));
                } else {
                    // The gateway is still starting: try again soon.
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        })?;
    Ok(())
}

/// One registration (idempotent: it doubles as the heartbeat, and brings
/// the instance back if it expired meanwhile); true on 200 or 201.
fn register(admin: SocketAddr, token: &str, name: &str, addr: SocketAddr) -> bool {
    let body = format!("{{\"addr\":\"{addr}\",\"ttl_s\":{TTL_S},\"metadata\":{{\"demo\":true}}}}");
    let head = format!(
        "PUT /registry/services/{name}/instances/{name}-{port} HTTP/1.1\r\nHost: {admin}\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {len}\r\nConnection: close\r\n\r\n",
        port = addr.port(),
        len = body.len()
    );
    let Ok(mut s) = TcpStream::connect_timeout(&admin, Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(head.as_bytes()).is_err() || s.write_all(body.as_bytes()).is_err() {
        return false;
    }
    let mut status = [0u8; 12];
    s.read_exact(&mut status).is_ok() && (status.ends_with(b" 200") || status.ends_with(b" 201"))
}
