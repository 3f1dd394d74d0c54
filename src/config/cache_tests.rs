//! `[caches.NAME]` and a route's `cache`: every rule with its key and line,
//! the compiled form, and what a reload keeps.

use std::sync::Arc;

use super::route_tests::only;
use super::*;

/// Lines 1-6: a server and an upstream; a cache table from line 8
/// (`cache` keys follow `[caches.main]`), then a route whose `cache` is
/// `route` (its `[[routes]]` line depends on `cache`'s length).
fn src(cache: &str, route: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:8080\"\n\n[[upstreams]]\nname = \"u\"\ntargets = [\"127.0.0.1:1\"]\n\n\
         [caches.main]\n{cache}\n\n[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\ncache = {route}\n"
    )
}

fn ok(s: &str) -> Compiled {
    load_str(s, "t.toml").unwrap_or_else(|e| panic!("{s}\n{e}"))
}

#[test]
fn cache_tables_are_checked_key_by_key() {
    let m = only(&src("", "\"main\""), "caches.main.max_bytes", 8);
    assert!(m.contains("missing"), "{m}");
    only(
        &src("max_bytes = 10", "\"main\""),
        "caches.main.max_bytes",
        9,
    );
    let m = only(
        &src(
            "max_bytes = 16777216\nmax_object_bytes = 16777217",
            "\"main\"",
        ),
        "caches.main.max_object_bytes",
        10,
    );
    assert!(m.contains("between 1 and 16777216"), "{m}");
    only(
        &src("max_bytes = 16777216\nlock_timeout_ms = 0", "\"main\""),
        "caches.main.lock_timeout_ms",
        10,
    );
}

#[test]
fn a_route_cache_names_a_cache_and_valid_key_parts() {
    let base = "max_bytes = 16777216";
    let m = only(&src(base, "\"other\""), "routes[0].cache", 15);
    assert!(m.contains("unknown cache \"other\" (defined: main)"), "{m}");
    let m = only(
        &src(base, "{ name = \"main\", key = [\"cookie\"] }"),
        "routes[0].cache.key[0]",
        15,
    );
    assert!(m.contains("header:NAME"), "{m}");
    only(
        &src(base, "{ name = \"main\", default_ttl_s = 99999999999 }"),
        "routes[0].cache.default_ttl_s",
        15,
    );
    let m = only(
        &src(base, "{ name = \"main\", bogus = 1 }"),
        "routes[0].cache.bogus",
        15,
    );
    assert!(m.contains("unknown field `bogus`"), "{m}");
    only(&src(base, "3"), "routes[0].cache", 15);
    // The upstream must see what the cache is keyed on.
    let edits = "{ name = \"main\", key = [\"header:x-tenant\"] }\nrequest_headers = { remove = [\"x-tenant\"] }";
    only(&src(base, edits), "routes[0].cache.key[0]", 15);
}

#[test]
fn a_route_cache_compiles_to_the_shared_store() {
    let c = ok(&src(
        "max_bytes = 16777216\nlock_timeout_ms = 250",
        "{ name = \"main\", key = [\"header:Accept-Language\"], default_ttl_s = 30, cache_authorized = true }",
    ));
    let rc = c.router.routes()[0].cache.as_deref().expect("cache");
    assert!(Arc::ptr_eq(&rc.cache, &c.caches[0]));
    assert_eq!(
        rc.key[..],
        [crate::cache::named::KeyPart::Header(
            b"accept-language"[..].into()
        )]
    );
    assert_eq!(
        (rc.default_ttl, rc.cache_authorized, rc.cache_set_cookie),
        (30, true, false)
    );
    assert_eq!(rc.lock_timeout, std::time::Duration::from_millis(250));
    assert_eq!(c.caches[0].max_object_bytes, 8 << 20, "the default");
    assert_eq!(
        c.caches[0].store.max_object_bytes(),
        8 << 20,
        "kept by the store"
    );
}

#[test]
fn a_reload_keeps_a_store_of_the_same_name_and_sizes() {
    let text = |max: u64, lock: u64| {
        src(
            &format!("max_bytes = {max}\nlock_timeout_ms = {lock}"),
            "\"main\"",
        )
    };
    let old = ok(&text(16 << 20, 100));
    let same = load_str_keeping(&text(16 << 20, 900), "t.toml", Some(&old)).unwrap();
    assert!(Arc::ptr_eq(&same.caches[0], &old.caches[0]));
    let rc = same.router.routes()[0].cache.as_deref().expect("cache");
    assert!(Arc::ptr_eq(&rc.cache, &old.caches[0]), "the route follows");
    assert_eq!(rc.lock_timeout, std::time::Duration::from_millis(900));
    let bigger = load_str_keeping(&text(32 << 20, 100), "t.toml", Some(&old)).unwrap();
    assert!(!Arc::ptr_eq(&bigger.caches[0], &old.caches[0]));
}
