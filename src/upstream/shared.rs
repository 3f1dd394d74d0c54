//! The runtime state of every upstream that all shards share: which
//! targets it has (`roster`), the health board, outlier detector, circuit
//! breaker and retry budget, and every shard's counters per target slot.
//!
//! Owns: building that state from the compiled config, and applying a new
//! target set (`TargetSink`, called by discovery and the registry): slots
//! reassigned, the detector's cap resized, a reused slot's state reset.
//! Must never: touch a socket, or be written by a shard except through its
//! own counters and the units' per-request calls.

use std::sync::Arc;

use super::breaker::Breaker;
use super::budget::RetryBudget;
use super::health::HealthBoard;
use super::outlier::Outlier;
use super::roster::{self, Roster};

use crate::config::{Compiled, UpstreamSpec};
use crate::discovery::{Target, TargetSink};
use crate::observe::log::{self, Val};
use crate::observe::metrics::Counter;

/// Everything about the upstreams that all shards (and the admin and health
/// threads) share, for one configuration generation. Each upstream's state
/// is its own `Arc`, so a reload that leaves an upstream's definition as it
/// was hands the very same state to the next generation (`carry`).
pub struct Shared {
    /// Per upstream, in config order.
    pub upstreams: Box<[Arc<SharedUpstream>]>,
}

/// One upstream's cross-shard units.
pub struct SharedUpstream {
    /// The upstream's name (for log lines).
    pub name: Box<str>,
    /// The definition this state was built for: a reload carries the state
    /// over only to an identical definition.
    pub spec: UpstreamSpec,
    /// Which target holds each slot.
    pub roster: Roster,
    /// Active health check results, per slot.
    pub health: HealthBoard,
    /// Passive outlier ejection.
    pub outlier: Outlier,
    /// Circuit-breaking thresholds.
    pub breaker: Breaker,
    /// The retry budget; shards reach it through their `BudgetShard`.
    pub budget: Arc<RetryBudget>,
    /// Counters per shard, per slot; each shard writes only its own.
    stats: Box<[Box<[TargetStats]>]>,
}

/// Why a retry was made (index into `TargetStats::retries`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryReason {
    /// The connection could not be opened.
    Connect = 0,
    /// Reset before a complete response head.
    Reset = 1,
    /// No response head within the per-try timeout.
    Timeout = 2,
    /// A retriable status.
    Status = 3,
}

pub(super) const RETRY_REASONS: [&str; 4] = ["connect", "reset", "timeout", "status"];

/// One shard's counters for one target.
#[derive(Default)]
pub struct TargetStats {
    /// Responses by status class (index 0: 1xx … 4: 5xx).
    pub responses: [Counter; 5],
    /// Connect errors, resets, timeouts and bad responses.
    pub failures: Counter,
    /// Requests in flight to this target now (gauge).
    pub in_flight: Counter,
    /// Retries made after an attempt on this target failed, by reason.
    pub retries: [Counter; 4],
    /// Retries refused because the budget was spent.
    pub budget_exhausted: Counter,
    /// Requests refused by the circuit breaker (counted on target 0).
    pub overflows: Counter,
    /// Times this target was ejected (counted by the shard that ejected it).
    pub ejections: Counter,
    /// TLS failures with this target, by `crate::tls::TlsFail` reason.
    pub tls_failures: [Counter; crate::tls::TlsFail::COUNT],
    /// The shard's peak-EWMA latency of the target in ns as of its last
    /// answer (`balance = "ewma"` only), for `GET /upstreams`.
    pub ewma_ns: std::sync::atomic::AtomicU64,
}

impl TargetStats {
    /// Zeroes every counter (the slot holds a new target). Only the owning
    /// shard may call this.
    pub fn reset(&self) {
        for c in self
            .responses
            .iter()
            .chain(&self.retries)
            .chain(&self.tls_failures)
        {
            c.reset();
        }
        for c in [
            &self.failures,
            &self.in_flight,
            &self.budget_exhausted,
            &self.overflows,
            &self.ejections,
        ] {
            c.reset();
        }
        self.ewma_ns.store(0, std::sync::atomic::Ordering::Relaxed);
    }
}

/// What one attempt at a target ended with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// A complete response head with this status.
    Status(u16),
    /// Connect refused, unreachable or timed out.
    ConnectFailed,
    /// The connection reset or closed before a complete response head.
    Reset,
    /// No response head in time.
    Timeout,
    /// The response head was invalid or too large.
    BadResponse,
}

impl Shared {
    /// Fresh state for `cfg.upstreams`, with counters for `shards` shards.
    pub fn new(cfg: &Compiled, shards: usize) -> Shared {
        Shared::carry(cfg, shards, None)
    }

    /// State for `cfg.upstreams` in which every upstream whose name and
    /// definition are the same as in `previous` is that upstream's state,
    /// shared (targets, health, ejections, breaker, budget, counters);
    /// the others start fresh.
    pub fn carry(cfg: &Compiled, shards: usize, previous: Option<&Shared>) -> Shared {
        let upstreams = cfg
            .upstreams
            .iter()
            .map(|u| {
                let same = previous
                    .and_then(|p| p.upstreams.iter().find(|o| o.spec == *u))
                    .filter(|o| o.stats.len() == shards);
                match same {
                    Some(o) => o.clone(),
                    None => Arc::new(SharedUpstream::new(u, shards)),
                }
            })
            .collect();
        Shared { upstreams }
    }

