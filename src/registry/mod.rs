//! The built-in service registry (control plane): services register their
//! instances over HTTP (`api`), renew them with heartbeats, and lose them
//! when they deregister or miss their TTL. Every change to a service's set
//! of addresses is published, whole, to the upstreams bound to that
//! service through a `discovery::TargetSink`.
//!
//! `Registry` is shared (`Send + Sync`) by the admin listener's connection
//! threads, its own listener's (`[registry] listen`) and the reaper thread
//! (`ringway-registry`), which expires instances and writes the state file
//! every `TICK`. One mutex guards the `store`; every publish happens under
//! it, so sets reach the sink in the order of the changes, and before the
//! request that made the change is answered. A deregistration is therefore
//! with the sink before its `DELETE` is answered; expiry within one `TICK`
//! of the TTL running out (and at once when a request comes first).
//!
//! Durability (`snapshot`): a registration or deregistration is written to
//! the state file before it is answered (concurrent writers share one
//! write); heartbeats and expiries are written by the reaper, at most once
//! per `TICK`. A state file that cannot be read or parsed at start is
//! logged, counted (`ringway_registry_state_file_errors_total{op="load"}`),
//! moved aside to `PATH.corrupt`, and the registry starts empty: a bad
//! file never stops the gateway.
//!
//! Must never: run on a shard, call the sink from a shard, let a client
//! choose a metric label (`metrics`), or answer a change before the sink
//! has it.

pub mod api;
pub mod input;
pub mod metrics;
pub mod snapshot;
pub mod store;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::config::RegistrySpec;
use crate::discovery::TargetSink;
use crate::error::ErrorCode;
use crate::observe::log::{self, Val};
use crate::observe::prom;
use api::{Op, Route};
use metrics::{Outcome, StateOp, Stats};
use store::{Full, Instance, Registered, Store};

/// How often the reaper expires instances and writes a changed state.
pub const TICK: Duration = Duration::from_millis(100);

/// A moment on both clocks the registry uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// Milliseconds on the registry's monotonic clock (expiry).
    pub mono_ms: u64,
    /// Unix time in milliseconds (the state file).
    pub unix_ms: u64,
}

/// A registry answer other than an error.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    /// 200, or 201 for a new instance.
    pub status: u16,
    /// JSON.
    pub body: String,
}

/// A refused registry request.
#[derive(Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The error (and so the status).
    pub code: ErrorCode,
    /// Appended to the error's message; names the field at fault.
    pub detail: String,
    /// Seconds for a `retry-after` header (`registry_full`).
    pub retry_after_s: Option<u64>,
    /// The `allow` header of a 405.
    pub allow: Option<&'static str>,
}

impl Rejection {
    /// `code` with a detail.
    pub fn detail(code: ErrorCode, detail: impl Into<String>) -> Rejection {
        Rejection {
            code,
            detail: detail.into(),
            retry_after_s: None,
            allow: None,
        }
    }

    /// A 400 whose detail names the field.
    pub fn bad(detail: String) -> Rejection {
        Rejection::detail(ErrorCode::RegistryBadRequest, detail)
    }

    /// A 405 for an endpoint that allows `allow`.
    pub fn method(allow: &'static str) -> Rejection {
        Rejection {
            allow: Some(allow),
            ..Rejection::detail(ErrorCode::RegistryMethodNotAllowed, format!("use {allow}"))
        }
    }
}

/// What the state-file writer remembers.
#[derive(Debug, Default)]
struct Written {
    /// The store generation the file holds.
    generation: u64,
    /// The last write failed (logged once until one succeeds).
    failing: bool,
}

/// Where sets go: (service, upstream index) pairs, and the sink the
/// indexes are of (one configuration generation's upstreams).
struct Bound {
    bindings: Vec<(Box<str>, usize)>,
    sink: Arc<dyn TargetSink>,
}

/// The registry.
pub struct Registry {
    spec: RegistrySpec,
    /// Where each service's sets go; replaced by a reload (`rebind`).
    bound: RwLock<Bound>,
    store: Mutex<Store>,
    /// Held while the state file is written, so that writes never overlap
    /// and an older snapshot never replaces a newer one.
    written: Mutex<Written>,
    stats: Stats,
    epoch: Instant,
}

