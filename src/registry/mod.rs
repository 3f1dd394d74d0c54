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
//! Durability (`persist`, the file format in `snapshot`): a registration or deregistration is written to
//! the state file before it is answered (concurrent writers share one
//! write); heartbeats and expiries are written by the reaper, at most once
//! per `TICK`. A state file that cannot be read or parsed at start is
//! logged, counted (`ringway_registry_state_file_errors_total{op="load"}`),
//! moved aside to `PATH.corrupt`, and the registry starts empty: a bad
//! file never stops the gateway.
//!
//! This file holds the shared state and its construction (`Registry::new`
//! starts the reaper), the lock and publishing to the sink; `serve`
//! answers the operations; `metrics` counts and renders.
//!
//! Must never: run on a shard, call the sink from a shard, let a client
//! choose a metric label (`metrics`), or answer a change before the sink
//! has it.

pub mod api;
pub mod input;
pub mod metrics;
mod persist;
mod serve;
pub mod snapshot;
pub mod store;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::RegistrySpec;
use crate::discovery::TargetSink;
use crate::error::ErrorCode;
use crate::observe::log::{self, Val};
use metrics::Stats;
use persist::Written;
use store::Store;

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

/// Where sets go: (service, upstream index) pairs, and the sink the
/// indexes are of (one configuration generation's upstreams).
pub(super) struct Bound {
    pub(super) bindings: Vec<(Box<str>, usize)>,
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

    pub(super) fn bound(&self) -> std::sync::RwLockReadGuard<'_, Bound> {
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

    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
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
