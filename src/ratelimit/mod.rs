//! Rate and concurrency limiting: exact across shards, lock-free.
//!
//! Each `[rate_limits.NAME]` compiles to one `Limiter`: its definition plus
//! its state, a `table::Table` of 128-bit atomic cells shared by every shard
//! (GCRA, fixed or sliding window over one CAS per admitted request, so the
//! admitted count never exceeds what the algorithm allows, whatever the
//! spread of connections over cores). Routes hold `policy::RateLimitPolicy`
//! and `concurrency::ConcurrencyLimit` values as variants of their compiled
//! policy list. Design, bound and proof: `docs/rate-limiting.md`.
//!
//! Owns: the algorithms, the shared state, key extraction, the per-source
//! budget of new keys (`source`) and the RateLimit header values. Must never: take a lock, allocate or make a
//! syscall on a check (the clock is the vDSO `clock_gettime`), or decide an
//! HTTP status (that is `crate::error`).

pub mod algo;
pub mod concurrency;
pub mod key;
pub mod policy;
pub mod source;
pub mod table;

#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use algo::{Algo, Step, Verdict};
pub use concurrency::{ConcurrencyLimit, Permit};
pub use key::{Anonymous, Identity, KeyPart, KeySpec, RequestParts};
pub use policy::{Outcome, RateLimitPolicy};
pub use table::{Checked, Table};

/// A limit's definition: a state is kept across a reload only when this is
/// equal in the old and new configuration.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LimitDef {
    /// The `[rate_limits.NAME]` name.
    pub name: Box<str>,
    /// What it counts by.
    pub key: KeySpec,
    /// Algorithm and parameters in ns.
    pub algo: Algo,
    /// `limit`, as written (for `RateLimit-Policy: q=`).
    pub limit: u64,
    /// `period` in seconds (for `RateLimit-Policy: w=`).
    pub period_secs: u64,
    /// `max_keys`: slots in the table.
    pub max_keys: usize,
    /// `max_new_keys_per_source`: keys one source may add per period.
    pub max_new_keys_per_source: u64,
}

/// A limit's state: the key table, the per-source new-key counters and
/// the seed keys and sources are hashed with.
pub struct LimitState {
    table: Table,
    new_keys: source::NewKeys,
    seed: key::Seed,
}

/// One compiled `[rate_limits.NAME]`: definition plus shared state.
pub struct Limiter {
    /// The definition.
    pub def: LimitDef,
    state: Arc<LimitState>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").field("def", &self.def).finish()
    }
}

impl Limiter {
    /// A limiter with fresh state (allocates its whole table now).
    pub fn new(def: LimitDef) -> Limiter {
        let state = Arc::new(LimitState {
            table: Table::new(def.max_keys),
            new_keys: source::NewKeys::new(
                def.max_new_keys_per_source,
                def.period_secs.saturating_mul(algo::NS),
            ),
            seed: key::Seed::default(),
        });
        Limiter { def, state }
    }

    /// A limiter for `def` that keeps the state of the limiter in `old`
    /// with an equal definition, if any (configuration reload).
    pub fn carry_over(def: LimitDef, old: &[Arc<Limiter>]) -> Limiter {
        match old.iter().find(|o| o.def == def) {
            Some(o) => Limiter {
                def,
                state: o.state.clone(),
            },
            None => Limiter::new(def),
        }
    }

    /// True when both share one state.
    pub fn shares_state(&self, other: &Limiter) -> bool {
        Arc::ptr_eq(&self.state, &other.state)
    }

    /// Keys tracked now (a scan of the table; not for the hot path).
    pub fn tracked_keys(&self) -> usize {
        self.state.table.len()
    }

    /// Checks (and on admission charges) one request at `now` (see `clock`).
    #[inline]
    pub fn check<I: Identity>(&self, r: &RequestParts<'_, I>, now: u64) -> Checked {
        let s = &self.state;
        let k = self.def.key.hash(&s.seed, r);
        // The source is hashed only for a key not in the table.
        s.table.check(k, self.def.algo, now, &s.new_keys, || {
            source::source_of(&s.seed, r.ip)
        })
    }

    /// The check for an already hashed key, which is also its own source
    /// (benchmarks and tests).
    #[inline]
    pub fn check_key(&self, key: u64, now: u64) -> Checked {
        let s = &self.state;
        let key = key.max(1);
        s.table.check(key, self.def.algo, now, &s.new_keys, || key)
    }
}

/// The limiters' clock: ns of `CLOCK_MONOTONIC_COARSE` (never 0).
///
/// The coarse clock is read from the vDSO in a few ns, against ~30 ns for
/// the precise one on this class of machine; it lags real time by less than
/// one tick (`clock_tick`). A lagging reading judges a request as slightly
/// earlier than it was, which can only refuse it sooner (nginx likewise
/// works from a cached millisecond clock); Retry-After adds one tick so it
/// stays enough. The exactness bound does not depend on the clock at all.
#[inline]
pub fn clock() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; this clock id always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(algo::NS)
        .wrapping_add(ts.tv_nsec as u64)
        .max(1)
}

/// The resolution of `clock` in ns (one scheduler tick, typically 1 to 4 ms).
pub fn clock_tick() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: as in `clock`.
    unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    (ts.tv_sec as u64 * algo::NS + ts.tv_nsec as u64).max(1)
}