impl Bound {
    fn new(bindings: Vec<(String, usize)>, sink: Arc<dyn TargetSink>) -> Bound {
        Bound {
            bindings: bindings
                .into_iter()
                .map(|(s, i)| (s.into_boxed_str(), i))
                .collect(),
            sink,
        }
    }
}

impl Registry {
    /// The registry of `spec`, its state file loaded, every binding's set
    /// published once (empty when the service has no instance), and the
    /// reaper thread started (it ends when the last `Arc` is dropped).
    pub fn new(
        spec: &RegistrySpec,
        bindings: Vec<(String, usize)>,
        sink: Arc<dyn TargetSink>,
    ) -> std::io::Result<Arc<Registry>> {
        let epoch = Instant::now();
        let r = Arc::new(Registry::build(spec, bindings, sink, epoch, now_at(epoch)));
        let weak = Arc::downgrade(&r);
        std::thread::Builder::new()
            .name("ringway-registry".into())
            .spawn(move || loop {
                std::thread::sleep(TICK);
                let Some(r) = weak.upgrade() else { return };
                r.tick_at(r.now());
            })?;
        Ok(r)
    }

    /// `new` at the moment `now`, without the reaper thread: the caller
    /// passes the time to every call (`serve_at`, `tick_at`).
    pub fn at(
        spec: &RegistrySpec,
        bindings: Vec<(String, usize)>,
        sink: Arc<dyn TargetSink>,
        now: Now,
    ) -> Registry {
        Registry::build(spec, bindings, sink, Instant::now(), now)
    }

    fn build(
        spec: &RegistrySpec,
        bindings: Vec<(String, usize)>,
        sink: Arc<dyn TargetSink>,
        epoch: Instant,
        now: Now,
    ) -> Registry {
        let r = Registry {
            spec: spec.clone(),
            bound: RwLock::new(Bound::new(bindings, sink)),
            store: Mutex::new(Store::new(
                spec.max_instances_per_service,
                spec.max_instances,
            )),
            written: Mutex::new(Written::default()),
            stats: Stats::default(),
            epoch,
        };
        r.load(now);
        r.publish_all(&r.lock());
        r
    }

    /// Binds services to the upstreams of a new configuration generation
    /// (a reload) and publishes every bound service's set to it before
    /// returning, so no upstream of the new generation waits for a change.
    pub fn rebind(&self, bindings: Vec<(String, usize)>, sink: Arc<dyn TargetSink>) {
        let store = self.lock();
        *self.bound.write().unwrap_or_else(|p| p.into_inner()) = Bound::new(bindings, sink);
        self.publish_all(&store);
    }

    /// Publishes every bound service's set (under the store lock).
    fn publish_all(&self, store: &Store) {
        let b = self.bound();
        for (service, upstream) in &b.bindings {
            b.sink.publish(*upstream, store.targets(service));
        }
    }

    fn bound(&self) -> std::sync::RwLockReadGuard<'_, Bound> {
        self.bound.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The settings it runs with (the listener checks `token`).
    pub fn spec(&self) -> &RegistrySpec {
        &self.spec
    }

    /// Its counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The current moment on both clocks.
    pub fn now(&self) -> Now {
        now_at(self.epoch)
    }

    /// Counts a request refused before it reached `serve` (token, size).
    pub fn count(&self, op: Op, outcome: Outcome) {
        self.stats.count(op, outcome);
    }

    /// Answers `route` with the request `body`, now.
    pub fn serve(&self, route: &Route, body: &[u8]) -> Result<Answer, Rejection> {
        self.serve_at(route, body, self.now())
    }

    /// Answers `route` at `now`.
    pub fn serve_at(&self, route: &Route, body: &[u8], now: Now) -> Result<Answer, Rejection> {
        let r = match route {
            Route::List => Ok(self.list(now)),
            Route::Service(s) => Ok(self.service(s, now)),
            Route::Get(s, id) => self.get(s, id, now),
            Route::Register(s, id) => self.register(s, id, body, now),
            Route::Heartbeat(s, id) => self.heartbeat(s, id, now),
            Route::Deregister(s, id) => self.deregister(s, id, now),
        };
        let status = match &r {
            Ok(a) => a.status,
            Err(j) => j.code.status(),
        };
        self.stats.count(route.op(), Outcome::of_status(status));
        r
    }

