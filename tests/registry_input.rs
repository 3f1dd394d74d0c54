//! The service registry's input over the wire: every bad field, and every
//! other spelling of a path, refused with a 400 naming it, and an escaped
//! slash refused where the listener would decode it.

mod common;

use std::net::SocketAddr;

use common::admin::*;
use common::registry::*;
use common::*;

#[test]
fn every_bad_input_is_refused_with_the_field_named() {
    let token = SecretFile::new("reg-token", REG_TOKEN);
    let gw = Gateway::start(&config(
        &token,
        &[],
        "allow_cidrs = [\"127.0.0.0/8\"]\nmax_ttl_s = 60\n",
    ));
    let a = gw.admin_addr();
    for (body, field) in [
        (r#"{"weight": 1}"#, "addr"),
        (r#"{"addr": "localhost:9001"}"#, "addr"),
        (r#"{"addr": "127.0.0.1"}"#, "addr"),
        (r#"{"addr": "127.0.0.1:0"}"#, "addr"),
        (r#"{"addr": "10.0.0.1:9001"}"#, "addr"),
        (r#"{"addr": "127.0.0.1:9001", "weight": 0}"#, "weight"),
        (r#"{"addr": "127.0.0.1:9001", "weight": 1001}"#, "weight"),
        (r#"{"addr": "127.0.0.1:9001", "weight": "1"}"#, "weight"),
        (r#"{"addr": "127.0.0.1:9001", "ttl_s": 0}"#, "ttl_s"),
        (r#"{"addr": "127.0.0.1:9001", "ttl_s": 61}"#, "ttl_s"),
        (
            r#"{"addr": "127.0.0.1:9001", "metadata": ["a"]}"#,
            "metadata",
        ),
        (r#"{"addr": "127.0.0.1:9001", "colour": "red"}"#, "colour"),
    ] {
        let r = register(a, "users", "u1", body);
        assert_bad(&r, field);
        assert_request_id(&r);
    }
    let big = format!(
        r#"{{"addr": "127.0.0.1:9001", "metadata": {{"blob": "{}"}}}}"#,
        "x".repeat(5000)
    );
    assert_bad(&register(a, "users", "u1", &big), "metadata");
    for body in ["", "{", "[]"] {
        let r = register(a, "users", "u1", body);
        assert_error(&r, 400, "registry_bad_request");
    }
    // Names in the path: the upstream-name syntax.
    assert_bad(
        &register(a, "us$ers", "u1", r#"{"addr": "127.0.0.1:9001"}"#),
        "service",
    );
    let long = "i".repeat(65);
    assert_bad(
        &register(a, "users", &long, r#"{"addr": "127.0.0.1:9001"}"#),
        "id",
    );
    let r = call(a, "GET", "/registry/services/a%2Cb", Some(REG_TOKEN), "");
    assert_bad(&r, "service");
    // Bodies are bounded before they are read.
    let huge = format!(
        r#"{{"addr": "127.0.0.1:9001", "x": "{}"}}"#,
        "y".repeat(9000)
    );
    assert_error(&register(a, "users", "u1", &huge), 413, "body_too_large");
    // Methods and paths.
    let r = call(
        a,
        "POST",
        &instance_path("users", "u1"),
        Some(REG_TOKEN),
        "",
    );
    assert_error(&r, 405, "registry_method_not_allowed");
    assert_eq!(r.header("allow"), Some("GET, PUT, DELETE"));
    let r = call(
        a,
        "GET",
        "/registry/services/users/pods",
        Some(REG_TOKEN),
        "",
    );
    assert_error(&r, 404, "registry_not_found");
    assert!(listed(a, "users").is_empty(), "nothing bad was kept");
}

/// `ringway_registry_operations_total{op="other",result="bad_request"}`.
const OTHER_BAD: &str = "ringway_registry_operations_total{op=\"other\",result=\"bad_request\"}";

/// Each spelling the listener would decode, resolve or merge into another
/// path is refused by the registry, naming the field, and stores nothing:
/// the name a client sees stored is the one it sent.
#[test]
fn every_other_spelling_of_a_registry_path_is_refused() {
    let token = SecretFile::new("reg-token", REG_TOKEN);
    let gw = Gateway::start(&config(&token, &[], ""));
    let a = gw.admin_addr();
    let body = r#"{"addr": "127.0.0.1:9001"}"#;
    assert_eq!(register(a, "users", "u1", body).status, 201);
    let before = gw.counter(OTHER_BAD);
    let spellings = [
        ("PUT", "/registry/services/us%65rs/instances/a", "service"),
        ("PUT", "/registry/services/users/instances/%61", "id"),
        ("PUT", "/registry/services/users/instances/%2E%2E", "id"),
        ("PUT", "/registry/services/users/../x/instances/a", "path"),
        ("PUT", "/registry/services/users/./instances/a", "path"),
        ("PUT", "/registry/./services/users/instances/a", "path"),
        ("PUT", "/registry/services/users//instances/a", "path"),
        ("PUT", "//registry/services/users/instances/a", "path"),
        ("PUT", "/registry/services/users/instances/a/", "path"),
        ("PUT", "/registry/services/./instances/a", "service"),
        ("PUT", "/registry/services/users/instances/.", "id"),
        ("PUT", "/registry/services/users/instances/..", "id"),
        ("PUT", "/registry/services/users/instances/a?x", "query"),
        ("PUT", "/registry/services/users/instances/a?", "query"),
        // Each of these would reach u1 once resolved.
        (
            "DELETE",
            "/registry/services/users/instances/x/../u1",
            "path",
        ),
        ("DELETE", "/registry/services/users/instances/u%31", "id"),
        ("DELETE", "/registry/services/users/instances/u1/", "path"),
        (
            "PUT",
            "/registry/services/users/instances/u1//heartbeat",
            "path",
        ),
        ("GET", "/registry/services/users/", "path"),
        ("GET", "/registry/services?verbose", "query"),
    ];
    for (method, target, field) in spellings {
        let b = if method == "PUT" { body } else { "" };
        let r = call(a, method, target, Some(REG_TOKEN), b);
        assert_bad(&r, field);
        assert_request_id(&r);
    }
    // Without the token, the spelling is not even looked at.
    let r = call(
        a,
        "PUT",
        "/registry/services/us%65rs/instances/a",
        None,
        body,
    );
    assert_error(&r, 401, "registry_unauthorized");
    // What the listener refuses for every path comes first: an escaped
    // slash (`escaped_slashes = "reject"`) and a fragment.
    let r = call(
        a,
        "PUT",
        "/registry/services/users/instances/a%2Fb",
        Some(REG_TOKEN),
        body,
    );
    assert_error(&r, 400, "ambiguous_path");
    let r = call(
        a,
        "PUT",
        "/registry/services/users/instances/a#x",
        Some(REG_TOKEN),
        body,
    );
    assert_error(&r, 400, "invalid_path");
    assert_eq!(services(a), ["users"], "nothing new was stored");
    assert_eq!(
        listed(a, "users"),
        ["u1"],
        "u1 was neither replaced nor removed"
    );
    let refused = spellings.len() as f64;
    assert_eq!(gw.counter(OTHER_BAD) - before, refused);
}

/// Where the listener decodes `%2F` into `/` (`escaped_slashes =
/// "decode"`), the registry still takes the name as sent, on its own
/// listener too.
#[test]
fn an_escaped_slash_is_refused_where_the_listener_would_decode_it() {
    let token = SecretFile::new("reg-token", REG_TOKEN);
    let server = [("escaped_slashes", "\"decode\"")];
    let gw = Gateway::start(&config(&token, &server, "listen = \"127.0.0.1:0\"\n"));
    let own: SocketAddr = gw.log_entries("registry listening")[0]["addr"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("registry listening addr");
    let body = r#"{"addr": "127.0.0.1:9001"}"#;
    for target in [
        "/registry/services/users/instances/a%2Fb",
        "/registry/services/users%2Finstances%2Fa",
        "/registry/services/users/instances/a%5Cb",
    ] {
        let r = call(own, "PUT", target, Some(REG_TOKEN), body);
        let field = if target.contains("users%2F") {
            "service"
        } else {
            "id"
        };
        assert_bad(&r, field);
    }
    assert!(services(own).is_empty(), "nothing was stored");
}
