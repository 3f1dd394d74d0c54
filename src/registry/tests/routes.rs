//! Input validation and the admin routes, in their one spelling.

use super::*;

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
