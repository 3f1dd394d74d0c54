//! The registry without sockets, one file a concern: the store, expiry on
//! an injected clock, what reaches the sink and when, and the metrics
//! (`store`); input validation and the routes (`routes`); the state file:
//! round trip, expiry across a restart, a corrupt file, a failed write
//! (`persist`). This file holds what they share.

mod persist;
mod routes;
mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::api::{self, Op, Route};
use super::input::{self, MAX_METADATA_BYTES};
use super::metrics::{Outcome, StateOp};
use super::store::{Full, Instance, Registered, Store};
use super::{snapshot, Now, Registry, Rejection};
use crate::config::RegistrySpec;
use crate::discovery::{Target, TargetSink};
use crate::error::ErrorCode;
use crate::http::client_ip::Cidr;
use crate::http::Method;

/// Every set published, in order.
#[derive(Default)]
pub(super) struct Recorder(Mutex<Vec<(usize, Vec<Target>)>>);

impl TargetSink for Recorder {
    fn publish(&self, upstream: usize, targets: Vec<Target>) {
        self.0.lock().unwrap().push((upstream, targets));
    }
}

impl Recorder {
    pub(super) fn take(&self) -> Vec<(usize, Vec<Target>)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

pub(super) fn spec() -> RegistrySpec {
    RegistrySpec {
        // One file per thread: tests run in parallel in one process.
        token: Arc::new(crate::config::secret::from_temp_file(
            &format!("registry-unit-token-{:?}", std::thread::current().id()),
            "reg-token-0123456789",
        )),
        state_file: None,
        listen: None,
        allow_cidrs: Vec::new(),
        max_instances_per_service: 3,
        max_instances: 5,
        min_ttl_s: 1,
        max_ttl_s: 3600,
        default_ttl_s: 30,
    }
}

pub(super) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub(super) fn inst(a: &str, weight: u32, ttl_s: u32, now: u64) -> Instance {
    Instance {
        addr: addr(a),
        weight,
        ttl_s,
        metadata: Default::default(),
        expires_at: now + u64::from(ttl_s) * 1000,
    }
}

pub(super) fn at(mono_ms: u64) -> Now {
    Now {
        mono_ms,
        unix_ms: 1_700_000_000_000 + mono_ms,
    }
}

pub(super) fn target(a: &str, weight: u32) -> Target {
    Target {
        addr: addr(a),
        weight,
    }
}

/// A registry bound to `users` (upstreams 0 and 2) and `orders` (1).
pub(super) fn registry(spec: &RegistrySpec) -> (Registry, Arc<Recorder>) {
    let sink = Arc::new(Recorder::default());
    let bindings = vec![
        ("users".to_string(), 0),
        ("orders".to_string(), 1),
        ("users".to_string(), 2),
    ];
    let r = Registry::at(spec, bindings, sink.clone(), at(0));
    (r, sink)
}

pub(super) fn put(
    r: &Registry,
    service: &str,
    id: &str,
    body: Value,
    now: u64,
) -> Result<u16, Rejection> {
    let route = Route::Register(service.into(), id.into());
    let body = serde_json::to_vec(&body).unwrap();
    r.serve_at(&route, &body, at(now)).map(|a| a.status)
}

pub(super) fn call(r: &Registry, route: Route, now: u64) -> Result<Value, Rejection> {
    r.serve_at(&route, b"", at(now))
        .map(|a| serde_json::from_str(&a.body).unwrap())
}

pub(super) fn ids(r: &Registry, service: &str, now: u64) -> Vec<String> {
    let v = call(r, Route::Service(service.into()), now).unwrap();
    v["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

/// A fresh path in the temp dir (removed, with its `.corrupt`, on drop).
pub(super) struct TempPath(pub(super) PathBuf);

impl TempPath {
    pub(super) fn new(name: &str) -> TempPath {
        let p = std::env::temp_dir().join(format!(
            "ringway-registry-{name}-{}-{:?}.json",
            std::process::id(),
            std::thread::current().id()
        ));
        let t = TempPath(p);
        t.clean();
        t
    }

    pub(super) fn clean(&self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_file(self.corrupt());
    }

    pub(super) fn corrupt(&self) -> PathBuf {
        PathBuf::from(format!("{}.corrupt", self.0.display()))
    }

    pub(super) fn json(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(&self.0).unwrap()).unwrap()
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        self.clean();
    }
}
