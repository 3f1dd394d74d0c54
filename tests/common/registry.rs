//! Helpers for the registry's wire tests (`tests/registry_*.rs`): the
//! config with a `[registry]` token, one registry request, and the
//! register/heartbeat/deregister/list calls built on it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::admin::*;
use super::*;

/// The registry token the tests configure (not the admin token).
pub const REG_TOKEN: &str = "reg-5d2a8c1e9f4b7a6d3c0e";

/// `[server]` (admin listener, `server` overrides), upstream `u`, a catch-all
/// route, then `[registry]` with the token in `token` and `extra` lines.
pub fn config(token: &SecretFile, server: &[(&str, &str)], extra: &str) -> String {
    format!(
        "{}\n[registry]\ntoken = {}\n{extra}\n",
        build(server, &[("u", unused_addr())], catch_all()),
        token.spec()
    )
}

/// One registry request carrying `Bearer token` (if any) and a body.
pub fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> Response {
    let auth = token.map(bearer);
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if let Some(a) = &auth {
        headers.push(("Authorization", a));
    }
    if !body.is_empty() {
        headers.push(("Content-Type", "application/json"));
    }
    let mut c = RawClient::connect(addr);
    c.set_timeout(Duration::from_secs(5));
    let r = c.roundtrip(&req(method, path, "registry", &headers, body.as_bytes()));
    // Close our side and wait for the listener to close its own: each call
    // is a connection of its own, and the tests that make dozens in a row
    // must not find the listener's 16 slots (admin::MAX_CONNECTIONS) still
    // held by connections whose threads have not yet seen the EOF.
    c.shutdown_write();
    assert!(c.is_closed(Duration::from_secs(5)), "the listener closed");
    r
}

pub fn instance_path(service: &str, id: &str) -> String {
    format!("/registry/services/{service}/instances/{id}")
}

pub fn register(addr: SocketAddr, service: &str, id: &str, body: &str) -> Response {
    call(
        addr,
        "PUT",
        &instance_path(service, id),
        Some(REG_TOKEN),
        body,
    )
}

pub fn heartbeat(addr: SocketAddr, service: &str, id: &str) -> Response {
    let path = format!("{}/heartbeat", instance_path(service, id));
    call(addr, "PUT", &path, Some(REG_TOKEN), "")
}

pub fn deregister(addr: SocketAddr, service: &str, id: &str) -> Response {
    call(
        addr,
        "DELETE",
        &instance_path(service, id),
        Some(REG_TOKEN),
        "",
    )
}

/// The ids `GET /registry/services/{service}` lists.
pub fn listed(addr: SocketAddr, service: &str) -> Vec<String> {
    let r = call(
        addr,
        "GET",
        &format!("/registry/services/{service}"),
        Some(REG_TOKEN),
        "",
    );
    assert_eq!(r.status, 200, "{}", r.summary());
    let v = r.json();
    assert_eq!(v["name"], service);
    v["instances"]
        .as_array()
        .expect("instances")
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_string())
        .collect()
}

/// `r` is a registry 400 whose message names `field`.
pub fn assert_bad(r: &Response, field: &str) {
    assert_error(r, 400, "registry_bad_request");
    let msg = r.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.contains(&format!(": {field}: ")),
        "message does not name {field}: {msg}"
    );
}

/// The service names `GET /registry/services` lists.
pub fn services(addr: SocketAddr) -> Vec<String> {
    let r = call(addr, "GET", "/registry/services", Some(REG_TOKEN), "");
    assert_eq!(r.status, 200, "{}", r.summary());
    let v = r.json();
    let list = v["services"].as_array().expect("services").iter();
    list.map(|s| s["name"].as_str().expect("name").to_string())
        .collect()
}