    /// Expires what ran out by `now` and writes the state file if it
    /// changed since the last write (the reaper calls this every `TICK`).
    pub fn tick_at(&self, now: Now) {
        let dirty = {
            let mut store = self.lock();
            self.expire(&mut store, now);
            store.generation()
        } > self.written().generation;
        if dirty {
            let _ = self.persist(now);
        }
    }

    /// Writes the state file now if it is behind (at shutdown).
    pub fn flush(&self) {
        let _ = self.persist(self.now());
    }

    /// Appends the registry's families to a `/metrics` answer.
    pub fn render_metrics(&self, out: &mut String) {
        self.stats.render(out);
        let store = self.lock();
        let name = "ringway_registry_all_instances";
        prom::header(
            out,
            name,
            "gauge",
            "Registry instances, all services together.",
        );
        prom::line(out, &[name], store.len() as u64);
        let name = "ringway_registry_services";
        prom::header(
            out,
            name,
            "gauge",
            "Registry services with at least one instance.",
        );
        prom::line(out, &[name], store.services().count() as u64);
        let b = self.bound();
        let mut bound: Vec<&str> = b.bindings.iter().map(|(s, _)| &**s).collect();
        bound.sort_unstable();
        bound.dedup();
        if bound.is_empty() {
            return;
        }
        let name = "ringway_registry_instances";
        prom::header(
            out,
            name,
            "gauge",
            "Registry instances of each service an upstream is bound to.",
        );
        for s in bound {
            let escaped = prom::escape(s);
            let series = [name, "{service=\"", &escaped, "\"}"];
            prom::line(out, &series, store.service_len(s) as u64);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn written(&self) -> MutexGuard<'_, Written> {
        self.written.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `service`'s set to every upstream bound to it (under the lock).
    fn publish(&self, store: &Store, service: &str) {
        let mut targets = None;
        let b = self.bound();
        for (name, upstream) in &b.bindings {
            if &**name == service {
                let t = targets.get_or_insert_with(|| store.targets(service));
                b.sink.publish(*upstream, t.clone());
            }
        }
    }

    /// Removes what expired by `now`, publishing each changed service.
    fn expire(&self, store: &mut Store, now: Now) {
        let gone = store.expire(now.mono_ms);
        if gone.is_empty() {
            return;
        }
        self.stats.expired(gone.len());
        let mut last: Option<&str> = None;
        for (service, id, inst) in &gone {
            log::info(
                "registry instance expired",
                &[
                    ("service", Val::Str(service)),
                    ("id", Val::Str(id)),
                    ("addr", Val::Str(&inst.addr.to_string())),
                    ("ttl_s", Val::Num(u64::from(inst.ttl_s))),
                ],
            );
            // `gone` is sorted by service: publish each one once.
            if last != Some(&**service) {
                self.publish(store, service);
                last = Some(service);
            }
        }
    }

    fn list(&self, now: Now) -> Answer {
        let mut store = self.lock();
        self.expire(&mut store, now);
        let services: Vec<_> = store
            .services()
            .map(|(name, ids)| api::service(name, ids.iter().map(|(k, v)| (&**k, v)), now.mono_ms))
            .collect();
        ok(200, json!({ "services": services }))
    }

    fn service(&self, service: &str, now: Now) -> Answer {
        let mut store = self.lock();
        self.expire(&mut store, now);
        let ids = store.service(service).into_iter().flatten();
        let v = api::service(service, ids.map(|(k, v)| (&**k, v)), now.mono_ms);
        ok(200, v)
    }

    fn get(&self, service: &str, id: &str, now: Now) -> Result<Answer, Rejection> {
        let mut store = self.lock();
        self.expire(&mut store, now);
        let i = store.get(service, id).ok_or_else(|| unknown(service, id))?;
        Ok(ok(200, api::instance(service, id, i, now.mono_ms)))
    }

    fn register(
        &self,
        service: &str,
        id: &str,
        body: &[u8],
        now: Now,
    ) -> Result<Answer, Rejection> {
        let reg = input::registration(body, &self.spec).map_err(Rejection::bad)?;
        let inst = Instance {
            addr: reg.addr,
            weight: reg.weight,
            ttl_s: reg.ttl_s,
            metadata: reg.metadata,
            expires_at: now.mono_ms.saturating_add(u64::from(reg.ttl_s) * 1000),
        };
        let addr = inst.addr.to_string();
        let (what, view) = {
            let mut store = self.lock();
            self.expire(&mut store, now);
            let what = store
                .register(service, id, inst, now.mono_ms)
                .map_err(|f| self.full(f, service))?;
            if matches!(
                what,
                Registered::Created
                    | Registered::Updated {
                        targets_changed: true
                    }
            ) {
                self.publish(&store, service);
            }
            let view = store
                .get(service, id)
                .map(|i| api::instance(service, id, i, now.mono_ms));
            (what, view.unwrap_or_default())
        };
        let msg = match what {
            Registered::Created => Some("registry instance registered"),
            Registered::Updated {
                targets_changed: true,
            } => Some("registry instance updated"),
            Registered::Updated { .. } => None,
        };
        if let Some(msg) = msg {
            log::info(
                msg,
                &[
                    ("service", Val::Str(service)),
                    ("id", Val::Str(id)),
                    ("addr", Val::Str(&addr)),
                ],
            );
        }
        self.persist(now)?;
        let status = if what == Registered::Created {
            201
        } else {
            200
        };
        Ok(ok(status, view))
    }

    fn heartbeat(&self, service: &str, id: &str, now: Now) -> Result<Answer, Rejection> {
        let mut store = self.lock();
        self.expire(&mut store, now);
        let i = store
            .heartbeat(service, id, now.mono_ms)
            .ok_or_else(|| unknown(service, id))?;
        Ok(ok(200, api::instance(service, id, i, now.mono_ms)))
    }

    fn deregister(&self, service: &str, id: &str, now: Now) -> Result<Answer, Rejection> {
        let view = {
            let mut store = self.lock();
            self.expire(&mut store, now);
            let gone = store
                .deregister(service, id)
                .ok_or_else(|| unknown(service, id))?;
            // With the sink before the answer: no new request goes there
            // once the shards have applied this set.
            self.publish(&store, service);
            log::info(
                "registry instance deregistered",
                &[
                    ("service", Val::Str(service)),
                    ("id", Val::Str(id)),
                    ("addr", Val::Str(&gone.addr.to_string())),
                ],
            );
            api::instance(service, id, &gone, now.mono_ms)
        };
        self.persist(now)?;
        Ok(ok(200, view))
    }

    /// The 429 for a registration over a limit; `retry-after` is when the
    /// first instance in the way expires unless it is renewed.
    fn full(&self, f: Full, service: &str) -> Rejection {
        let (detail, ms) = match f {
            Full::Service(ms) => (
                format!(
                    "service {service} has {} instances, registry.max_instances_per_service",
                    self.spec.max_instances_per_service
                ),
                ms,
            ),
            Full::All(ms) => (
                format!(
                    "the registry has {} instances, registry.max_instances",
                    self.spec.max_instances
                ),
                ms,
            ),
        };
        Rejection {
            retry_after_s: Some(ms.div_ceil(1000).max(1)),
            ..Rejection::detail(ErrorCode::RegistryFull, detail)
        }
    }

    /// Writes the state file unless it already holds the store's current
    /// generation (then a concurrent writer wrote this change too).
    fn persist(&self, now: Now) -> Result<(), Rejection> {
        let Some(path) = &self.spec.state_file else {
            return Ok(());
        };
        let mut w = self.written();
        let (text, generation) = {
            let store = self.lock();
            if store.generation() <= w.generation {
                return Ok(());
            }
            (snapshot::render(&store, now), store.generation())
        };
        match snapshot::write(path, &text) {
            Ok(()) => {
                w.generation = generation;
                if std::mem::take(&mut w.failing) {
                    log::info(
                        "registry state file written again",
                        &[("path", Val::Str(&path.display().to_string()))],
                    );
                }
                Ok(())
            }
            Err(e) => {
                self.stats.state_error(StateOp::Write);
                let why = format!("{}: {e}", path.display());
                if !std::mem::replace(&mut w.failing, true) {
                    log::error(
                        "registry state file write failed (logged once until a write succeeds)",
                        &[("error", Val::Str(&why))],
                    );
                }
                Err(Rejection::detail(ErrorCode::RegistryNotSaved, why))
            }
        }
    }

    /// Loads the state file at start; whatever is wrong with it is logged
    /// and counted, never fatal.
    fn load(&self, now: Now) {
        let Some(path) = &self.spec.state_file else {
            return;
        };
        let shown = path.display().to_string();
        let text = match snapshot::read(path) {
            Ok(Some(t)) => t,
            Ok(None) => {
                log::info(
                    "registry state file absent, starting empty",
                    &[("path", Val::Str(&shown))],
                );
                return;
            }
            Err(e) => {
                self.stats.state_error(StateOp::Load);
                log::error(
                    "registry state file unreadable, starting empty",
                    &[
                        ("path", Val::Str(&shown)),
                        ("error", Val::Str(&e.to_string())),
                    ],
                );
                return;
            }
        };
        let entries = match snapshot::parse(&text) {
            Ok(e) => e,
            Err(why) => {
                self.stats.state_error(StateOp::Load);
                let aside = snapshot::set_aside(path)
                    .map_or_else(|e| format!("not moved: {e}"), |p| p.display().to_string());
                log::error(
                    "registry state file corrupt, starting empty",
                    &[
                        ("path", Val::Str(&shown)),
                        ("error", Val::Str(&why)),
                        ("moved_to", Val::Str(&aside)),
                    ],
                );
                return;
            }
        };
        let (mut kept, mut expired, mut refused) = (0u64, 0u64, 0u64);
        let mut first_refusal = String::new();
        let mut store = self.lock();
        for e in entries {
            match self.restore(&mut store, e, now) {
                Ok(true) => kept += 1,
                Ok(false) => expired += 1,
                Err(why) => {
                    refused += 1;
                    if first_refusal.is_empty() {
                        first_refusal = why;
                    }
                }
            }
        }
        self.stats.expired(expired as usize);
        log::info(
            "registry state loaded",
            &[
                ("path", Val::Str(&shown)),
                ("instances", Val::Num(kept)),
                ("expired", Val::Num(expired)),
                ("refused", Val::Num(refused)),
                ("first_refusal", Val::Str(&first_refusal)),
            ],
        );
    }

    /// Puts one state-file entry back with what is left of its TTL:
    /// `Ok(false)` when it expired meanwhile, `Err` when today's rules
    /// (names, `allow_cidrs`, TTL bounds, limits) refuse it.
    fn restore(&self, store: &mut Store, e: snapshot::Entry, now: Now) -> Result<bool, String> {
        let at = |why: String| format!("{}/{}: {why}", e.service, e.id);
        input::name("service", &e.service).map_err(at)?;
        input::name("id", &e.id).map_err(at)?;
        let addr = input::addr(&e.addr, &self.spec.allow_cidrs).map_err(at)?;
        if !(1..=input::MAX_WEIGHT).contains(&e.weight) {
            return Err(at(format!("weight: {} is out of range", e.weight)));
        }
        if !(self.spec.min_ttl_s..=self.spec.max_ttl_s).contains(&e.ttl_s) {
            return Err(at(format!("ttl_s: {} is out of range", e.ttl_s)));
        }
        let metadata =
            input::metadata(&serde_json::Value::Object(e.metadata.clone())).map_err(at)?;
        let ttl_ms = u64::from(e.ttl_s) * 1000;
        // A clock set back since the write cannot stretch a TTL.
        let left = e.expires_unix_ms.saturating_sub(now.unix_ms).min(ttl_ms);
        if left == 0 {
            return Ok(false);
        }
        let inst = Instance {
            addr,
            weight: e.weight,
            ttl_s: e.ttl_s,
            metadata,
            expires_at: now.mono_ms.saturating_add(left),
        };
        store
            .register(&e.service, &e.id, inst, now.mono_ms)
            .map_err(|_| at("over registry.max_instances_per_service or max_instances".into()))?;
        Ok(true)
    }
}

fn now_at(epoch: Instant) -> Now {
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Now {
        mono_ms: u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX),
        unix_ms,
    }
}

fn ok(status: u16, v: serde_json::Value) -> Answer {
    let mut body = serde_json::to_string_pretty(&v).unwrap_or_default();
    body.push('\n');
    Answer { status, body }
}

fn unknown(service: &str, id: &str) -> Rejection {
    Rejection::detail(
        ErrorCode::RegistryNotFound,
        format!("instance {id} of service {service} is not registered (it expired or was deregistered; register it again with PUT)"),
    )
}
