//! Target selection: which target of an upstream the next request (or retry)
//! goes to, by the upstream's `balance` (round robin, least request, peak
//! EWMA, consistent hash), and the per-target in-flight and latency state
//! those choices read.
//!
//! Owns: one `Selector` per (shard, upstream), its tables and its counters.
//! Must never: allocate, lock or make a system call in `pick`, `start` or
//! `end` (they run once per request); share state between shards; decide
//! whether a target is healthy or ejected (the caller's `usable` says so).

mod ewma;
mod hash;
mod least_request;
mod p2c;
mod round_robin;
#[cfg(test)]
mod tests;

use std::cell::Cell;

use super::roster::Members;
use crate::config::upstream::Balance;
use crate::config::UpstreamSpec;
use crate::discovery::Target;

pub use ewma::{DECAY_NS, FAILURE_PENALTY_NS, MIN_STEP_NS};
pub use hash::POINTS_PER_WEIGHT;

/// One shard's target chooser for one upstream, with its per-target state.
///
/// Targets are known by slot (see `super::roster`): in-flight counts and
/// latency estimates are kept per slot, so they carry over a change of the
/// target set; the algorithm's own tables are rebuilt over the occupied
/// slots (`apply`).
pub struct Selector {
    balance: Balance,
    seed: u64,
    /// Occupied slots, in slot order: algorithm index `i` is slot `active[i]`.
    active: Box<[usize]>,
    /// Weights of the occupied slots, by algorithm index.
    weights: Box<[u32]>,
    in_flight: Box<[Cell<u32>]>,
    latency: Box<[ewma::Ewma]>,
    algo: Algo,
}

/// The algorithm and its own state.
enum Algo {
    RoundRobin(round_robin::SmoothRoundRobin),
    LeastRequest(p2c::TwoChoices),
    Ewma(p2c::TwoChoices),
    Hash(hash::Ring),
}

impl Selector {
    /// Built from the upstream's configured targets (slot `i` is target `i`);
    /// `seed` differs per shard (P2C randomness).
    pub fn new(spec: &UpstreamSpec, seed: u64) -> Selector {
        let targets: Vec<Target> = spec
            .targets
            .iter()
            .enumerate()
            .map(|(i, &addr)| Target {
                addr,
                weight: spec.weights.get(i).copied().unwrap_or(1),
            })
            .collect();
        Selector::over(&spec.balance, &Members::new(targets.len(), &targets), seed)
    }

    /// Built over `members`, the upstream's slots as published.
    pub fn over(balance: &Balance, members: &Members, seed: u64) -> Selector {
        let n = members.slots.len();
        let mut s = Selector {
            balance: balance.clone(),
            seed,
            active: Box::default(),
            weights: Box::default(),
            in_flight: (0..n).map(|_| Cell::new(0)).collect(),
            latency: (0..n).map(|_| ewma::Ewma::default()).collect(),
            algo: Algo::RoundRobin(round_robin::SmoothRoundRobin::new(&[], seed)),
        };
        s.apply(members);
        s
    }

    /// Rebuilds the algorithm's tables over `members` (same slot count);
    /// in-flight counts and latency estimates stay with their slots, and a
    /// slot that changed hands starts afresh.
    pub fn apply(&mut self, members: &Members) {
        for (t, m) in members.slots.iter().enumerate() {
            let was = self.active.iter().position(|&a| a == t);
            if m.is_none() || was.is_none() {
                // Freed, or newly taken: nothing of a previous target stays.
                if let Some(l) = self.latency.get_mut(t) {
                    *l = ewma::Ewma::default();
                }
            }
        }
        self.active = members.active.clone();
        // Weights are ≥ 1 by config; a zero one is read as 1 so that no
        // arithmetic below can divide by zero or skip a target.
        self.weights = self
            .active
            .iter()
            .map(|&t| members.get(t).map_or(1, |m| m.weight.max(1)))
            .collect();
        self.algo = match &self.balance {
            Balance::RoundRobin => {
                Algo::RoundRobin(round_robin::SmoothRoundRobin::new(&self.weights, self.seed))
            }
            Balance::LeastRequest => {
                Algo::LeastRequest(p2c::TwoChoices::new(&self.weights, self.seed))
            }
            Balance::Ewma => Algo::Ewma(p2c::TwoChoices::new(&self.weights, self.seed)),
            Balance::Hash(_) => {
                let addrs: Vec<_> = self.active.iter().map(|&t| members.addr(t)).collect();
                Algo::Hash(hash::Ring::new(&addrs, &self.weights))
            }
        };
    }

