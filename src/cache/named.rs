//! One `[caches.NAME]` as the shards see it: its store, its coalescing
//! table and its counters, shared by every shard behind an `Arc`; and a
//! route's compiled `cache` setting (`RouteCache`), which points at one.
//!
//! A `Named` is a control-plane object: built when the configuration is
//! compiled and carried to the next generation by a reload when its name
//! and sizes are unchanged (`config::carry`), so a reload keeps what is
//! stored.
//!
//! Owns: what a route's cache setting compiles to, and the cache's
//! counters. Must never: do I/O or hold a lock across an await (it holds
//! none itself; `store` and `coalesce` say how theirs are used).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::coalesce::Inflight;
use super::store::Store;

/// `caches.NAME.lock_timeout_ms` default: how long a miss waits for
/// another request's fetch of the same key before going to the origin
/// itself (nginx's `proxy_cache_lock_timeout` is 5 s too).
pub const LOCK_TIMEOUT_MS: u64 = 5_000;
/// `caches.NAME.max_object_bytes` default: 8 MiB.
pub const MAX_OBJECT_BYTES: u64 = 8 << 20;

/// The counters of one named cache (relaxed atomics, read by `/metrics`).
#[derive(Debug, Default)]
pub struct Counters {
    /// Requests answered from a stored response without the origin.
    pub hits: AtomicU64,
    /// Requests for which nothing usable was stored.
    pub misses: AtomicU64,
    /// Stale responses served (max-stale, stale-while-revalidate,
    /// stale-if-error).
    pub stale: AtomicU64,
    /// Conditional requests sent to refresh a stored response.
    pub revalidations: AtomicU64,
    /// Of those, the ones the origin answered 304.
    pub revalidated: AtomicU64,
    /// Misses that waited for another request's fetch of their key.
    pub coalesced: AtomicU64,
    /// Responses stored.
    pub stores: AtomicU64,
    /// Entries removed by unsafe methods and purges.
    pub invalidations: AtomicU64,
}

impl Counters {
    /// Adds one to `c`.
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// One named cache, shared by all shards and by every route naming it.
pub struct Named {
    /// Its `NAME`.
    pub name: Box<str>,
    /// `max_bytes`, as configured (the carry rule compares it).
    pub max_bytes: u64,
    /// `max_object_bytes`, as configured.
    pub max_object_bytes: u64,
    /// `lock_timeout_ms` as first configured (routes carry the current
    /// value: `RouteCache::lock_timeout`).
    pub lock_timeout: Duration,
    /// The stored responses.
    pub store: Store,
    /// The keys being fetched now.
    pub inflight: Inflight,
    /// What happened, for the metrics.
    pub counters: Counters,
}

impl std::fmt::Debug for Named {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Named")
            .field("name", &self.name)
            .field("max_bytes", &self.max_bytes)
            .field("max_object_bytes", &self.max_object_bytes)
            .finish_non_exhaustive()
    }
}

impl Named {
    /// An empty cache.
    pub fn new(name: &str, max_bytes: u64, max_object_bytes: u64, lock_timeout: Duration) -> Named {
        Named {
            name: name.into(),
            max_bytes,
            max_object_bytes,
            lock_timeout,
            store: Store::new(max_bytes, max_object_bytes),
            inflight: Inflight::default(),
            counters: Counters::default(),
        }
    }

    /// True when a reload may keep this cache's contents for `other`'s
    /// definition: the same sizes (the lock timeout is read per request
    /// from the new definition's routes, so it may change freely).
    pub fn same_store(&self, other: &Named) -> bool {
        self.name == other.name
            && self.max_bytes == other.max_bytes
            && self.max_object_bytes == other.max_object_bytes
    }
}

/// A part of the primary key beyond scheme, host and path+query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPart {
    /// `header:NAME`: every line of the request header, lowercase name.
    Header(Box<[u8]>),
}

/// A route's `cache` setting, compiled.
#[derive(Debug, Clone)]
pub struct RouteCache {
    /// The cache it stores into.
    pub cache: std::sync::Arc<Named>,
    /// `key`: extra parts of the primary key.
    pub key: Box<[KeyPart]>,
    /// `default_ttl_s`: the heuristic lifetime for a response with no
    /// explicit one (where RFC 9111 §4.2.2 allows one).
    pub default_ttl: u64,
    /// `cache_authorized`: store responses to requests with
    /// `Authorization` as if the response had said `public`.
    pub cache_authorized: bool,
    /// `cache_set_cookie`: store responses with `Set-Cookie` (kept).
    pub cache_set_cookie: bool,
    /// The cache's `lock_timeout_ms` in this configuration.
    pub lock_timeout: Duration,
}
