//! The registry without sockets: the store and its limits, expiry on an
//! injected clock, what reaches the sink and when, input validation, the
//! routes, the state file (round trip, expiry across a restart, a corrupt
//! file, a failed write) and the metrics.

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
struct Recorder(Mutex<Vec<(usize, Vec<Target>)>>);

impl TargetSink for Recorder {
    fn publish(&self, upstream: usize, targets: Vec<Target>) {
        self.0.lock().unwrap().push((upstream, targets));
    }
}

impl Recorder {
    fn take(&self) -> Vec<(usize, Vec<Target>)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn spec() -> RegistrySpec {
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

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn inst(a: &str, weight: u32, ttl_s: u32, now: u64) -> Instance {
    Instance {
        addr: addr(a),
        weight,
        ttl_s,
        metadata: Default::default(),
        expires_at: now + u64::from(ttl_s) * 1000,
    }
}

fn at(mono_ms: u64) -> Now {
    Now {
        mono_ms,
        unix_ms: 1_700_000_000_000 + mono_ms,
    }
}

fn target(a: &str, weight: u32) -> Target {
    Target {
        addr: addr(a),
        weight,
    }
}

/// A registry bound to `users` (upstreams 0 and 2) and `orders` (1).
fn registry(spec: &RegistrySpec) -> (Registry, Arc<Recorder>) {
    let sink = Arc::new(Recorder::default());
    let bindings = vec![
        ("users".to_string(), 0),
        ("orders".to_string(), 1),
        ("users".to_string(), 2),
    ];
    let r = Registry::at(spec, bindings, sink.clone(), at(0));
    (r, sink)
}

fn put(r: &Registry, service: &str, id: &str, body: Value, now: u64) -> Result<u16, Rejection> {
    let route = Route::Register(service.into(), id.into());
    let body = serde_json::to_vec(&body).unwrap();
    r.serve_at(&route, &body, at(now)).map(|a| a.status)
}

fn call(r: &Registry, route: Route, now: u64) -> Result<Value, Rejection> {
    r.serve_at(&route, b"", at(now))
        .map(|a| serde_json::from_str(&a.body).unwrap())
}

fn ids(r: &Registry, service: &str, now: u64) -> Vec<String> {
    let v = call(r, Route::Service(service.into()), now).unwrap();
    v["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

/// A fresh path in the temp dir (removed, with its `.corrupt`, on drop).
struct TempPath(PathBuf);

impl TempPath {
    fn new(name: &str) -> TempPath {
        let p = std::env::temp_dir().join(format!(
            "ringway-registry-{name}-{}-{:?}.json",
            std::process::id(),
            std::thread::current().id()
        ));
        let t = TempPath(p);
        t.clean();
        t
    }

    fn clean(&self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_file(self.corrupt());
    }

    fn corrupt(&self) -> PathBuf {
        PathBuf::from(format!("{}.corrupt", self.0.display()))
    }

    fn json(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(&self.0).unwrap()).unwrap()
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        self.clean();
    }
}

#[test]
fn store_registers_updates_and_keeps_its_limits() {
    let mut s = Store::new(2, 3);
    assert_eq!(
        s.register("a", "1", inst("10.0.0.1:80", 1, 10, 0), 0),
        Ok(Registered::Created)
    );
    // The same values again: an update that changes no target.
    assert_eq!(
        s.register("a", "1", inst("10.0.0.1:80", 1, 10, 5), 5),
        Ok(Registered::Updated {
            targets_changed: false
        })
    );
    assert_eq!(s.get("a", "1").unwrap().expires_at, 10_005);
    assert_eq!(
        s.register("a", "1", inst("10.0.0.1:80", 2, 10, 5), 5),
        Ok(Registered::Updated {
            targets_changed: true
        })
    );
    s.register("a", "2", inst("10.0.0.2:80", 1, 10, 0), 0)
        .unwrap();
    // Per service: the first of the service's instances expires at 10 000.
    assert_eq!(
        s.register("a", "3", inst("10.0.0.3:80", 1, 10, 100), 100),
        Err(Full::Service(9_900))
    );
    // An update of an instance already there never runs into a limit.
    assert!(s
        .register("a", "2", inst("10.0.0.9:80", 1, 10, 0), 0)
        .is_ok());
    s.register("b", "1", inst("10.0.1.1:80", 1, 20, 0), 0)
        .unwrap();
    assert_eq!(
        s.register("c", "1", inst("10.0.2.1:80", 1, 10, 0), 1000),
        Err(Full::All(9_000))
    );
    assert_eq!((s.len(), s.service_len("a"), s.service_len("c")), (3, 2, 0));
    assert_eq!(s.deregister("a", "1").map(|i| i.weight), Some(2));
    assert_eq!(s.deregister("a", "1"), None);
    assert!(s
        .register("c", "1", inst("10.0.2.1:80", 1, 10, 0), 0)
        .is_ok());
    assert_eq!(s.len(), 3);
    s.deregister("a", "2");
    assert!(s.service("a").is_none(), "an empty service is dropped");
    assert_eq!(s.services().map(|(n, _)| n).collect::<Vec<_>>(), ["b", "c"]);
}

#[test]
fn expiry_follows_the_injected_clock_and_heartbeats_renew() {
    let mut s = Store::new(10, 10);
    s.register("a", "1", inst("10.0.0.1:80", 1, 2, 0), 0)
        .unwrap();
    s.register("a", "2", inst("10.0.0.2:80", 1, 5, 0), 0)
        .unwrap();
    s.register("b", "1", inst("10.0.1.1:80", 1, 2, 0), 0)
        .unwrap();
    assert!(s.expire(1_999).is_empty());
    let generation = s.generation();
    // A heartbeat at 1.5 s holds b/1 until 3.5 s.
    assert_eq!(s.heartbeat("b", "1", 1_500).unwrap().expires_at, 3_500);
    assert!(s.generation() > generation);
    assert!(s.heartbeat("b", "nope", 1_500).is_none());
    let gone: Vec<(String, String)> = s
        .expire(2_000)
        .into_iter()
        .map(|(svc, id, _)| (svc.into(), id.into()))
        .collect();
    assert_eq!(gone, [("a".to_string(), "1".to_string())]);
    assert_eq!(s.len(), 2);
    assert!(s.heartbeat("a", "1", 2_000).is_none(), "gone means gone");
    assert!(s.expire(3_499).is_empty());
    assert_eq!(s.expire(3_500).len(), 1);
    assert_eq!(s.expire(5_000).len(), 1);
    assert!(s.is_empty());
    assert_eq!(s.services().count(), 0);
}

#[test]
fn targets_are_sorted_by_address_with_one_entry_per_address() {
    let mut s = Store::new(10, 10);
    for (id, a, w) in [
        ("z", "10.0.0.9:80", 1),
        ("a", "10.0.0.10:80", 3),
        ("m", "10.0.0.9:80", 7),
        ("b", "[fd00::1]:80", 1),
    ] {
        s.register("svc", id, inst(a, w, 10, 0), 0).unwrap();
    }
    assert_eq!(
        s.targets("svc"),
        [
            target("10.0.0.9:80", 7),
            target("10.0.0.10:80", 3),
            target("[fd00::1]:80", 1)
        ]
    );
    assert!(s.targets("other").is_empty());
}

#[test]
fn every_change_to_a_set_reaches_each_bound_upstream_before_the_answer() {
    let (r, sink) = registry(&spec());
    // At start, every binding gets the (empty) set.
    assert_eq!(
        sink.take(),
        [(0, vec![]), (1, vec![]), (2, vec![])],
        "initial sets"
    );
    let body = json!({"addr": "10.0.0.1:8080", "weight": 2, "ttl_s": 10});
    assert_eq!(put(&r, "users", "u1", body.clone(), 0), Ok(201));
    let one = vec![target("10.0.0.1:8080", 2)];
    assert_eq!(sink.take(), [(0, one.clone()), (2, one.clone())]);
    // Idempotent: the same registration changes no set.
    assert_eq!(put(&r, "users", "u1", body, 1_000), Ok(200));
    // Metadata alone changes no set either.
    let meta = json!({"addr": "10.0.0.1:8080", "weight": 2, "ttl_s": 10, "metadata": {"v": 2}});
    assert_eq!(put(&r, "users", "u1", meta, 1_000), Ok(200));
    assert!(sink.take().is_empty());
    let moved = json!({"addr": "10.0.0.2:8080", "weight": 2, "ttl_s": 10});
    assert_eq!(put(&r, "users", "u1", moved, 2_000), Ok(200));
    let two = vec![target("10.0.0.2:8080", 2)];
    assert_eq!(sink.take(), [(0, two.clone()), (2, two)]);
    // An unbound service is kept, listed, and published nowhere.
    let other = json!({"addr": "10.0.9.1:8080"});
    assert_eq!(put(&r, "billing", "b1", other, 2_000), Ok(201));
    assert!(sink.take().is_empty());
    assert_eq!(ids(&r, "billing", 2_000), ["b1"]);
    // Deregistration: the set without it is with the sink on return.
    let v = call(&r, Route::Deregister("users".into(), "u1".into()), 3_000).unwrap();
    assert_eq!(v["addr"], "10.0.0.2:8080");
    assert_eq!(sink.take(), [(0, vec![]), (2, vec![])]);
    let e = call(&r, Route::Deregister("users".into(), "u1".into()), 3_000).unwrap_err();
    assert_eq!(e.code, ErrorCode::RegistryNotFound);
    assert!(e.detail.contains("u1"), "{}", e.detail);
    assert_eq!(r.stats().get(Op::Register, Outcome::Created), 2);
    assert_eq!(r.stats().get(Op::Register, Outcome::Ok), 3);
    assert_eq!(r.stats().get(Op::Deregister, Outcome::Ok), 1);
    assert_eq!(r.stats().get(Op::Deregister, Outcome::NotFound), 1);
}

#[test]
fn an_instance_that_misses_its_ttl_is_removed_and_published() {
    let (r, sink) = registry(&spec());
    sink.take();
    put(
        &r,
        "orders",
        "o1",
        json!({"addr": "10.0.0.1:80", "ttl_s": 2}),
        0,
    )
    .unwrap();
    put(
        &r,
        "orders",
        "o2",
        json!({"addr": "10.0.0.2:80", "ttl_s": 5}),
        0,
    )
    .unwrap();
    sink.take();
    // Heartbeats keep o1 well past its 2 s TTL.
    for t in [1_500, 3_000, 4_500] {
        r.tick_at(at(t));
        let v = call(&r, Route::Heartbeat("orders".into(), "o1".into()), t).unwrap();
        assert_eq!(v["expires_in_ms"], 2_000);
    }
    r.tick_at(at(4_999));
    assert!(sink.take().is_empty(), "nothing expired yet");
    assert_eq!(r.stats().expired_total(), 0);
    // o2 (5 s, never renewed) goes at 5 s, o1 at 6.5 s.
    r.tick_at(at(5_000));
    assert_eq!(sink.take(), [(1, vec![target("10.0.0.1:80", 1)])]);
    assert_eq!(ids(&r, "orders", 5_000), ["o1"]);
    // A request sees expiry at once, without waiting for the reaper.
    assert!(ids(&r, "orders", 6_500).is_empty());
    assert_eq!(sink.take(), [(1, vec![])]);
    assert_eq!(r.stats().expired_total(), 2);
    let e = call(&r, Route::Heartbeat("orders".into(), "o1".into()), 6_500).unwrap_err();
    assert_eq!(e.code, ErrorCode::RegistryNotFound);
    assert_eq!(r.stats().get(Op::Heartbeat, Outcome::NotFound), 1);
}

#[test]
fn lists_show_the_remaining_ttl() {
    let (r, _) = registry(&spec());
    let meta = json!({"zone": "a", "tags": ["x"]});
    let body = json!({"addr": "10.0.0.1:80", "ttl_s": 10, "metadata": meta});
    put(&r, "users", "u1", body, 0).unwrap();
    put(&r, "orders", "o1", json!({"addr": "10.0.0.2:80"}), 0).unwrap();
    let v = call(&r, Route::List, 4_000).unwrap();
    assert_eq!(
        v,
        json!({"services": [
            {"name": "orders", "instances": [{"service": "orders", "id": "o1", "addr": "10.0.0.2:80",
              "weight": 1, "ttl_s": 30, "expires_in_ms": 26_000, "metadata": {}}]},
            {"name": "users", "instances": [{"service": "users", "id": "u1", "addr": "10.0.0.1:80",
              "weight": 1, "ttl_s": 10, "expires_in_ms": 6_000, "metadata": meta}]},
        ]})
    );
    let one = call(&r, Route::Get("users".into(), "u1".into()), 4_000).unwrap();
    assert_eq!(one["expires_in_ms"], 6_000);
    let none = call(&r, Route::Service("nobody".into()), 0).unwrap();
    assert_eq!(none, json!({"name": "nobody", "instances": []}));
    let e = call(&r, Route::Get("users".into(), "u2".into()), 0).unwrap_err();
    assert_eq!(e.code, ErrorCode::RegistryNotFound);
}

#[test]
fn limits_answer_429_with_retry_after() {
    let (r, _) = registry(&spec());
    for id in ["1", "2", "3"] {
        let body = json!({"addr": format!("10.0.0.{id}:80"), "ttl_s": 10});
        put(&r, "users", id, body, 0).unwrap();
    }
    let e = put(&r, "users", "4", json!({"addr": "10.0.0.4:80"}), 2_500).unwrap_err();
    assert_eq!(e.code, ErrorCode::RegistryFull);
    assert_eq!(e.code.status(), 429);
    assert_eq!(
        e.retry_after_s,
        Some(8),
        "first expiry in 7.5 s, rounded up"
    );
    assert!(
        e.detail.contains("max_instances_per_service"),
        "{}",
        e.detail
    );
    put(&r, "orders", "1", json!({"addr": "10.0.1.1:80"}), 0).unwrap();
    put(&r, "orders", "2", json!({"addr": "10.0.1.2:80"}), 0).unwrap();
    let e = put(&r, "billing", "1", json!({"addr": "10.0.2.1:80"}), 0).unwrap_err();
    assert_eq!(e.code, ErrorCode::RegistryFull);
    assert!(e.detail.contains("registry.max_instances"), "{}", e.detail);
    assert_eq!(r.stats().get(Op::Register, Outcome::Full), 2);
    // Room again once one is gone.
    call(&r, Route::Deregister("users".into(), "1".into()), 0).unwrap();
    assert_eq!(
        put(&r, "billing", "1", json!({"addr": "10.0.2.1:80"}), 0),
        Ok(201)
    );
}

/// The detail of the refusal of `body`, which must be a 400.
fn refused(spec: &RegistrySpec, body: &str) -> String {
    match input::registration(body.as_bytes(), spec) {
        Ok(r) => panic!("{body} accepted as {r:?}"),
        Err(e) => e,
    }
}

#[test]
fn every_bad_field_is_refused_by_name() {
    let mut s = spec();
    s.min_ttl_s = 2;
    s.max_ttl_s = 60;
    for (body, field) in [
        (r#"{"weight": 1}"#, "addr"),
        (r#"{"addr": 8080}"#, "addr"),
        (r#"{"addr": "localhost:8080"}"#, "addr"),
        (r#"{"addr": "10.0.0.1"}"#, "addr"),
        (r#"{"addr": "10.0.0.1:0"}"#, "addr"),
        (r#"{"addr": "10.0.0.1:65536"}"#, "addr"),
        (r#"{"addr": "0.0.0.0:80"}"#, "addr"),
        (r#"{"addr": "[::]:80"}"#, "addr"),
        (r#"{"addr": "224.0.0.1:80"}"#, "addr"),
        (r#"{"addr": "255.255.255.255:80"}"#, "addr"),
        (r#"{"addr": "10.0.0.1:80", "weight": 0}"#, "weight"),
        (r#"{"addr": "10.0.0.1:80", "weight": 1001}"#, "weight"),
        (r#"{"addr": "10.0.0.1:80", "weight": -1}"#, "weight"),
        (r#"{"addr": "10.0.0.1:80", "weight": 1.5}"#, "weight"),
        (r#"{"addr": "10.0.0.1:80", "weight": "2"}"#, "weight"),
        (r#"{"addr": "10.0.0.1:80", "ttl_s": 1}"#, "ttl_s"),
        (r#"{"addr": "10.0.0.1:80", "ttl_s": 61}"#, "ttl_s"),
        (r#"{"addr": "10.0.0.1:80", "ttl_s": null}"#, "ttl_s"),
        (r#"{"addr": "10.0.0.1:80", "metadata": [1]}"#, "metadata"),
        (r#"{"addr": "10.0.0.1:80", "metadata": "x"}"#, "metadata"),
        (r#"{"addr": "10.0.0.1:80", "color": "red"}"#, "color"),
    ] {
        let e = refused(&s, body);
        assert!(e.starts_with(&format!("{field}: ")), "{body}: {e}");
    }
    let big = format!(
        r#"{{"addr": "10.0.0.1:80", "metadata": {{"k": "{}"}}}}"#,
        "x".repeat(MAX_METADATA_BYTES)
    );
    assert!(refused(&s, &big).starts_with("metadata: "));
    for body in ["", "not json", "[1]", "null", "{\"addr\": \"10.0.0.1:80\""] {
        assert!(refused(&s, body).contains("not a JSON object"), "{body:?}");
    }
}

#[test]
fn good_registrations_and_their_defaults() {
    let mut s = spec();
    let r = input::registration(br#"{"addr": "10.0.0.1:80"}"#, &s).unwrap();
    assert_eq!(
        (r.addr, r.weight, r.ttl_s, r.metadata.len()),
        (addr("10.0.0.1:80"), 1, 30, 0)
    );
    let body = br#"{"addr": "[::ffff:10.0.0.7]:80", "weight": 1000, "ttl_s": 3600, "metadata": {"a": {"b": [1, null]}}}"#;
    let r = input::registration(body, &s).unwrap();
    assert_eq!(r.addr, addr("10.0.0.7:80"), "IPv4-mapped is IPv4");
    assert_eq!((r.weight, r.ttl_s), (1000, 3600));
    assert_eq!(
        input::registration(br#"{"addr": "[fd00::5]:8080"}"#, &s)
            .unwrap()
            .addr,
        addr("[fd00::5]:8080")
    );
    s.allow_cidrs = vec![
        Cidr::parse("10.0.0.0/8").unwrap(),
        Cidr::parse("fd00::/8").unwrap(),
    ];
    assert!(input::registration(br#"{"addr": "10.1.2.3:80"}"#, &s).is_ok());
    assert!(input::registration(br#"{"addr": "[fd00::1]:80"}"#, &s).is_ok());
    assert!(input::registration(br#"{"addr": "[::ffff:10.1.2.3]:80"}"#, &s).is_ok());
    let e = refused(&s, r#"{"addr": "192.168.1.1:80"}"#);
    assert!(e.starts_with("addr: ") && e.contains("allow_cidrs"), "{e}");
    assert!(refused(&s, r#"{"addr": "127.0.0.1:80"}"#).starts_with("addr: "));
}

#[test]
fn routes_check_path_method_and_names() {
    let ok = |m, p: &str| api::route(m, p).unwrap();
    let err = |m, p: &str| api::route(m, p).unwrap_err();
    let (s, i) = (String::from("users"), String::from("u-1.a_b"));
    assert_eq!(ok(Method::Get, "/registry/services"), Route::List);
    assert_eq!(
        ok(Method::Get, "/registry/services/users"),
        Route::Service(s.clone())
    );
    let base = "/registry/services/users/instances/u-1.a_b";
    assert_eq!(ok(Method::Get, base), Route::Get(s.clone(), i.clone()));
    assert_eq!(ok(Method::Put, base), Route::Register(s.clone(), i.clone()));
    assert_eq!(
        ok(Method::Delete, base),
        Route::Deregister(s.clone(), i.clone())
    );
    assert_eq!(
        ok(Method::Put, &format!("{base}/heartbeat")),
        Route::Heartbeat(s, i)
    );
    for p in [
        "/registry",
        "/registry/servicesx",
        "/registry/services/users/instances",
        "/registry/services/users/nodes/a",
        "/registry/services/users/instances/a/beat",
        "/registry/services/users/instances/a/heartbeat/x",
    ] {
        assert_eq!(err(Method::Get, p).code, ErrorCode::RegistryNotFound, "{p}");
    }
    for (m, p, allow) in [
        (Method::Post, "/registry/services", "GET"),
        (Method::Delete, "/registry/services/users", "GET"),
        (Method::Post, base, "GET, PUT, DELETE"),
        (Method::Head, base, "GET, PUT, DELETE"),
        (
            Method::Get,
            "/registry/services/users/instances/a/heartbeat",
            "PUT",
        ),
    ] {
        let e = err(m, p);
        assert_eq!(
            (e.code, e.allow),
            (ErrorCode::RegistryMethodNotAllowed, Some(allow)),
            "{p}"
        );
    }
    let e = err(Method::Put, "/registry/services/us%20ers/instances/a");
    assert!(e.detail.starts_with("service: "), "{}", e.detail);
    let long = "a".repeat(65);
    let e = err(
        Method::Put,
        &format!("/registry/services/users/instances/{long}"),
    );
    assert!(e.detail.starts_with("id: "), "{}", e.detail);
    assert_eq!(e.code, ErrorCode::RegistryBadRequest);
    for p in ["/registry/", "/registry/services/"] {
        let e = err(Method::Get, p);
        assert_eq!(e.code, ErrorCode::RegistryBadRequest, "{p}");
        assert!(e.detail.starts_with("path: "), "{p}: {}", e.detail);
    }
    assert!(api::is_registry_path("/registry/services"));
    assert!(api::is_registry_path("/registry"));
    assert!(!api::is_registry_path("/registryx"));
}

#[test]
fn the_state_file_survives_a_restart_with_what_was_left_of_each_ttl() {
    let file = TempPath::new("roundtrip");
    let mut s = spec();
    s.state_file = Some(file.0.clone());
    let (r, _) = registry(&s);
    let meta = json!({"zone": "eu-1"});
    put(
        &r,
        "users",
        "u1",
        json!({"addr": "10.0.0.1:80", "weight": 3, "ttl_s": 10, "metadata": meta}),
        0,
    )
    .unwrap();
    put(
        &r,
        "users",
        "u2",
        json!({"addr": "[fd00::2]:80", "ttl_s": 3}),
        0,
    )
    .unwrap();
    put(
        &r,
        "orders",
        "o1",
        json!({"addr": "10.0.1.1:80", "ttl_s": 60}),
        0,
    )
    .unwrap();
    // Written before the answer: the file already has all three.
    let v = file.json();
    assert_eq!(v["version"], 1);
    assert_eq!(v["instances"].as_array().unwrap().len(), 3);
    assert_eq!(v["instances"][1]["expires_unix_ms"], at(0).unix_ms + 10_000);
    drop(r);

    // Restarted 4 s later (by the wall clock; the new monotonic clock is at 0):
    // u2 (3 s) has expired, u1 has 6 s left, o1 56 s.
    let sink = Arc::new(Recorder::default());
    let later = Now {
        mono_ms: 0,
        unix_ms: at(0).unix_ms + 4_000,
    };
    let bindings = vec![("users".to_string(), 0)];
    let r = Registry::at(&s, bindings, sink.clone(), later);
    assert_eq!(sink.take(), [(0, vec![target("10.0.0.1:80", 3)])]);
    assert_eq!(r.stats().expired_total(), 1);
    let u1 = r
        .serve_at(&Route::Get("users".into(), "u1".into()), b"", later)
        .unwrap();
    let u1: Value = serde_json::from_str(&u1.body).unwrap();
    assert_eq!(
        (&u1["expires_in_ms"], &u1["weight"], &u1["metadata"]),
        (&json!(6_000), &json!(3), &meta)
    );
    let o1 = r
        .serve_at(&Route::Get("orders".into(), "o1".into()), b"", later)
        .unwrap();
    assert!(o1.body.contains("\"expires_in_ms\": 56000"), "{}", o1.body);
    assert!(r
        .serve_at(&Route::Get("users".into(), "u2".into()), b"", later)
        .is_err());
    // And u1 expires on the new clock when its 6 s are up.
    r.tick_at(Now {
        mono_ms: 6_000,
        unix_ms: later.unix_ms + 6_000,
    });
    assert_eq!(sink.take(), [(0, vec![])]);
    assert_eq!(r.stats().state_errors(StateOp::Load), 0);
}

#[test]
fn deregistration_is_saved_before_its_answer_and_heartbeats_by_the_reaper() {
    let file = TempPath::new("persist");
    let mut s = spec();
    s.state_file = Some(file.0.clone());
    let (r, _) = registry(&s);
    put(
        &r,
        "users",
        "u1",
        json!({"addr": "10.0.0.1:80", "ttl_s": 10}),
        0,
    )
    .unwrap();
    put(
        &r,
        "users",
        "u2",
        json!({"addr": "10.0.0.2:80", "ttl_s": 10}),
        0,
    )
    .unwrap();
    call(&r, Route::Deregister("users".into(), "u1".into()), 1_000).unwrap();
    let v = file.json();
    let left: Vec<&str> = v["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(left, ["u2"]);
    // A heartbeat is not written at once; the next tick writes it.
    call(&r, Route::Heartbeat("users".into(), "u2".into()), 5_000).unwrap();
    assert_eq!(
        file.json()["instances"][0]["expires_unix_ms"],
        at(0).unix_ms + 10_000
    );
    r.tick_at(at(5_050));
    assert_eq!(
        file.json()["instances"][0]["expires_unix_ms"],
        at(5_000).unix_ms + 10_000
    );
    // Nothing changed: no write (the file keeps its written_unix_ms).
    r.tick_at(at(6_000));
    assert_eq!(file.json()["written_unix_ms"], at(5_050).unix_ms);
    // No temporary file is left behind.
    let dir = file.0.parent().unwrap();
    let name = file.0.file_name().unwrap().to_string_lossy().into_owned();
    assert!(!dir.join(format!(".{name}.tmp")).exists());
}

#[test]
fn a_corrupt_state_file_is_counted_moved_aside_and_the_registry_starts_empty() {
    for (case, text) in [
        ("garbage", "{\"version\": 1, \"instances\": [".to_string()),
        (
            "version",
            "{\"version\": 2, \"written_unix_ms\": 0, \"instances\": []}".to_string(),
        ),
        (
            "unknown",
            "{\"version\": 1, \"written_unix_ms\": 0, \"instances\": [], \"x\": 1}".to_string(),
        ),
    ] {
        let file = TempPath::new(&format!("corrupt-{case}"));
        std::fs::write(&file.0, &text).unwrap();
        let mut s = spec();
        s.state_file = Some(file.0.clone());
        let (r, _) = registry(&s);
        assert_eq!(r.stats().state_errors(StateOp::Load), 1, "{case}");
        assert!(ids(&r, "users", 0).is_empty());
        assert_eq!(
            std::fs::read_to_string(file.corrupt()).unwrap(),
            text,
            "{case}"
        );
        // And it works: the next change writes a good file.
        put(&r, "users", "u1", json!({"addr": "10.0.0.1:80"}), 0).unwrap();
        assert_eq!(file.json()["instances"][0]["id"], "u1");
        let mut out = String::new();
        r.render_metrics(&mut out);
        assert!(
            out.contains("ringway_registry_state_file_errors_total{op=\"load\"} 1\n"),
            "{out}"
        );
    }
}

#[test]
fn restored_entries_are_held_to_todays_rules() {
    let file = TempPath::new("rules");
    let entry = |id: &str, addr: &str, ttl_s: u32| {
        json!({"service": "users", "id": id, "addr": addr, "weight": 1, "ttl_s": ttl_s,
               "expires_unix_ms": at(0).unix_ms + 5_000, "metadata": {}})
    };
    let doc = json!({"version": 1, "written_unix_ms": 0, "instances": [
        entry("ok", "10.0.0.1:80", 10),
        entry("outside", "192.168.0.1:80", 10),
        entry("bad name", "10.0.0.2:80", 10),
        entry("ttl", "10.0.0.3:80", 7200),
        entry("host", "db.internal:80", 10),
    ]});
    std::fs::write(&file.0, doc.to_string()).unwrap();
    let mut s = spec();
    s.state_file = Some(file.0.clone());
    s.allow_cidrs = vec![Cidr::parse("10.0.0.0/8").unwrap()];
    let (r, _) = registry(&s);
    assert_eq!(ids(&r, "users", 0), ["ok"]);
    assert_eq!(
        r.stats().state_errors(StateOp::Load),
        0,
        "refusals are not corruption"
    );
}

#[test]
fn a_failed_write_is_reported_but_the_change_stands() {
    let mut s = spec();
    s.state_file = Some(std::env::temp_dir().join("ringway-no-such-dir-4711/registry.json"));
    let (r, sink) = registry(&s);
    sink.take();
    let e = put(&r, "users", "u1", json!({"addr": "10.0.0.1:80"}), 0).unwrap_err();
    assert_eq!(e.code, ErrorCode::RegistryNotSaved);
    assert_eq!(e.code.status(), 500);
    assert_eq!(ids(&r, "users", 0), ["u1"]);
    assert_eq!(sink.take().len(), 2, "published to both bound upstreams");
    assert_eq!(r.stats().state_errors(StateOp::Write), 1);
    assert_eq!(r.stats().get(Op::Register, Outcome::NotSaved), 1);
}

#[test]
fn snapshot_text_round_trips() {
    let mut store = Store::new(10, 10);
    let mut i = inst("10.0.0.1:80", 4, 20, 1_000);
    i.metadata.insert("k".into(), json!([1, "two"]));
    store.register("users", "u1", i, 1_000).unwrap();
    let now = at(6_000);
    let text = snapshot::render(&store, now);
    let entries = snapshot::parse(&text).unwrap();
    assert_eq!(
        entries,
        [snapshot::Entry {
            service: "users".into(),
            id: "u1".into(),
            addr: "10.0.0.1:80".into(),
            weight: 4,
            ttl_s: 20,
            expires_unix_ms: now.unix_ms + 15_000,
            metadata: json!({"k": [1, "two"]}).as_object().unwrap().clone(),
        }]
    );
    assert!(snapshot::parse("{}").is_err());
}

#[test]
fn metrics_label_only_bound_services() {
    let (r, _) = registry(&spec());
    put(&r, "users", "u1", json!({"addr": "10.0.0.1:80"}), 0).unwrap();
    put(&r, "users", "u2", json!({"addr": "10.0.0.2:80"}), 0).unwrap();
    put(
        &r,
        "client-chosen-name",
        "x",
        json!({"addr": "10.0.0.3:80"}),
        0,
    )
    .unwrap();
    put(&r, "users", "u3", json!({"addr": "nope"}), 0).unwrap_err();
    r.count(Op::Other, Outcome::Unauthorized);
    let mut out = String::new();
    r.render_metrics(&mut out);
    for line in [
        "ringway_registry_instances{service=\"orders\"} 0\n",
        "ringway_registry_instances{service=\"users\"} 2\n",
        "ringway_registry_all_instances 3\n",
        "ringway_registry_services 2\n",
        "ringway_registry_operations_total{op=\"register\",result=\"created\"} 3\n",
        "ringway_registry_operations_total{op=\"register\",result=\"bad_request\"} 1\n",
        "ringway_registry_operations_total{op=\"other\",result=\"unauthorized\"} 1\n",
        "ringway_registry_expired_total 0\n",
        "# TYPE ringway_registry_instances gauge\n",
    ] {
        assert!(out.contains(line), "{line} missing from\n{out}");
    }
    assert!(!out.contains("client-chosen-name"), "{out}");
    assert_eq!(out.matches("ringway_registry_instances{").count(), 2);
}

/// Every other spelling of a registry path is refused, naming the field the
/// odd segment stands for, never resolved into a name the client did not
/// send.
#[test]
fn routes_take_one_spelling_of_each_path() {
    let err = |m, p: &str| api::route(m, p).unwrap_err();
    for (p, field) in [
        ("/registry/services/us%65rs/instances/a", "service"),
        ("/registry/services/users/instances/a%2Fb", "id"),
        ("/registry/services/users/instances/%2E%2E", "id"),
        ("/registry/services/users/../x/instances/a", "path"),
        ("/registry/services/users/./instances/a", "path"),
        ("/registry/./services/users/instances/a", "path"),
        ("/x/../registry/services/users/instances/a", "path"),
        ("/registry/services/users//instances/a", "path"),
        ("//registry/services/users/instances/a", "path"),
        ("/registry/services//instances/a", "service"),
        ("/registry/services/users/instances/a/", "path"),
        ("/registry/services/users/instances/a/heartbeat/", "path"),
        ("/registry/services/./instances/a", "service"),
        ("/registry/services/../instances/a", "service"),
        ("/registry/services/users/instances/.", "id"),
        ("/registry/services/users/instances/..", "id"),
        ("/registry/services/users/instances/../heartbeat", "id"),
        ("/registry/services/users/instances/a?x", "query"),
        ("/registry/services?", "query"),
    ] {
        let e = err(Method::Put, p);
        assert_eq!(e.code, ErrorCode::RegistryBadRequest, "{p}");
        assert!(
            e.detail.starts_with(&format!("{field}: ")),
            "{p}: {}",
            e.detail
        );
    }
    // Names that are a dot segment are refused wherever a name is taken
    // (the state file too), though `.` is a legal character in a name.
    for s in [".", ".."] {
        assert!(input::name("id", s).unwrap_err().starts_with("id: "));
    }
    for s in ["a.b", ".a", "a..b", "..."] {
        assert_eq!(input::name("id", s), Ok(()), "{s}");
    }
    assert_eq!(err(Method::Get, "").code, ErrorCode::RegistryNotFound);
    assert_eq!(err(Method::Get, "*").code, ErrorCode::RegistryNotFound);
}
