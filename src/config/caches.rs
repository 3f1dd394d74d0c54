//! Compiling `[caches.NAME]` into shared `cache::named::Named` stores and a
//! route's `cache` into its `RouteCache`.
//!
//! Owns: the bounds of those keys (a store of at least 1 MiB, an object no
//! larger than the store), known cache
//! names, and the syntax of `key` parts. Must never: build per-request
//! state, or let a key part name something the upstream does not see.

use std::sync::Arc;

use super::compile::{check, required};
use super::load::Doc;
use super::model::{CacheFile, RouteCacheFile, RouteCacheTable, RouteFile};
use super::validate;
use crate::cache::named::{KeyPart, Named, RouteCache, LOCK_TIMEOUT_MS, MAX_OBJECT_BYTES};

/// Smallest `max_bytes`: 1 MiB.
const MIN_BYTES: u64 = 1 << 20;
/// Largest `max_bytes`: 1 TiB, far beyond any machine this runs on.
const MAX_BYTES: u64 = 1 << 40;
/// Longest `default_ttl_s`: one year.
const MAX_DEFAULT_TTL_S: u64 = 365 * 86_400;

/// Compiles every `[caches.NAME]`.
pub fn caches(doc: &mut Doc<'_>, files: &[(String, CacheFile)]) -> Vec<Arc<Named>> {
    files
        .iter()
        .filter_map(|(name, f)| cache(doc, name, f))
        .map(Arc::new)
        .collect()
}

fn cache(doc: &mut Doc<'_>, name: &str, f: &CacheFile) -> Option<Named> {
    let p = format!("caches.{name}");
    let key = |k: &str| format!("{p}.{k}");
    check(doc, &p, validate::name(name))?;
    let max = required(
        doc,
        &key("max_bytes"),
        &f.max_bytes,
        "the memory bound, in bytes",
    )
    .and_then(|&b| {
        check(
            doc,
            &key("max_bytes"),
            validate::bounded(b, MIN_BYTES, MAX_BYTES),
        )
    })?;
    // The store sizes its lock shards so one holds an object this large
    // (`store::lock_shards`); more than the whole bound could never fit.
    let obj = f.max_object_bytes.unwrap_or(MAX_OBJECT_BYTES.min(max));
    let obj = check(
        doc,
        &key("max_object_bytes"),
        validate::bounded(obj, 1, max),
    )?;
    let lock = super::compile::timeout(
        doc,
        &key("lock_timeout_ms"),
        f.lock_timeout_ms,
        LOCK_TIMEOUT_MS,
    );
    Some(Named::new(name, max, obj, lock))
}

/// A route's `cache`, when set; `Err` after an error was recorded.
pub fn route_cache(
    doc: &mut Doc<'_>,
    p: &str,
    r: &RouteFile,
    caches: &[Arc<Named>],
) -> Result<Option<Box<RouteCache>>, ()> {
    let k = format!("{p}.cache");
    let table = match &r.cache {
        None => return Ok(None),
        Some(RouteCacheFile::Name(n)) => RouteCacheTable {
            name: Some(n.clone()),
            ..RouteCacheTable::default()
        },
        Some(RouteCacheFile::Table(t)) => RouteCacheTable {
            name: t.name.clone(),
            key: t.key.clone(),
            default_ttl_s: t.default_ttl_s,
            cache_authorized: t.cache_authorized,
            cache_set_cookie: t.cache_set_cookie,
        },
    };
    let name = required(
        doc,
        &format!("{k}.name"),
        &table.name,
        "a [caches.NAME] name",
    );
    let found = name.and_then(|n| {
        let c = caches.iter().find(|c| &*c.name == n.as_str());
        // A cache written but invalid was reported at its own keys.
        if c.is_none() && !doc.present(&format!("caches.{n}")) {
            let known: Vec<&str> = caches.iter().map(|c| &*c.name).collect();
            doc.err(
                &k,
                format!("unknown cache {n:?} (defined: {})", known.join(", ")),
            );
        }
        c.cloned()
    });
    let mut parts = Vec::new();
    for (i, part) in table.key.iter().flatten().enumerate() {
        match key_part(part) {
            Ok(p) => parts.push(p),
            Err(e) => doc.err(&format!("{k}.key[{i}]"), e),
        }
    }
    let ttl = table.default_ttl_s.unwrap_or(0);
    let ttl = check(
        doc,
        &format!("{k}.default_ttl_s"),
        validate::bounded(ttl, 0, MAX_DEFAULT_TTL_S),
    );
    let (Some(cache), Some(default_ttl)) = (found, ttl) else {
        return Err(());
    };
    if parts.len() != table.key.as_ref().map_or(0, Vec::len) {
        return Err(());
    }
    Ok(Some(Box::new(RouteCache {
        lock_timeout: cache.lock_timeout,
        cache,
        key: parts.into(),
        default_ttl,
        cache_authorized: table.cache_authorized.unwrap_or(false),
        cache_set_cookie: table.cache_set_cookie.unwrap_or(false),
    })))
}

/// `header:NAME`: a request header the upstream receives as the client
/// sent it. Nothing else: a part the upstream never sees (the client
/// address, say) would split the cache on something the response does not
/// depend on, and the reverse (leaving out what it does depend on) is
/// `Vary`'s job.
fn key_part(s: &str) -> Result<KeyPart, String> {
    let Some(name) = s.strip_prefix("header:") else {
        return Err(format!("unknown key part {s:?}: use \"header:NAME\""));
    };
    let name = validate::header_name(name).map_err(|e| format!("{s:?}: {e}"))?;
    Ok(KeyPart::Header(name.to_ascii_lowercase().into()))
}
