//! The store of one `[caches.NAME]`: every stored response, shared by all
//! shards and bounded in bytes across them.
//!
//! Entries live in a `quick_cache` map keyed by the primary key (scheme,
//! host, path and query, and the route's key parts: the caller builds it).
//! Each key holds a `Resource`: the `Vary` field list of its latest
//! response and one variant per combination of those fields' values. A
//! response whose `Vary` list differs from the stored one replaces every
//! old variant, since they were chosen on fields that no longer select.
//!
//! Why quick_cache: its S3-FIFO policy keeps one-hit objects from flushing
//! the popular ones (a scan of a catalogue, say), it weighs entries in
//! bytes, its locks are sharded by key so a hit waits at most for one short
//! operation on the same shard of the map, never for a miss's upstream
//! round trip, and it runs no background thread. The bound is split across
//! its lock shards, so one object may use at most a shard's share: the
//! shard count is chosen so a share holds `max_object_bytes` (fewer, larger
//! shards for a cache of large objects).
//!
//! A hit clones an `Arc<Entry>`; its body is `Bytes`, served by reference.
//!
//! Owns: what is stored, the byte bound, variants, and purge. Must never:
//! decide freshness or storability (`freshness`, `storable`), or hold a
//! lock across an await (there is none here: every method is synchronous).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use quick_cache::sync::Cache;
use quick_cache::{Lifecycle, OptionsBuilder, Weighter};

use super::freshness::Times;
use super::vary::Vary;

/// Bytes charged per entry beyond its head and body: the map slot, the
/// `Entry` and `Resource` structs and the key's allocation, roughly.
pub const ENTRY_OVERHEAD: u64 = 256;

/// One stored response: one variant of one resource.
#[derive(Debug)]
pub struct Entry {
    /// The response status.
    pub status: u16,
    /// The stored header block: `name: value\r\n` lines as they will be
    /// sent, less hop-by-hop fields and `private="…"` ones.
    pub head: Bytes,
    /// The body.
    pub body: Bytes,
    /// What freshness is computed from.
    pub times: Times,
    /// The variant key (`Vary::key`) of the request that fetched it.
    pub variant: Vec<u8>,
    /// `Cache-Tag` / `Surrogate-Key` values, for purge by tag.
    pub tags: Box<[Box<str>]>,
}

impl Entry {
    /// The bytes this entry is charged.
    pub fn weight(&self) -> u64 {
        let tags: usize = self.tags.iter().map(|t| t.len()).sum();
        (self.head.len() + self.body.len() + self.variant.len() + tags) as u64 + ENTRY_OVERHEAD
    }
}

/// Everything stored under one primary key.
#[derive(Debug)]
pub struct Resource {
    /// The `Vary` of the latest stored response.
    pub vary: Vary,
    /// One entry per variant key.
    pub variants: Vec<Arc<Entry>>,
}

impl Resource {
    fn weight(&self, key: &[u8]) -> u64 {
        let v: u64 = self.variants.iter().map(|e| e.weight()).sum();
        v + key.len() as u64
    }
}

type Key = Box<[u8]>;
type Val = Arc<Resource>;

#[derive(Clone)]
struct ByBytes;

impl Weighter<Key, Val> for ByBytes {
    fn weight(&self, key: &Key, val: &Val) -> u64 {
        val.weight(key)
    }
}

/// Counts evictions (the bound at work), for the metrics.
#[derive(Clone, Default)]
struct Evictions(Arc<AtomicU64>);

impl Lifecycle<Key, Val> for Evictions {
    type RequestState = ();

    fn begin_request(&self) -> Self::RequestState {}

    fn on_evict(&self, _state: &mut (), _key: Key, val: Val) {
        self.0
            .fetch_add(val.variants.len() as u64, Ordering::Relaxed);
    }
}

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup {
    /// A variant for this request.
    Hit(Arc<Entry>),
    /// The URL is stored, but not for these `Vary` field values
    /// (`Cache-Status: fwd=vary-miss`).
    VaryMiss,
    /// Nothing stored under the key (`fwd=uri-miss`).
    Miss,
}

/// Why `insert` stored nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Larger than `max_object_bytes`: passed through, never truncated.
    TooLarge,
}

/// One named cache's store.
pub struct Store {
    map: Cache<Key, Val, ByBytes, foldhash::fast::RandomState, Evictions>,
    max_object_bytes: u64,
    evictions: Evictions,
}