    /// Picks a target slot among those for which `usable(slot)` is true and that are not in `tried`.
    /// `key` is the request's hash key (only `Balance::Hash` uses it). None when no target qualifies.
    pub fn pick(
        &self,
        key: u64,
        tried: &[usize],
        usable: impl Fn(usize) -> bool,
        now: u64,
    ) -> Option<usize> {
        let slot = |i: usize| self.active[i];
        // `tried` first: it is a short slice, `usable` may read shared state.
        let ok = |i: usize| !tried.contains(&slot(i)) && usable(slot(i));
        let i = match &self.algo {
            Algo::RoundRobin(rr) => rr.pick(&self.weights, ok),
            Algo::LeastRequest(p) => {
                let (a, b) = p.pair(&self.weights, ok)?;
                let load = |i: usize| self.in_flight[slot(i)].get();
                Some(least_request::better(a, b, load, &self.weights))
            }
            Algo::Ewma(p) => {
                let (a, b) = p.pair(&self.weights, ok)?;
                let cost = |i: usize| {
                    let t = slot(i);
                    ewma::cost(
                        &self.latency[t],
                        self.in_flight[t].get(),
                        self.weights[i],
                        now,
                    )
                };
                Some(b.filter(|&b| cost(b) < cost(a)).unwrap_or(a))
            }
            Algo::Hash(ring) => ring.pick(key, self.weights.len(), ok),
        }?;
        Some(slot(i))
    }

    /// A request to `t` started (in-flight +1).
    pub fn start(&self, t: usize) {
        if let Some(c) = self.in_flight.get(t) {
            c.set(c.get().saturating_add(1));
        }
    }

    /// A request to `t` ended after `latency_ns` (in-flight −1, EWMA update at `now`). `ok` false for failures
    /// (connect error, reset, timeout): EWMA then records at least `FAILURE_PENALTY_NS`, so a failing target loses traffic.
    pub fn end(&self, t: usize, latency_ns: u64, ok: bool, now: u64) {
        if let Some(c) = self.in_flight.get(t) {
            c.set(c.get().saturating_sub(1));
        }
        // Only `ewma` reads the estimate; the others skip its exponential.
        if let (Algo::Ewma(_), Some(l)) = (&self.algo, self.latency.get(t)) {
            let sample = if ok {
                latency_ns
            } else {
                latency_ns.max(FAILURE_PENALTY_NS)
            };
            l.observe(sample, now);
        }
    }

    /// In-flight count and current EWMA in ns of `t` (for the admin API).
    /// The EWMA is kept with `balance = "ewma"` only, and 0 otherwise.
    pub fn stats(&self, t: usize, now: u64) -> (u32, u64) {
        match (self.in_flight.get(t), self.latency.get(t)) {
            (Some(c), Some(l)) => (c.get(), l.read(now) as u64),
            _ => (0, 0),
        }
    }

    /// `t`'s EWMA in ns as of its last answer (0 unless `balance =
    /// "ewma"`): no decay, so no `exp`, cheap enough to publish per answer.
    pub fn estimate(&self, t: usize) -> u64 {
        self.latency.get(t).map_or(0, |l| l.last() as u64)
    }
}

/// A 64-bit hash of a request key's bytes (stable across shards and restarts; e.g. FNV-1a or xxhash-like, no random state).
///
/// FNV-1a, then a 64-bit finaliser: FNV-1a alone leaves short keys clustered
/// in the high bits, and the ring is ordered by the whole value.
pub fn hash_key(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(h)
}

/// A bijective 64-bit mixer (the MurmurHash3 finaliser): every input bit
/// flips about half the output bits.
fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}
