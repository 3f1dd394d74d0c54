//! The response caches' Prometheus families, one series per
//! `[caches.NAME]`: what their counters say (hits, misses, stale served,
//! revalidations, coalesced waits, stores, invalidations), evictions by the
//! memory bound, and the bytes and resources stored now.
//!
//! Owns: those families' names and help. Must never: write to a cache or
//! take one of its locks for long (`Store::bytes`/`len` read atomics and
//! each lock shard's length).

use std::sync::atomic::{AtomicU64, Ordering};

use super::prom::{escape, header, line};
use crate::cache::named::Named;

/// A family: name, type, help, and how to read it from one cache.
type Family = (&'static str, &'static str, &'static str, fn(&Named) -> u64);

fn n(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// Every family, in output order.
const FAMILIES: [Family; 11] = [
    (
        "ringway_cache_hits_total",
        "counter",
        "Requests answered from a stored response without the origin.",
        |c| n(&c.counters.hits),
    ),
    (
        "ringway_cache_misses_total",
        "counter",
        "Requests for which nothing usable was stored.",
        |c| n(&c.counters.misses),
    ),
    (
        "ringway_cache_stale_total",
        "counter",
        "Stale responses served (max-stale, stale-while-revalidate, stale-if-error).",
        |c| n(&c.counters.stale),
    ),
    (
        "ringway_cache_revalidations_total",
        "counter",
        "Conditional requests sent to refresh a stored response.",
        |c| n(&c.counters.revalidations),
    ),
    (
        "ringway_cache_revalidated_total",
        "counter",
        "Revalidations the origin answered 304.",
        |c| n(&c.counters.revalidated),
    ),
    (
        "ringway_cache_coalesced_total",
        "counter",
        "Misses that waited for another request's fetch of their key.",
        |c| n(&c.counters.coalesced),
    ),
    (
        "ringway_cache_stores_total",
        "counter",
        "Responses stored.",
        |c| n(&c.counters.stores),
    ),
    (
        "ringway_cache_invalidations_total",
        "counter",
        "Stored resources removed by unsafe methods and purges.",
        |c| n(&c.counters.invalidations),
    ),
    (
        "ringway_cache_evictions_total",
        "counter",
        "Stored responses evicted by the memory bound.",
        |c| c.store.evictions(),
    ),
    (
        "ringway_cache_bytes",
        "gauge",
        "Bytes charged to stored responses now.",
        |c| c.store.bytes(),
    ),
    (
        "ringway_cache_resources",
        "gauge",
        "URLs (primary keys) stored now.",
        |c| c.store.len() as u64,
    ),
];

/// Appends every cache family for `caches`.
pub fn render(caches: &[std::sync::Arc<Named>], out: &mut String) {
    if caches.is_empty() {
        return;
    }
    let labels: Vec<String> = caches
        .iter()
        .map(|c| format!("{{cache=\"{}\"}}", escape(&c.name)))
        .collect();
    for (name, kind, help, read) in FAMILIES {
        header(out, name, kind, help);
        for (c, l) in caches.iter().zip(&labels) {
            line(out, &[name, l], read(c));
        }
    }
}
