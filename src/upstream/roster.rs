//! Which targets an upstream has now: a fixed number of slots per upstream,
//! each holding one target address or none, published by the control plane
//! (discovery, the registry) and applied by every shard between requests.
//!
//! A target keeps its slot for as long as it stays in the set, so every
//! per-target state kept by slot index (health, outlier ejection, balancer
//! state, counters, pooled connections) carries over a change untouched. A
//! slot given up by a removed target is reused only once every shard has
//! applied the removal and no request is in flight to it, so no late report
//! about the old target lands on a new one.
//!
//! Owns: the slot assignment and its publication. Must never: be written by
//! a shard (shards only read `Members` and record the generation they
//! applied), or move a target that stays to another slot.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Acquire, Ordering::Release};
use std::sync::{Arc, Mutex};

use crate::discovery::Target;
use crate::reload::publish::Published;

/// Slots of upstream `spec`: one per configured target, or `max_targets`
/// when its targets are discovered.
pub fn capacity(spec: &crate::config::UpstreamSpec) -> usize {
    spec.max_targets.max(spec.targets.len())
}

/// One upstream's targets as published: slot → target.
#[derive(Debug, Default)]
pub struct Members {
    /// Bumped by every publication (0: the set the config started with).
    pub generation: u64,
    /// One entry per slot; `None` when free (or freed and not yet reusable).
    pub slots: Box<[Option<Target>]>,
    /// The occupied slots, in slot order (for a static upstream: config
    /// order, slot `i` holding target `i`).
    pub active: Box<[usize]>,
}

impl Members {
    /// Generation 0 of `capacity` slots, the first ones holding `initial`
    /// (at most `capacity` of them).
    pub fn new(capacity: usize, initial: &[Target]) -> Members {
        let mut slots: Vec<Option<Target>> = vec![None; capacity];
        for (slot, t) in slots.iter_mut().zip(initial) {
            *slot = Some(*t);
        }
        Members {
            generation: 0,
            active: order(&slots),
            slots: slots.into(),
        }
    }

    /// The target in slot `t`.
    #[inline]
    pub fn get(&self, t: usize) -> Option<&Target> {
        self.slots.get(t)?.as_ref()
    }

    /// The address in slot `t` (unspecified when the slot is empty).
    pub fn addr(&self, t: usize) -> SocketAddr {
        self.get(t)
            .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |m| m.addr)
    }

    /// The slot holding `addr`.
    pub fn slot_of(&self, addr: SocketAddr) -> Option<usize> {
        self.active
            .iter()
            .copied()
            .find(|&t| self.get(t).is_some_and(|m| m.addr == addr))
    }
}

/// What one `Roster::set` did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Change {
    /// Targets given a slot.
    pub added: usize,
    /// Targets taken out.
    pub removed: usize,
    /// Targets whose weight changed.
    pub reweighted: usize,
    /// Wanted targets still without a slot: every free slot is draining,
    /// or the upstream is full. `Roster::retry` places them later.
    pub waiting: usize,
}

/// The slots of one upstream, shared by the control plane and the shards.
pub struct Roster {
    published: Published<Members>,
    /// The generation each shard last applied (each shard writes its own).
    applied: Box<[AtomicU64]>,
    /// Control-plane bookkeeping; a shard never takes this lock.
    book: Mutex<Book>,
}

#[derive(Default)]
struct Book {
    /// The whole set last asked for (what `retry` places again).
    wanted: Vec<Target>,
    /// Slots given up, and the generation that gave them up.
    freed: Vec<(usize, u64)>,
}

impl Roster {
    /// `capacity` slots, the first ones holding `initial` (at most
    /// `capacity` of them), for `shards` shards.
    pub fn new(capacity: usize, initial: &[Target], shards: usize) -> Roster {
        Roster {
            published: Published::new(Members::new(capacity, initial)),
            applied: (0..shards).map(|_| AtomicU64::new(0)).collect(),
            book: Mutex::new(Book {
                wanted: initial.to_vec(),
                freed: Vec::new(),
            }),
        }
    }

