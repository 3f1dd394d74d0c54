//! Answering a routed registry request (`Registry::serve`): each
//! operation under the store's lock, expiring first, publishing a changed
//! set to the sink and writing the state file before it answers.
//!
//! Owns: what each operation does to the store and what it answers. Must
//! never: parse a path or a body's fields (`api`, `input` do), or answer a
//! change the sink or the state file does not have yet.

use serde_json::json;

use super::api::{self, Op, Route};
use super::metrics::Outcome;
use super::store::{Full, Instance, Registered};
use super::{input, Answer, Now, Registry, Rejection};
use crate::error::ErrorCode;
use crate::observe::log::{self, Val};

impl Registry {
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
