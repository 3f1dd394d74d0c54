//! The store and its limits, expiry, publication to the sink, metrics.

use super::*;

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
