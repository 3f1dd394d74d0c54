//! The state file: round trip, restart, corruption, failed writes.

use super::*;

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
