//! The admin listener (control plane): `/metrics` in Prometheus text format,
//! `/healthz`, `/upstreams` (each upstream target's health, outlier state
//! and counters as JSON), and `/revocations` (`revocations`) to change the
//! JWT revocation list.
//!
//! Blocking sockets on plain threads, away from the shards: one accept
//! thread, and one thread per connection up to `MAX_CONNECTIONS` (beyond
//! that a connection gets 503 `admin_busy` at once). Each connection has
//! one request, read before a whole-request deadline (`request`), so a slow
//! client holds one slot for at most `REQUEST_DEADLINE` and never delays
//! another. A new endpoint is one arm of `route`; an auth check belongs in
//! `serve` between reading and routing.
//!
//! Must never: be reachable on the data-plane listener, take anything but
//! relaxed reads of shard counters (it writes only its own counter set),
//! let one connection wait on another, or choose a status (`crate::error`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering::AcqRel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::Compiled;
use crate::error::{self, ErrorCode};
use crate::observe::log::{self, Val};
use crate::observe::request_id::{RequestIdGen, ID_LEN};
use crate::observe::{Metrics, ShardMetrics};

mod request;
mod revocations;

use request::{ReadError, Request};
use revocations::Refusal;

/// Admin connections served at once; more are answered 503 `admin_busy`.
pub const MAX_CONNECTIONS: usize = 16;
/// From accept to the last byte of the request (not per read).
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(5);
/// How long writing a response may block.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the accept thread may block writing a 503.
const BUSY_WRITE_TIMEOUT: Duration = Duration::from_millis(100);

/// What every admin connection thread shares.
struct Admin {
    metrics: Metrics,
    cfg: Arc<Compiled>,
    /// The upstreams' shared state, for their metrics and `/upstreams`.
    upstreams: Arc<crate::upstream::Shared>,
    /// Connections being served now.
    active: AtomicUsize,
    /// The admin threads' one lock (control plane, never on a shard):
    /// request ids, and the error counters, whose `Counter` needs one
    /// writer at a time.
    own: Mutex<(RequestIdGen, Arc<ShardMetrics>)>,
}

impl Admin {
    fn own(&self) -> std::sync::MutexGuard<'_, (RequestIdGen, Arc<ShardMetrics>)> {
        self.own.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn request_id(&self) -> String {
        let mut id = [0u8; ID_LEN];
        self.own().0.next(&mut id);
        String::from_utf8_lossy(&id).into_owned()
    }

    /// Counts an error in `ringway_errors_total`.
    fn count(&self, code: ErrorCode) {
        self.own().1.errors[code as usize].inc();
    }
}

/// A connection slot, given back when the connection's thread ends.
struct Slot(Arc<Admin>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, AcqRel);
    }
}

