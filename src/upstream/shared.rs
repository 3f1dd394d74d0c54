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

use crate::config::Compiled;
use crate::discovery::{Target, TargetSink};
use crate::observe::log::{self, Val};
use crate::observe::metrics::Counter;

/// Everything about the upstreams that all shards (and the admin and health
/// threads) share; built once per process.
pub struct Shared {
    /// Active health check results.
    pub health: Arc<HealthBoard>,
    /// Per upstream, in config order.
    pub upstreams: Box<[SharedUpstream]>,
    /// Counters per shard; each shard writes only its own.
    pub(super) stats: Box<[ShardStats]>,
}

/// One shard's counters, per upstream, per target.
type ShardStats = Box<[Box<[TargetStats]>]>;

/// One upstream's cross-shard units.
pub struct SharedUpstream {
    /// The upstream's name (for log lines).
    pub name: Box<str>,
    /// Which target holds each slot.
    pub roster: Roster,
    /// Passive outlier ejection.
    pub outlier: Outlier,
    /// Circuit-breaking thresholds.
    pub breaker: Breaker,
    /// The retry budget; shards reach it through their `BudgetShard`.
    pub budget: Arc<RetryBudget>,
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
    /// The shard's peak-EWMA latency of the target in ns as of its last
    /// answer (`balance = "ewma"` only), for `GET /upstreams`.
    pub ewma_ns: std::sync::atomic::AtomicU64,
}

impl TargetStats {
    /// Zeroes every counter (the slot holds a new target). Only the owning
    /// shard may call this.
    pub fn reset(&self) {
        for c in self.responses.iter().chain(&self.retries) {
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
        let upstreams = cfg
            .upstreams
            .iter()
            .map(|u| {
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
                    roster: Roster::new(slots, &initial, shards),
                    outlier,
                    breaker: Breaker::new(u.limits),
                    budget: Arc::new(RetryBudget::new(
                        u.retry.budget_percent,
                        u.retry.min_retries_per_s,
                    )),
                }
            })
            .collect();
        let stats = (0..shards)
            .map(|_| {
                cfg.upstreams
                    .iter()
                    .map(|u| {
                        (0..roster::capacity(u))
                            .map(|_| TargetStats::default())
                            .collect()
                    })
                    .collect()
            })
            .collect();
        Shared {
            health: Arc::new(HealthBoard::new(cfg)),
            upstreams,
            stats,
        }
    }

    /// Shard `shard`'s counters for target `t` of upstream `up`.
    #[inline]
    pub fn stats(&self, shard: usize, up: usize, t: usize) -> &TargetStats {
        &self.stats[shard][up][t]
    }

    /// Whether target `t` of `up` may be chosen now: healthy and not
    /// ejected (a half-open target is chosen; `Outlier::admit` then decides
    /// whether this request is one of its probes).
    #[inline]
    pub fn usable(&self, up: usize, t: usize, now: u64) -> bool {
        self.health.is_healthy(up, t) && self.upstreams[up].outlier.selectable(t, now)
    }
}

impl Shared {
    /// Requests in flight to slot `t` of `up`, over all shards.
    fn in_flight(&self, up: usize, t: usize) -> u64 {
        let n = self
            .stats
            .iter()
            .filter_map(|s| s.get(up)?.get(t))
            .fold(0u64, |a, st| a.wrapping_add(st.in_flight.get()));
        // A gauge summed over shards: one shard's decrement may land before
        // another's increment is seen, so a "negative" sum reads as idle.
        if (n as i64) < 0 {
            0
        } else {
            n
        }
    }

    /// Slot `t` of `up` is about to hold a new target: its shared state
    /// (outlier, health) forgets the old one.
    fn forget_slot(&self, up: usize, t: usize) {
        if let Some(u) = self.upstreams.get(up) {
            u.outlier.reset(t);
        }
        self.health.reset(up, t);
    }

    /// Places the targets that found no free slot when their set was
    /// published (every free slot was still draining). For a control-plane
    /// tick while any upstream's targets are discovered.
    pub fn maintain(&self) {
        for (up, u) in self.upstreams.iter().enumerate() {
            let change = u
                .roster
                .retry(|t| self.in_flight(up, t), |t| self.forget_slot(up, t));
            if change.added > 0 {
                u.outlier.resize(u.roster.current().active.len());
                log_change(&u.name, None, change);
            }
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
        let Some(u) = self.upstreams.get(up) else {
            return;
        };
        let change = u.roster.set(
            &targets,
            |t| self.in_flight(up, t),
            |t| self.forget_slot(up, t),
        );
        u.outlier.resize(u.roster.current().active.len());
        if change != roster::Change::default() {
            log_change(&u.name, Some(targets.len()), change);
        }
    }
}
