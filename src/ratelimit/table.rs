//! The shared, lock-free table of per-key state: one 128-bit atomic cell per
//! tracked key (64-bit key hash | 64-bit algorithm state), shared by every
//! shard, updated with one compare-and-swap per admitted request; plus one
//! shared overflow state for new keys that find no slot.
//!
//! Owns: where a key lives, when a new key may take a slot, eviction, and
//! the overflow bucket. Must never: block, allocate or make a syscall on a
//! check; hand a key a state less used than what it already used; or let
//! one key live in two slots (that would double its quota).
//!
//! Placement rules, which make the last point hold without a lock: a key
//! lives somewhere in its neighbourhood (`WINDOW` slots from its home slot).
//! A new key takes the first empty slot of its neighbourhood; only when
//! there is none may it take its home slot, and only if the state there is
//! full (`Algo::is_full`). Slots never become empty again, so two racing
//! inserts of one key always aim at the same slot and one CAS loses.
//!
//! When the home slot holds live state, the new key is served from the
//! overflow state, one bucket with the limit's own parameters shared by all
//! such keys. A key that later takes a slot starts from the overflow state,
//! not from fresh: that state has seen every request the key made while in
//! overflow, so the key cannot get its quota twice.

use portable_atomic::AtomicU128;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{AcqRel, Acquire};

use super::algo::{Algo, Step, FRESH};
use super::source::{NewKeys, Ticket};

/// Slots a key may live in, from its home slot on.
const WINDOW: usize = 16;

/// Outcome of a check against the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checked {
    /// The algorithm decided (admit, delay or reject) on the key's own state.
    Step(Step),
    /// The key is new and its neighbourhood is full of live state: the
    /// algorithm decided on the shared overflow state.
    Shared(Step),
    /// The key is new and its source has added as many keys as it may this
    /// period; the value is ns until the period ends.
    SourceBudget(u64),
}

/// A fixed-size table of `max_keys` cells.
pub struct Table {
    cells: Box<[AtomicU128]>,
    /// The state new keys share when their neighbourhood is full.
    overflow: AtomicU64,
}

impl Table {
    /// A table holding at most `max_keys` keys (16 bytes each, allocated now).
    pub fn new(max_keys: usize) -> Table {
        let cells = (0..max_keys.max(1)).map(|_| AtomicU128::new(0)).collect();
        Table {
            cells,
            overflow: AtomicU64::new(FRESH),
        }
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.cells.len()
    }

    /// Keys tracked now (a scan: for tests and metrics, not the hot path).
    pub fn len(&self) -> usize {
        self.cells
            .iter()
            .filter(|c| c.load(Acquire) >> 64 != 0)
            .count()
    }

    /// True when no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies one request for `key` (a hash, never 0) at `now` with `algo`.
    /// A key not in the table is first charged to `source` in `budget`.
    pub fn check(
        &self,
        key: u64,
        algo: Algo,
        now: u64,
        budget: &NewKeys,
        source: impl FnOnce() -> u64,
    ) -> Checked {
        let n = self.cells.len();
        let home = ((key as u128 * n as u128) >> 64) as usize;
        let span = WINDOW.min(n);
        let mut source = Some(source);
        let mut ticket: Option<Ticket> = None;
        let refund = |t: Option<Ticket>| {
            if let Some(t) = t {
                budget.refund(t);
            }
        };
        'lookup: loop {
            let mut empty = None;
            for i in 0..span {
                let slot = (home + i) % n;
                let v = self.cells[slot].load(Acquire);
                let k = (v >> 64) as u64;
                if k == key {
                    match self.update(slot, v, key, algo, now) {
                        Some(c) => {
                            // Another core added the key meanwhile.
                            refund(ticket);
                            return c;
                        }
                        None => continue 'lookup,
                    }
                }
                if k == 0 {
                    empty = Some((slot, v));
                    break;
                }
            }
            if ticket.is_none() {
                let s = source.take().map_or(key, |f| f());
                match budget.reserve(s, now) {
                    Ok(t) => ticket = Some(t),
                    Err(retry) => return Checked::SourceBudget(retry.max(1)),
                }
            }
            let (slot, v, start) = match empty {
                // Slots never empty again: the key never had to overflow.
                Some((slot, v)) => (slot, v, FRESH),
                None => {
                    let v = self.cells[home].load(Acquire);
                    if (v >> 64) as u64 == key {
                        // Another core just put this key at home: use it.
                        continue 'lookup;
                    }
                    if !algo.is_full(v as u64, now) {
                        refund(ticket);
                        return Checked::Shared(self.shared(algo, now));
                    }
                    // Not fresh: what the key used in overflow counts.
                    (home, v, self.overflow.load(Acquire))
                }
            };
            let step = algo.step(start, now);
            let Some(next) = step.next else {
                refund(ticket);
                return Checked::Shared(step);
            };
            let new = ((key as u128) << 64) | next as u128;
            if self.cells[slot]
                .compare_exchange(v, new, AcqRel, Acquire)
                .is_ok()
            {
                return Checked::Step(step);
            }
            // Someone took the slot (maybe for this very key): look again.
        }
    }

    /// One step on the shared overflow state (a CAS loop like `update`).
    fn shared(&self, algo: Algo, now: u64) -> Step {
        let mut v = self.overflow.load(Acquire);
        loop {
            let step = algo.step(v, now);
            let Some(next) = step.next else {
                return step;
            };
            match self
                .overflow
                .compare_exchange_weak(v, next, AcqRel, Acquire)
            {
                Ok(_) => return step,
                Err(cur) => v = cur,
            }
        }
    }

    /// The CAS loop on a slot holding `key`; `None` when the slot was taken
    /// by another key meanwhile (the caller looks the key up again).
    fn update(&self, slot: usize, mut v: u128, key: u64, algo: Algo, now: u64) -> Option<Checked> {
        loop {
            let step = algo.step(v as u64, now);
            let Some(next) = step.next else {
                return Some(Checked::Step(step));
            };
            let new = ((key as u128) << 64) | next as u128;
            match self.cells[slot].compare_exchange_weak(v, new, AcqRel, Acquire) {
                Ok(_) => return Some(Checked::Step(step)),
                Err(cur) if (cur >> 64) as u64 == key => v = cur,
                Err(_) => return None,
            }
        }
    }
}