    /// Shard `shard`'s counters for target `t` of upstream `up`.
    #[inline]
    pub fn stats(&self, shard: usize, up: usize, t: usize) -> &TargetStats {
        self.upstreams[up].stats(shard, t)
    }

    /// Whether target `t` of `up` may be chosen now (`SharedUpstream::usable`).
    #[inline]
    pub fn usable(&self, up: usize, t: usize, now: u64) -> bool {
        self.upstreams[up].usable(t, now)
    }

    /// Places the targets that found no free slot when their set was
    /// published (every free slot was still draining). For a control-plane
    /// tick while any upstream's targets are discovered.
    pub fn maintain(&self) {
        for u in self.upstreams.iter() {
            u.maintain();
        }
    }
}

impl SharedUpstream {
    /// Fresh state for `u`: its configured targets (none for a discovered
    /// upstream until its source publishes), all healthy.
    pub fn new(u: &UpstreamSpec, shards: usize) -> SharedUpstream {
        let initial: Vec<Target> = u
            .targets
            .iter()
            .zip(u.weights.iter())
            .map(|(&addr, &weight)| Target { addr, weight })
            .collect();
        let slots = roster::capacity(u);
        let outlier = Outlier::new(&u.outlier, slots);
        outlier.resize(initial.len());
        SharedUpstream {
            name: u.name.clone(),
            spec: u.clone(),
            roster: Roster::new(slots, &initial, shards),
            health: HealthBoard::new(slots, u.health.is_some()),
            outlier,
            breaker: Breaker::new(u.limits),
            budget: Arc::new(RetryBudget::new(
                u.retry.budget_percent,
                u.retry.min_retries_per_s,
            )),
            stats: (0..shards)
                .map(|_| (0..slots).map(|_| TargetStats::default()).collect())
                .collect(),
        }
    }

    /// Shard `shard`'s counters for slot `t`.
    #[inline]
    pub fn stats(&self, shard: usize, t: usize) -> &TargetStats {
        &self.stats[shard][t]
    }

    /// Every shard's counters for slot `t`.
    pub fn all_stats(&self, t: usize) -> impl Iterator<Item = &TargetStats> + Clone {
        self.stats.iter().filter_map(move |s| s.get(t))
    }

    /// The number of slots.
    pub fn slots(&self) -> usize {
        self.stats.first().map_or(0, |s| s.len())
    }

    /// Whether slot `t` may be chosen now: healthy and not ejected (a
    /// half-open target is chosen; `Outlier::admit` then decides whether
    /// this request is one of its probes).
    #[inline]
    pub fn usable(&self, t: usize, now: u64) -> bool {
        self.health.is_healthy(t) && self.outlier.selectable(t, now)
    }

    /// Requests in flight to slot `t`, over all shards.
    fn in_flight(&self, t: usize) -> u64 {
        let n = self
            .all_stats(t)
            .fold(0u64, |a, st| a.wrapping_add(st.in_flight.get()));
        // A gauge summed over shards: one shard's decrement may land before
        // another's increment is seen, so a "negative" sum reads as idle.
        if (n as i64) < 0 {
            0
        } else {
            n
        }
    }

    /// Slot `t` is about to hold a new target: its shared state (outlier,
    /// health) forgets the old one.
    fn forget_slot(&self, t: usize) {
        self.outlier.reset(t);
        self.health.reset(t);
    }

    /// Places the targets that waited for a draining slot.
    fn maintain(&self) {
        let change = self
            .roster
            .retry(|t| self.in_flight(t), |t| self.forget_slot(t));
        if change.added > 0 {
            self.outlier.resize(self.roster.current().active.len());
            log_change(&self.name, None, change);
        }
    }

    /// `targets` is now the upstream's whole set (`TargetSink::publish`).
    pub fn publish(&self, targets: &[Target]) {
        let change = self
            .roster
            .set(targets, |t| self.in_flight(t), |t| self.forget_slot(t));
        self.outlier.resize(self.roster.current().active.len());
        if change != roster::Change::default() {
            log_change(&self.name, Some(targets.len()), change);
        }
    }
}

fn log_change(name: &str, targets: Option<usize>, change: roster::Change) {
    let mut fields = vec![
        ("upstream", Val::Str(name)),
        ("added", Val::Num(change.added as u64)),
        ("removed", Val::Num(change.removed as u64)),
        ("reweighted", Val::Num(change.reweighted as u64)),
        ("waiting", Val::Num(change.waiting as u64)),
    ];
    if let Some(n) = targets {
        fields.push(("targets", Val::Num(n as u64)));
    }
    log::info("upstream targets changed", &fields);
}

impl TargetSink for Shared {
    fn publish(&self, up: usize, targets: Vec<Target>) {
        if let Some(u) = self.upstreams.get(up) {
            u.publish(&targets);
        }
    }
}