impl Store {
    /// A store bounded to `max_bytes` in all, each object to
    /// `max_object_bytes` (clamped to what one lock shard can hold).
    pub fn new(max_bytes: u64, max_object_bytes: u64) -> Store {
        let shards = lock_shards(max_bytes, max_object_bytes);
        let opts = OptionsBuilder::new()
            .shards(shards)
            // A guess for the map's initial size; it grows as needed.
            .estimated_items_capacity((max_bytes / 16384).clamp(64, 1 << 20) as usize)
            .weight_capacity(max_bytes)
            .build()
            .expect("valid cache options");
        let evictions = Evictions::default();
        let map = Cache::with_options(opts, ByBytes, Default::default(), evictions.clone());
        Store {
            map,
            max_object_bytes: max_object_bytes.min(max_bytes / shards as u64),
            evictions,
        }
    }

    /// The largest object this store keeps.
    pub fn max_object_bytes(&self) -> u64 {
        self.max_object_bytes
    }

    /// The variant of `key` for a request whose fields `lookup` returns.
    pub fn lookup<'a, F, I>(&self, key: &[u8], lookup: F) -> Lookup
    where
        F: FnMut(&str) -> I,
        I: IntoIterator<Item = &'a [u8]>,
    {
        let Some(res) = self.map.get(key) else {
            return Lookup::Miss;
        };
        let variant = res.vary.key(lookup);
        match res.variants.iter().find(|e| e.variant == variant) {
            Some(e) => Lookup::Hit(e.clone()),
            None => Lookup::VaryMiss,
        }
    }

    /// Stores `entry` under `key` with the response's `vary`: it replaces
    /// the variant with the same variant key, joins the others when the
    /// `Vary` list is unchanged, and replaces them all when it changed.
    pub fn insert(&self, key: &[u8], vary: Vary, entry: Entry) -> Result<(), Refused> {
        if entry.weight() > self.max_object_bytes {
            return Err(Refused::TooLarge);
        }
        let entry = Arc::new(entry);
        let mut variants = Vec::with_capacity(1);
        if let Some(old) = self.map.get(key) {
            if old.vary == vary {
                variants.extend(
                    old.variants
                        .iter()
                        .filter(|e| e.variant != entry.variant)
                        .cloned(),
                );
            }
        }
        variants.push(entry);
        let res = Arc::new(Resource { vary, variants });
        self.map.insert(key.into(), res);
        Ok(())
    }

    /// Removes everything stored under `key`; true when there was any.
    pub fn invalidate(&self, key: &[u8]) -> bool {
        self.map.remove(key).is_some()
    }

    /// Removes every key that starts with `prefix`; returns how many.
    /// A scan of the whole store: an admin operation, not a data-plane one.
    pub fn purge_prefix(&self, prefix: &[u8]) -> usize {
        self.purge_where(|k, _| k.starts_with(prefix))
    }

    /// Removes every resource one of whose variants carries `tag`.
    pub fn purge_tag(&self, tag: &str) -> usize {
        self.purge_where(|_, r| {
            r.variants
                .iter()
                .any(|e| e.tags.iter().any(|t| &**t == tag))
        })
    }

    fn purge_where(&self, hit: impl Fn(&[u8], &Resource) -> bool) -> usize {
        let n = std::cell::Cell::new(0);
        self.map.retain(|k, r| {
            let drop = hit(k, r);
            n.set(n.get() + usize::from(drop));
            !drop
        });
        n.get()
    }

    /// Bytes charged now, across shards.
    pub fn bytes(&self) -> u64 {
        self.map.weight()
    }

    /// Resources stored now.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    /// Variants evicted by the bound since the store was made.
    pub fn evictions(&self) -> u64 {
        self.evictions.0.load(Ordering::Relaxed)
    }
}

/// Lock shards for a bound: enough that cores rarely meet on one (at most
/// 64), few enough that each holds a useful share (4 MiB) and at least one
/// object of `max_object` bytes, so the configured object size is kept.
fn lock_shards(max_bytes: u64, max_object: u64) -> usize {
    let unit = max_object.max(4 << 20);
    let by_size = (max_bytes / unit).clamp(1, 64);
    // The largest power of two not above it: every share stays >= unit.
    (1u64 << (63 - by_size.leading_zeros())) as usize
}
