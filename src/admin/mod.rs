//! The admin listener (control plane): a small HTTP API over the running
//! gateway. Each endpoint is one entry of `endpoints::ENDPOINTS`; the JSON
//! views live in `routes`, `config` and `status`, `/revocations` in
//! `revocations`, the token check in `auth`.
//!
//! Blocking sockets on plain threads, away from the shards: one accept
//! thread, and one thread per connection up to `MAX_CONNECTIONS` (beyond
//! that a connection gets 503 `admin_busy` at once). Each connection has
//! one request, read before a whole-request deadline (`request`), so a slow
//! client holds one slot for at most `REQUEST_DEADLINE` and never delays
//! another. A request is parsed with the data plane's parser and rules,
//! then (before its body is read) checked for the admin token and routed;
//! every refusal is the gateway's JSON error with a request id.
//!
//! Must never: be reachable on the data-plane listener, make a shard wait
//! (it takes only relaxed reads of shard counters and immutable snapshots,
//! and writes only its own counter set), let one connection wait on
//! another, or choose a status (`crate::error`).

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering::AcqRel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::Compiled;
use crate::error::ErrorCode;
use crate::http::Method;
use crate::observe::log::{self, Val};
use crate::observe::request_id::{RequestIdGen, ID_LEN};
use crate::observe::{Metrics, ShardMetrics};
use crate::server::Readiness;

mod auth;
mod config;
mod endpoints;
mod request;
mod respond;
mod revocations;
mod routes;
mod status;

use endpoints::Endpoint;
use request::{Parsed, ReadError};
use respond::Exchange;

/// Admin connections served at once; more are answered 503 `admin_busy`.
pub const MAX_CONNECTIONS: usize = 16;
/// From accept to the last byte of the request (not per read).
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(5);
/// How long writing a response may block.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the accept thread may block writing a 503.
const BUSY_WRITE_TIMEOUT: Duration = Duration::from_millis(100);

/// What the admin listener is started with.
pub struct AdminStart {
    /// Every shard's counters, then one set for the admin listener's own.
    pub metrics: Metrics,
    /// How many shards run (the counter sets before the admin's).
    pub shards: usize,
    /// The compiled configuration.
    pub cfg: Arc<Compiled>,
    /// The upstreams' shared state, for their metrics and `/upstreams`.
    pub upstreams: Arc<crate::upstream::Shared>,
    /// Starting, ready or draining, for `/readyz`.
    pub readiness: Arc<Readiness>,
    /// The access log's and the span exporter's counters.
    pub telemetry: crate::observe::telemetry::TelemetryStats,
}

/// What every admin connection thread shares.
struct Admin {
    plane: AdminStart,
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

/// An answer other than 200: the error, a detail appended to its message,
/// and extra header lines (`allow`, `www-authenticate`, `retry-after`).
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The error (and so the status).
    pub code: ErrorCode,
    /// Appended to the message after `": "` when not empty.
    pub detail: String,
    /// Pre-rendered `name: value\r\n` lines.
    pub headers: String,
}

impl Refusal {
    /// `code` with a detail for its message.
    pub fn detail(code: ErrorCode, detail: impl Into<String>) -> Refusal {
        Refusal {
            code,
            detail: detail.into(),
            headers: String::new(),
        }
    }
}

impl From<ErrorCode> for Refusal {
    fn from(code: ErrorCode) -> Refusal {
        Refusal::detail(code, "")
    }
}

/// A connection slot, given back when the connection's thread ends.
struct Slot(Arc<Admin>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, AcqRel);
    }
}

/// Binds the admin listener on `addr` and serves it on background threads;
/// returns the bound address.
pub fn spawn(addr: SocketAddr, plane: AdminStart) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    let counters = plane.metrics.admin();
    let admin = Arc::new(Admin {
        plane,
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
fn busy(s: TcpStream, admin: &Admin) {
    let _ = s.set_write_timeout(Some(BUSY_WRITE_TIMEOUT));
    let r = Refusal {
        headers: "retry-after: 1\r\n".into(),
        ..ErrorCode::AdminBusy.into()
    };
    let mut x = Exchange::new(s, admin.request_id());
    let _ = x.refuse(admin, &r);
    let mut s = x.s;
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
fn serve(s: TcpStream, accepted: Instant, admin: &Admin) {
    yield_to_shards();
    let _ = s.set_write_timeout(Some(WRITE_TIMEOUT));
    let _ = s.set_nodelay(true);
    let mut x = Exchange::new(s, admin.request_id());
    let deadline = accepted + REQUEST_DEADLINE;
    // Refused before the body is read: linger so the client sees the error.
    let early = |x: &mut Exchange, r: Refusal| {
        let _ = x.refuse(admin, &r);
        request::linger_close(&mut x.s);
    };
    let head = match request::read_head(&mut x.s, deadline, &admin.plane.cfg.server) {
        Ok(h) => h,
        Err(ReadError::Gone) => return,
        Err(ReadError::Refuse(code)) => return early(&mut x, code.into()),
    };
    x.head_only = head.parsed.method == Method::Head;
    let endpoint = match gate(&head.parsed, admin) {
        Ok(e) => e,
        Err(r) => return early(&mut x, r),
    };
    let req = match head.read_body(&mut x.s, deadline) {
        Ok(r) => r,
        Err(ReadError::Gone) => return,
        Err(ReadError::Refuse(code)) => return early(&mut x, code.into()),
    };
    let _ = match (endpoint.handler)(admin, &req) {
        Ok((ctype, body)) => x.ok(ctype, &body),
        Err(r) => x.refuse(admin, &r),
    };
}

/// Nice value of a connection thread: a scrape (rendering 1000 routes takes
/// ~1 ms of CPU) may share a core with a busy shard, and must take its time
/// from the shard's idle moments, not from its requests' latency. At 19 the
/// scheduler still gives it a share (~1.5 % against one busy shard), so a
/// scrape is slow on a saturated core, never starved.
const NICE: libc::c_int = 19;

/// Lowers the calling thread's priority below the shards'.
fn yield_to_shards() {
    // SAFETY: setpriority takes no pointer; on Linux, who = 0 with
    // PRIO_PROCESS is the calling thread alone (threads have their own nice).
    unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, NICE) };
}

/// The endpoint `p` may call: the token first (so that without it nothing,
/// not even which paths exist, is revealed), then the path and the method.
fn gate(p: &Parsed, admin: &Admin) -> Result<&'static Endpoint, Refusal> {
    let endpoint = endpoints::find(&p.path);
    let token = admin.plane.cfg.server.admin_token.as_deref();
    if !endpoint.is_some_and(|e| e.open) && !auth::allows(token, p.authorization.as_deref()) {
        return Err(Refusal {
            headers: auth::CHALLENGE.into(),
            ..ErrorCode::AdminUnauthorized.into()
        });
    }
    let e = endpoint.ok_or(ErrorCode::AdminNotFound)?;
    if !e.allows(p.method) {
        return Err(Refusal {
            code: ErrorCode::AdminMethodNotAllowed,
            detail: format!("use {}", e.allow),
            headers: format!("allow: {}\r\n", e.allow),
        });
    }
    Ok(e)
}
