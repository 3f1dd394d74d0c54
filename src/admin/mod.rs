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
//! The registry API (`/registry/...`, `crate::registry`) is served by the
//! same code: on this listener when `[registry]` has no `listen`, else on
//! a second listener of its own that serves nothing else (`Role`). Its
//! requests need the registry token, never the admin token, and the
//! registry token opens nothing but the registry.
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

use crate::error::ErrorCode;
use crate::http::Method;
use crate::observe::log::{self, Val};
use crate::observe::request_id::{RequestIdGen, ID_LEN};
use crate::observe::ShardMetrics;
use crate::registry::api::{self as registry_api, Op, Route};
use crate::registry::metrics::Outcome;
use crate::registry::{Registry, Rejection};
use crate::server::Readiness;

mod auth;
mod config;
mod endpoints;
mod purge;
mod reload;
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
    /// The configuration in effect (each request reads the current
    /// generation), `POST /reload`, the counters and the discovery stats.
    pub reloader: Arc<crate::reload::Reloader>,
    /// Starting, ready or draining, for `/readyz`.
    pub readiness: Arc<Readiness>,
    /// The access log's and the span exporter's counters.
    pub telemetry: crate::observe::telemetry::TelemetryStats,
    /// The service registry, when `[registry]` is configured.
    pub registry: Option<Arc<Registry>>,
}

/// Which API a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// `server.admin_listen`: the admin API, and the registry's unless it
    /// has a listener of its own.
    Admin = 0,
    /// `registry.listen`: the registry API only.
    Registry = 1,
}

/// Where the listeners were bound.
#[derive(Debug, Default)]
pub struct Bound {
    /// `server.admin_listen`'s address, if configured.
    pub admin: Option<SocketAddr>,
    /// `registry.listen`'s address, if configured.
    pub registry: Option<SocketAddr>,
}

/// A listener that could not be started.
#[derive(Debug)]
pub struct SpawnError {
    /// Its key (`admin_listen`, `registry.listen`).
    pub key: &'static str,
    /// The address configured.
    pub addr: SocketAddr,
    /// What failed.
    pub error: std::io::Error,
}

/// What every admin connection thread shares.
struct Admin {
    plane: AdminStart,
    /// Connections being served now, per `Role`: a flood on one listener
    /// never takes the other's slots.
    active: [AtomicUsize; 2],
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
struct Slot(Arc<Admin>, Role);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active[self.1 as usize].fetch_sub(1, AcqRel);
    }
}

