//! The retry budget (`budget_percent`, `min_retries_per_s`), as Finagle's
//! and Linkerd's: each request deposits `budget_percent`/100 of a retry,
//! each retry withdraws one, and both expire after about 10 s. When that
//! share is spent, a reserve refilled at `min_retries_per_s` (at most one
//! second's worth saved up) pays. One budget per upstream, shared by every
//! shard; each shard deposits through its own `BudgetShard`.
//!
//! Owns: the balance, the ledger that expires deposits and withdrawals, and
//! the reserve. Must never: grant a retry the balance or the reserve cannot
//! pay for (each withdrawal is one compare-exchange), let old traffic fund
//! retries for more than `TTL` + one slice, or lock.
//!
//! The bound it keeps, proven in `tests`: at every retry t, the retries of
//! the 10 s up to t ≤ min_retries_per_s × 11 + budget_percent/100 × the
//! requests of the 10.5 s (`TTL` + `SLICE`) up to t; and the reserve alone
//! pays at most min_retries_per_s × (L + 1) retries in any L seconds.
//! Finagle and Linkerd instead start with `min_retries_per_s` × 10 s in the
//! balance, which a burst can spend in one second: here the reserve is a
//! rate, so a cold or idle upstream never sees more than
//! `min_retries_per_s` + one second's worth of extra attempts.

use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::AcqRel, Ordering::Acquire};
use std::sync::Arc;

/// How long a deposit or a withdrawal counts, at the least.
pub const TTL: u64 = 10_000_000_000;
/// The ledger's resolution: entries count for `TTL` to `TTL + SLICE`.
pub const SLICE: u64 = 500_000_000;
/// Slices in the ledger: one more than `TTL` spans, so none counts less.
const SLOTS: u32 = (TTL / SLICE) as u32 + 1;
const SECOND: u64 = 1_000_000_000;
/// Units of one retry; a deposit is `budget_percent` of them.
const RETRY: i64 = 100;
/// Deposits a `BudgetShard` gathers before it writes the shared budget.
const BATCH: u32 = 8;

/// The retry budget of one upstream, shared by all shards.
#[derive(Debug)]
pub struct RetryBudget {
    /// Reserve plus every slice still counted, in units; alone on its line.
    balance: Balance,
    /// Slice number (low 32 bits) and net units (high 32, signed) per slot.
    slots: Box<[AtomicU64]>,
    per_request: i64,
    /// The reserve, a GCRA bucket: the time (ns) at which it is empty again
    /// ("theoretical arrival time"); alone on its line.
    reserve: Reserve,
    /// ns between two reserve retries (1 s / `min_retries_per_s`); 0: none.
    interval: u64,
}

#[derive(Debug, Default)]
#[repr(align(128))]
struct Reserve(AtomicU64);

#[derive(Debug)]
#[repr(align(128))]
struct Balance(AtomicI64);

fn slice_of(now: u64) -> u32 {
    (now / SLICE) as u32
}

/// How many slices `id` lies before `cur` (negative: after it).
fn age(cur: u32, id: u32) -> i32 {
    cur.wrapping_sub(id) as i32
}

fn unpack(slot: u64) -> (u32, i64) {
    (slot as u32, i64::from((slot >> 32) as i32))
}

fn pack(id: u32, units: i64) -> u64 {
    let units = units.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
    (u64::from(units as u32) << 32) | u64::from(id)
}

impl RetryBudget {
    /// A budget of `budget_percent` % of requests plus `min_retries_per_s`.
    pub fn new(budget_percent: u32, min_retries_per_s: u32) -> RetryBudget {
        RetryBudget {
            balance: Balance(AtomicI64::new(0)),
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            per_request: i64::from(budget_percent),
            reserve: Reserve::default(),
            interval: match min_retries_per_s {
                0 => 0,
                n => (SECOND / u64::from(n)).max(1),
            },
        }
    }

    /// One client request arrived. Writes two shared atomics: per shard,
    /// prefer `BudgetShard::deposit`, which writes once per `BATCH`.
    pub fn deposit(&self, now: u64) {
        let id = slice_of(now);
        self.record(id, id, self.per_request, true);
    }

    /// Takes one retry; false when the budget is spent.
    pub fn try_withdraw(&self, now: u64) -> bool {
        let cur = slice_of(now);
        self.expire(cur);
        let paid = self
            .balance
            .0
            .fetch_update(AcqRel, Acquire, |b| (b >= RETRY).then_some(b - RETRY))
            .is_ok();
        if paid {
            // Already taken from the balance: the ledger only remembers it,
            // so that it is given back when it expires.
            self.record(cur, cur, -RETRY, false);
            return true;
        }
        self.withdraw_reserve(now)
    }

