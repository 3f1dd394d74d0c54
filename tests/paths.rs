//! Path normalisation as a security boundary: dot segments (plain and
//! percent-encoded), `//`, unreserved escapes are resolved before routing
//! and the upstream receives the normalised path; `%2F` is 400
//! `ambiguous_path` by default; bad escapes are 400 `invalid_path`; the
//! query string is never touched.
//! Routes: `/api/users` → users, `/api/public` → public; nothing for
//! `/api/admin`, so any trick that reaches "admin" must be a 404.

mod common;

use std::time::Duration;

use common::*;

struct Env {
    users: Upstream,
    public: Upstream,
    gw: Gateway,
}

fn env() -> Env {
    let users = Upstream::echo("users");
    let public = Upstream::echo("public");
    let gw = Gateway::start(&build(
        &[],
        &[("users", users.addr()), ("public", public.addr())],
        r#"
[[routes]]
name = "users"
path_prefix = "/api/users"
upstream = "users"

[[routes]]
name = "public"
path_prefix = "/api/public"
upstream = "public"

[[routes]]
name = "stripped"
path_prefix = "/s/users"
strip_prefix = "/s"
upstream = "users"
"#,
    ));
    Env { users, public, gw }
}

impl Env {
    fn nothing_upstream(&self, what: &str) {
        self.users.assert_untouched(what);
        self.public.assert_untouched(what);
    }
}

fn assert_not_found(target: &str) {
    let e = env();
    let mut cl = e.gw.client();
    let r = cl.roundtrip(&get(target, "h"));
    assert_error(&r, 404, "route_not_found");
    e.nothing_upstream(target);
}

/// `target` must reach `which` upstream as exactly `forwarded`.
fn assert_forwarded(e: &Env, target: &str, which: &str, forwarded: &str) {
    let mut cl = e.gw.client();
    let r = cl.roundtrip(&get(target, "h"));
    assert_eq!(r.status, 200, "{target}: {}", r.summary());
    assert_eq!(
        r.upstream(),
        Some(which),
        "{target} routed to the wrong upstream"
    );
    let up = if which == "users" {
        &e.users
    } else {
        &e.public
    };
    assert_eq!(
        up.last().target,
        forwarded,
        "{target} forwarded un-normalised"
    );
}

#[test]
fn dot_dot_out_of_an_allowed_prefix_is_404() {
    assert_not_found("/api/users/../admin");
}

#[test]
fn encoded_dot_dot_is_decoded_then_resolved() {
    assert_not_found("/api/public/%2e%2e/admin");
}

#[test]
fn mixed_encoded_dot_dot_is_resolved() {
    assert_not_found("/api/public/.%2E/admin");
}

#[test]
fn double_slash_is_merged() {
    assert_not_found("//api/admin");
}

#[test]
fn single_dot_is_removed() {
    assert_not_found("/api/./admin");
}

#[test]
fn dot_dot_to_the_parent_of_a_prefix_is_404() {
    assert_not_found("/api/users/..");
}

#[test]
fn encoded_slash_is_refused_by_default() {
    // Issue 10 changed this: `..%2fadmin` used to be forwarded as one
    // segment under /api/public, and an upstream that decodes `%2F` then
    // served /api/admin. Now it is 400 ambiguous_path (escaped_slashes =
    // "reject", the default; tests/path_spellings.rs covers "decode").
    for target in [
        "/api/public/..%2fadmin",
        "/api/public/..%5Cadmin",
        "/api/public/..\\admin",
    ] {
        let e = env();
        let mut cl = e.gw.client();
        let r = cl.roundtrip(&get(target, "h"));
        assert_error(&r, 400, "ambiguous_path");
        assert!(cl.is_closed(Duration::from_secs(3)), "{target}");
        e.nothing_upstream(target);
    }
}

#[test]
fn forwarded_path_is_normalised() {
    let e = env();
    assert_forwarded(&e, "/api/users/./7", "users", "/api/users/7");
    assert_forwarded(&e, "//api//users///7", "users", "/api/users/7");
    assert_forwarded(&e, "/api/users/x/../7", "users", "/api/users/7");
    assert_forwarded(&e, "/api/users/%2e/7", "users", "/api/users/7");
    assert_forwarded(
        &e,
        "/api/users/%2e%2e/%2e%2e/api/public/x",
        "public",
        "/api/public/x",
    );
    assert_forwarded(&e, "/api/public/../users/1", "users", "/api/users/1");
}

#[test]
fn unreserved_escapes_are_decoded_before_matching() {
    let e = env();
    assert_forwarded(&e, "/%61pi/users/7", "users", "/api/users/7");
    assert_forwarded(&e, "/api/%75sers/%7e", "users", "/api/users/~");
}

#[test]
fn strip_prefix_applies_to_the_normalised_path() {
    let e = env();
    assert_forwarded(&e, "/s/users/../users/7", "users", "/users/7");
    assert_forwarded(&e, "/s//users/8", "users", "/users/8");
}

#[test]
fn query_string_is_forwarded_untouched() {
    let e = env();
    let q = "?a=..%2f&b=%zz&c=/../x&d=%2e%2e&e=";
    assert_forwarded(
        &e,
        &format!("/api/users/7{q}"),
        "users",
        &format!("/api/users/7{q}"),
    );
    assert_forwarded(
        &e,
        &format!("/api/users/x/../7{q}"),
        "users",
        &format!("/api/users/7{q}"),
    );
}

fn assert_invalid_path(target: &str) {
    let e = env();
    let mut cl = e.gw.client();
    let r = cl.roundtrip(&get(target, "h"));
    assert_error(&r, 400, "invalid_path");
    assert!(
        cl.is_closed(Duration::from_secs(3)),
        "{target}: connection not closed"
    );
    e.nothing_upstream(target);
}

#[test]
fn invalid_percent_escape_is_400() {
    assert_invalid_path("/api/users/%zz");
}

#[test]
fn truncated_percent_escape_is_400() {
    assert_invalid_path("/api/users/%2");
}

#[test]
fn encoded_nul_is_400() {
    assert_invalid_path("/api/users/a%00b");
}

#[test]
fn overlong_utf8_is_400() {
    assert_invalid_path("/api/public/%C0%AE%C0%AE/admin");
}