/// Binds the admin listener (`server.admin_listen`) and the registry's own
/// (`registry.listen`), those configured, and serves them on background
/// threads; returns the bound addresses.
pub fn spawn(plane: AdminStart) -> Result<Bound, SpawnError> {
    let wanted = [
        (
            "admin_listen",
            plane.reloader.current().cfg.server.admin_listen,
            Role::Admin,
        ),
        (
            "registry.listen",
            plane.registry.as_ref().and_then(|r| r.spec().listen),
            Role::Registry,
        ),
    ];
    let mut listeners = Vec::new();
    for (key, addr, role) in wanted {
        let Some(addr) = addr else { continue };
        let failed = |error| SpawnError { key, addr, error };
        let l = TcpListener::bind(addr).map_err(failed)?;
        let bound = l.local_addr().map_err(failed)?;
        listeners.push((key, addr, bound, role, l));
    }
    let counters = plane.reloader.metrics().admin();
    let admin = Arc::new(Admin {
        plane,
        active: [AtomicUsize::new(0), AtomicUsize::new(0)],
        own: Mutex::new((RequestIdGen::new(usize::MAX), counters)),
    });
    let mut out = Bound::default();
    for (key, addr, bound, role, listener) in listeners {
        let admin = admin.clone();
        let name = match role {
            Role::Admin => "ringway-admin",
            Role::Registry => "ringway-registry-api",
        };
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                for stream in listener.incoming() {
                    match stream {
                        Ok(s) => admit(s, &admin, role),
                        // Out of descriptors and the like: do not spin.
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
            .map_err(|error| SpawnError { key, addr, error })?;
        match role {
            Role::Admin => out.admin = Some(bound),
            Role::Registry => out.registry = Some(bound),
        }
    }
    Ok(out)
}

/// Hands `s` to a thread of its own, or answers 503 when all slots are taken.
fn admit(s: TcpStream, admin: &Arc<Admin>, role: Role) {
    let accepted = Instant::now();
    let active = &admin.active[role as usize];
    if active.fetch_add(1, AcqRel) >= MAX_CONNECTIONS {
        active.fetch_sub(1, AcqRel);
        busy(s, admin);
        return;
    }
    let slot = Slot(admin.clone(), role);
    let spawned = std::thread::Builder::new()
        .name("ringway-admin-conn".into())
        .stack_size(256 * 1024)
        .spawn(move || serve(s, accepted, &slot.0, slot.1));
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
fn serve(s: TcpStream, accepted: Instant, admin: &Admin, role: Role) {
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
    let g = admin.plane.reloader.current();
    let head = match request::read_head(&mut x.s, deadline, &g.cfg.server) {
        Ok(h) => h,
        Err(ReadError::Gone) => return,
        Err(ReadError::Refuse(code)) => return early(&mut x, code.into()),
    };
    x.head_only = head.parsed.method == Method::Head;
    let call = match gate(&head.parsed, admin, role) {
        Ok(c) => c,
        Err(r) => return early(&mut x, r),
    };
    let req = match head.read_body(&mut x.s, deadline) {
        Ok(r) => r,
        Err(ReadError::Gone) => return,
        Err(ReadError::Refuse(code)) => return early(&mut x, code.into()),
    };
    let _ = match call {
        Call::Admin(endpoint) => match (endpoint.handler)(admin, &req) {
            Ok((ctype, body)) => x.ok(ctype, &body),
            Err(r) => x.refuse(admin, &r),
        },
        Call::Registry(registry, route) => match registry.serve(&route, &req.body) {
            Ok(a) => x.reply(a.status, "application/json", &a.body),
            Err(j) => x.refuse(admin, &refusal(j)),
        },
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

/// What a request that passed its gate calls.
enum Call<'a> {
    /// An admin endpoint.
    Admin(&'static Endpoint),
    /// A registry operation.
    Registry(&'a Registry, Route),
}

/// What `p` may call: the token first (so that without it nothing, not
/// even which paths exist, is revealed), then the path and the method.
/// Registry paths (and every path on the registry's own listener) are the
/// registry's, checked against its token only.
fn gate<'a>(p: &Parsed, admin: &'a Admin, role: Role) -> Result<Call<'a>, Refusal> {
    if let Some(r) = admin.plane.registry.as_deref() {
        let on_admin = r.spec().listen.is_none() && registry_api::is_registry_path(&p.path);
        if role == Role::Registry || on_admin {
            return registry_gate(p, r);
        }
    }
    let endpoint = endpoints::find(&p.path);
    let g = admin.plane.reloader.current();
    let token = g.cfg.server.admin_token.as_deref();
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
    Ok(Call::Admin(e))
}

/// The registry's gate: its token, then the path, method and names, then
/// the body's size (before any of it is read).
fn registry_gate<'a>(p: &Parsed, r: &'a Registry) -> Result<Call<'a>, Refusal> {
    let routed = registry_api::route(p.method, &p.target);
    let op = routed.as_ref().map_or(Op::Other, Route::op);
    if !auth::allows(Some(&r.spec().token), p.authorization.as_deref()) {
        r.count(op, Outcome::Unauthorized);
        return Err(Refusal {
            headers: auth::REGISTRY_CHALLENGE.into(),
            ..ErrorCode::RegistryUnauthorized.into()
        });
    }
    let route = routed.map_err(|j| {
        r.count(op, Outcome::of_status(j.code.status()));
        refusal(j)
    })?;
    let max = crate::registry::input::MAX_BODY;
    if p.body_len > max {
        r.count(op, Outcome::BadRequest);
        let detail = format!("registry request bodies are at most {max} bytes");
        return Err(Refusal::detail(ErrorCode::BodyTooLarge, detail));
    }
    Ok(Call::Registry(r, route))
}

/// A registry refusal with its `retry-after` and `allow` lines.
fn refusal(j: Rejection) -> Refusal {
    let mut headers = String::new();
    if let Some(s) = j.retry_after_s {
        headers.push_str(&format!("retry-after: {s}\r\n"));
    }
    if let Some(a) = j.allow {
        headers.push_str(&format!("allow: {a}\r\n"));
    }
    Refusal {
        code: j.code,
        detail: j.detail,
        headers,
    }
}