    /// Takes one retry from the reserve: GCRA with a burst of one second.
    fn withdraw_reserve(&self, now: u64) -> bool {
        if self.interval == 0 {
            return false;
        }
        self.reserve
            .0
            .fetch_update(AcqRel, Acquire, |tat| {
                let next = tat.max(now) + self.interval;
                (next - now <= SECOND).then_some(next)
            })
            .is_ok()
    }

    /// Adds `units` to slice `id`'s slot (at `cur`), rotating the slot if it
    /// holds an older slice; the balance gets `units` when `to_balance`, less
    /// whatever the rotation expired. Decreases of the balance are made
    /// before the slot changes and increases after, so that a concurrent
    /// withdrawal only ever sees too little, never too much.
    fn record(&self, id: u32, cur: u32, units: i64, to_balance: bool) {
        if units == 0 || age(cur, id) >= SLOTS as i32 {
            return;
        }
        let slot = &self.slots[(id % SLOTS) as usize];
        let own = if to_balance { units } else { 0 };
        let mut now = slot.load(Acquire);
        loop {
            let (sid, held) = unpack(now);
            let (next, gone) = match age(id, sid) {
                // The slot holds `id`, or `id` came from a lagging clock.
                0 => (pack(sid, held + units), 0),
                // A deposit older than what the slot holds has expired.
                a if a < 0 && held != 0 && units > 0 => return,
                a if a < 0 && held != 0 => (pack(sid, held + units), 0),
                _ => (pack(id, units), held),
            };
            if self.exchange(slot, now, next, own - gone) {
                return;
            }
            now = slot.load(Acquire);
        }
    }

    /// Gives back every slot older than the ledger keeps.
    fn expire(&self, cur: u32) {
        for slot in self.slots.iter() {
            let mut now = slot.load(Acquire);
            loop {
                let (sid, held) = unpack(now);
                if held == 0 || age(cur, sid) < SLOTS as i32 {
                    break;
                }
                if self.exchange(slot, now, pack(sid, 0), -held) {
                    break;
                }
                now = slot.load(Acquire);
            }
        }
    }

    /// Swaps `slot` from `old` to `new` and moves the balance by `delta`,
    /// its decrease first; false (and nothing changed) when `slot` moved.
    fn exchange(&self, slot: &AtomicU64, old: u64, new: u64, delta: i64) -> bool {
        let balance = &self.balance.0;
        let down = delta.min(0);
        if down != 0 {
            balance.fetch_add(down, AcqRel);
        }
        if slot.compare_exchange(old, new, AcqRel, Acquire).is_err() {
            if down != 0 {
                balance.fetch_sub(down, AcqRel);
            }
            return false;
        }
        if delta > 0 {
            balance.fetch_add(delta, AcqRel);
        }
        true
    }

    #[cfg(test)]
    fn balance(&self) -> i64 {
        self.balance.0.load(Acquire)
    }
}

/// One shard's handle on a shared `RetryBudget`: deposits gather in a
/// `Cell` and reach the shared budget every `BATCH` requests, when the slice
/// changes, or before this shard withdraws. Gathered deposits fund no retry
/// on other shards until then, so batching only makes the budget stricter.
#[derive(Debug)]
pub struct BudgetShard {
    budget: Arc<RetryBudget>,
    gathered: Cell<u32>,
    slice: Cell<u32>,
}

impl BudgetShard {
    /// A handle for one shard.
    pub fn new(budget: Arc<RetryBudget>) -> BudgetShard {
        BudgetShard {
            budget,
            gathered: Cell::new(0),
            slice: Cell::new(0),
        }
    }

    /// One client request arrived; no shared write 7 times in 8.
    pub fn deposit(&self, now: u64) {
        let id = slice_of(now);
        if id != self.slice.get() {
            self.flush(id);
            self.slice.set(id);
        }
        let n = self.gathered.get() + 1;
        self.gathered.set(n);
        if n >= BATCH {
            self.flush(id);
        }
    }

    /// Takes one retry, this shard's gathered deposits counted first.
    pub fn try_withdraw(&self, now: u64) -> bool {
        self.flush(slice_of(now));
        self.budget.try_withdraw(now)
    }

    /// Hands the gathered deposits to the shared budget, in their own slice.
    fn flush(&self, cur: u32) {
        let n = self.gathered.replace(0);
        if n > 0 {
            let b = &self.budget;
            b.record(self.slice.get(), cur, i64::from(n) * b.per_request, true);
        }
    }
}

#[cfg(test)]
mod tests;