    /// The published set.
    pub fn published(&self) -> &Published<Members> {
        &self.published
    }

    /// The current set (control plane, admin).
    pub fn current(&self) -> Arc<Members> {
        self.published.current()
    }

    /// Slots per upstream.
    pub fn capacity(&self) -> usize {
        self.published.current().slots.len()
    }

    /// Shard `shard` now runs on generation `g` (called by that shard).
    pub fn applied(&self, shard: usize, g: u64) {
        if let Some(a) = self.applied.get(shard) {
            a.store(g, Release);
        }
    }

    /// Makes `wanted` the upstream's set and publishes it. `in_flight(slot)`
    /// is the number of requests in flight to a slot over all shards;
    /// `reuse(slot)` is called for each freed slot before a new target takes
    /// it (reset its shared state there).
    pub fn set(
        &self,
        wanted: &[Target],
        in_flight: impl Fn(usize) -> u64,
        reuse: impl FnMut(usize),
    ) -> Change {
        let mut book = self.book.lock().unwrap_or_else(|p| p.into_inner());
        book.wanted = wanted.to_vec();
        self.place(&mut book, in_flight, reuse)
    }

    /// Places again the targets `set` could not place; publishes only when
    /// something changed. For a control-plane tick.
    pub fn retry(&self, in_flight: impl Fn(usize) -> u64, reuse: impl FnMut(usize)) -> Change {
        let mut book = self.book.lock().unwrap_or_else(|p| p.into_inner());
        let cur = self.published.current();
        let placed = book.wanted.iter().all(|w| cur.slot_of(w.addr).is_some());
        if placed {
            return Change::default();
        }
        self.place(&mut book, in_flight, reuse)
    }

    fn place(
        &self,
        book: &mut Book,
        in_flight: impl Fn(usize) -> u64,
        mut reuse: impl FnMut(usize),
    ) -> Change {
        let cur = self.published.current();
        let generation = cur.generation + 1;
        let mut slots: Vec<Option<Target>> = cur.slots.to_vec();
        let mut change = Change::default();
        // Out first: what left frees its slot (for later), what stays keeps it.
        for (t, slot) in slots.iter_mut().enumerate() {
            let Some(m) = *slot else { continue };
            match book.wanted.iter().find(|w| w.addr == m.addr) {
                None => {
                    *slot = None;
                    book.freed.push((t, generation));
                    change.removed += 1;
                }
                Some(w) if w.weight != m.weight => {
                    *slot = Some(*w);
                    change.reweighted += 1;
                }
                Some(_) => {}
            }
        }
        let everywhere = self.applied.iter().map(|a| a.load(Acquire)).min();
        let everywhere = everywhere.unwrap_or(u64::MAX);
        for w in &book.wanted {
            if slots.iter().flatten().any(|m| m.addr == w.addr) {
                continue;
            }
            let fresh = (0..slots.len())
                .find(|&t| slots[t].is_none() && !book.freed.iter().any(|&(f, _)| f == t));
            let drained = || {
                book.freed
                    .iter()
                    .position(|&(t, g)| g <= everywhere && in_flight(t) == 0)
            };
            let t = match fresh {
                Some(t) => t,
                None => match drained() {
                    Some(i) => {
                        let (t, _) = book.freed.swap_remove(i);
                        reuse(t);
                        t
                    }
                    None => {
                        change.waiting += 1;
                        continue;
                    }
                },
            };
            slots[t] = Some(*w);
            change.added += 1;
        }
        if change.added + change.removed + change.reweighted > 0 {
            self.published.publish(Members {
                generation,
                active: order(&slots),
                slots: slots.into(),
            });
        }
        change
    }
}

/// The occupied slots of `slots`, in slot order.
fn order(slots: &[Option<Target>]) -> Box<[usize]> {
    (0..slots.len()).filter(|&t| slots[t].is_some()).collect()
}

#[cfg(test)]
mod tests;