/// Binds the admin listener and serves it on background threads; its
/// errors are counted in `counters` (a set no shard writes).
pub fn spawn(
    addr: SocketAddr,
    metrics: Metrics,
    counters: Arc<ShardMetrics>,
    cfg: Arc<Compiled>,
    upstreams: Arc<crate::upstream::Shared>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    let admin = Arc::new(Admin {
        metrics,
        cfg,
        upstreams,
        active: AtomicUsize::new(0),
        own: Mutex::new((RequestIdGen::new(usize::MAX), counters)),
    });
    std::thread::Builder::new()
        .name("ringway-admin".into())
        .spawn(move || {
            for stream in listener.incoming() {
                match stream {
                    Ok(s) => admit(s, &admin),
                    // Out of descriptors and the like: do not spin.
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        })?;
    Ok(bound)
}

/// Hands `s` to a thread of its own, or answers 503 when all slots are taken.
fn admit(s: TcpStream, admin: &Arc<Admin>) {
    let accepted = Instant::now();
    if admin.active.fetch_add(1, AcqRel) >= MAX_CONNECTIONS {
        admin.active.fetch_sub(1, AcqRel);
        busy(s, admin);
        return;
    }
    let slot = Slot(admin.clone());
    let spawned = std::thread::Builder::new()
        .name("ringway-admin-conn".into())
        .stack_size(256 * 1024)
        .spawn(move || serve(s, accepted, &slot.0));
    if let Err(e) = spawned {
        log::warn(
            "admin connection dropped",
            &[("error", Val::Str(&e.to_string()))],
        );
    }
}

/// The 503 for a connection over the cap, written without waiting on the
/// client: the accept thread must stay free for the next one.
fn busy(mut s: TcpStream, admin: &Admin) {
    let _ = s.set_write_timeout(Some(BUSY_WRITE_TIMEOUT));
    let rid = admin.request_id();
    let _ = refuse(
        &mut s,
        admin,
        &rid,
        ErrorCode::AdminBusy,
        ("", "retry-after: 1\r\n"),
    );
    let _ = s.shutdown(std::net::Shutdown::Write);
    // Drop what already arrived so the close is not a reset; no waiting.
    let _ = s.set_nonblocking(true);
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        match s.read(&mut sink) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
}

/// Reads one request before the deadline, answers it and closes.
fn serve(mut s: TcpStream, accepted: Instant, admin: &Admin) {
    let _ = s.set_write_timeout(Some(WRITE_TIMEOUT));
    let _ = s.set_nodelay(true);
    let rid = admin.request_id();
    let req = match request::read(&mut s, accepted + REQUEST_DEADLINE) {
        Ok(r) => r,
        Err(ReadError::Gone) => return,
        Err(ReadError::Refuse(code)) => {
            let _ = refuse(&mut s, admin, &rid, code, ("", ""));
            request::linger_close(&mut s);
            return;
        }
    };
    let _ = match route(&req, admin) {
        Ok((ctype, body)) => write(&mut s, 200, ctype, &body, &rid, ""),
        Err((code, detail)) => {
            let allow = match code {
                ErrorCode::AdminMethodNotAllowed if req.path == "/revocations" => {
                    format!("allow: {}\r\n", revocations::ALLOW)
                }
                ErrorCode::AdminMethodNotAllowed => "allow: GET\r\n".to_owned(),
                _ => String::new(),
            };
            refuse(&mut s, admin, &rid, code, (&detail, &allow))
        }
    };
}

/// The endpoint for `req`: (content type, body) of the 200, or the refusal.
fn route(req: &Request, admin: &Admin) -> Result<(&'static str, String), Refusal> {
    let get_only = |body: fn(&Admin) -> String| match req.method.as_str() {
        "GET" => Ok(body(admin)),
        _ => Err((ErrorCode::AdminMethodNotAllowed, "use GET".to_owned())),
    };
    match req.path.as_str() {
        "/revocations" => {
            revocations::handle(&admin.cfg.auth, &req.method, &req.body).map(|b| ("text/plain", b))
        }
        "/metrics" => get_only(|a| {
            let mut out = a.metrics.render();
            let now = crate::ratelimit::clock();
            crate::upstream::shared::render_metrics(&a.upstreams, &a.cfg, &mut out, now);
            out
        })
        .map(|b| ("text/plain; version=0.0.4", b)),
        "/upstreams" => get_only(|a| {
            let now = crate::ratelimit::clock();
            crate::upstream::shared::render_json(&a.upstreams, &a.cfg, now)
        })
        .map(|b| ("application/json", b)),
        "/healthz" => get_only(|_| "ok\n".to_owned()).map(|b| ("text/plain", b)),
        _ => Err((ErrorCode::AdminNotFound, String::new())),
    }
}

/// Writes the JSON error for `code` (with `detail` in its message and
/// `extra` header lines), counts and logs it.
fn refuse(
    s: &mut TcpStream,
    admin: &Admin,
    rid: &str,
    code: ErrorCode,
    (detail, extra): (&str, &str),
) -> std::io::Result<()> {
    admin.count(code);
    let client = s.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    log::warn(
        "admin request rejected",
        &[
            ("status", Val::Num(u64::from(code.status()))),
            ("code", Val::Str(code.as_str())),
            ("request_id", Val::Str(rid)),
            ("client", Val::Str(&client)),
        ],
    );
    let mut body = String::with_capacity(192);
    error::write_json_body_detail(&mut body, code, rid, detail);
    write(s, code.status(), "application/json", &body, rid, extra)
}

/// Writes one whole response with `connection: close`.
fn write(
    s: &mut TcpStream,
    status: u16,
    ctype: &str,
    body: &str,
    rid: &str,
    extra: &str,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        s => error::reason_phrase(s),
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nx-request-id: {rid}\r\n{extra}connection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body.as_bytes())
}
