//! The runtime state of every upstream: the part all shards share (health
//! board, outlier detector, circuit breaker, retry budget), each shard's own
//! counters per target, and the one place an exchange's result is reported.
//!
//! Owns: building that state from the compiled config, `report` (every
//! attempt's result goes to the balancer, the outlier detector and the
//! counters from here, once), the per-target Prometheus lines and the JSON
//! of `GET /upstreams`. Must never: touch a socket, or write a shared cache
//! line per request where a read would do (see each unit).

use std::fmt::Write as _;
use std::sync::Arc;

use super::breaker::Breaker;
use super::budget::{BudgetShard, RetryBudget};
use super::health::HealthBoard;
use super::outlier::{Outlier, OutlierState, Transition};
use super::select::Selector;
use std::sync::atomic::Ordering::Relaxed;

use crate::config::upstream::Balance;
use crate::config::{Compiled, UpstreamSpec};
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
    stats: Box<[ShardStats]>,
}

/// One shard's counters, per upstream, per target.
type ShardStats = Box<[Box<[TargetStats]>]>;

/// One upstream's cross-shard units.
pub struct SharedUpstream {
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

const RETRY_REASONS: [&str; 4] = ["connect", "reset", "timeout", "status"];

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
            .map(|u| SharedUpstream {
                outlier: Outlier::new(&u.outlier, u.targets.len()),
                breaker: Breaker::new(u.limits),
                budget: Arc::new(RetryBudget::new(
                    u.retry.budget_percent,
                    u.retry.min_retries_per_s,
                )),
            })
            .collect();
        let stats = (0..shards)
            .map(|_| {
                cfg.upstreams
                    .iter()
                    .map(|u| u.targets.iter().map(|_| TargetStats::default()).collect())
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

/// One shard's view: its selectors, its shard index, and the shared state.
pub struct ShardUpstreams {
    /// This shard's index (for its counters).
    pub shard: usize,
    /// One selector per upstream.
    pub selectors: Box<[Selector]>,
    /// The shared state.
    pub shared: Arc<Shared>,
    /// This shard's handle on each upstream's retry budget.
    budgets: Box<[BudgetShard]>,
    rng: std::cell::Cell<u64>,
}

impl ShardUpstreams {
    /// Selectors for shard `shard`, each seeded differently.
    pub fn new(cfg: &Compiled, shard: usize, shared: Arc<Shared>) -> ShardUpstreams {
        let selectors = cfg
            .upstreams
            .iter()
            .enumerate()
            .map(|(i, u)| Selector::new(u, seed(shard, i)))
            .collect();
        let budgets = shared
            .upstreams
            .iter()
            .map(|u| BudgetShard::new(u.budget.clone()))
            .collect();
        ShardUpstreams {
            shard,
            selectors,
            budgets,
            shared,
            rng: std::cell::Cell::new(seed(shard, usize::MAX) | 1),
        }
    }

    /// Shard counters for target `t` of `up`.
    #[inline]
    pub fn stats(&self, up: usize, t: usize) -> &TargetStats {
        self.shared.stats(self.shard, up, t)
    }

    /// The one report of an attempt's result: balancer, outlier detector
    /// and counters. `latency_ns` runs from the attempt's start to its end
    /// (the response head, or the failure).
    pub fn report(
        &self,
        spec: &UpstreamSpec,
        up: usize,
        t: usize,
        a: Attempt,
        latency_ns: u64,
        now: u64,
    ) {
        let st = self.stats(up, t);
        st.in_flight.dec();
        let (ok, failure) = match a {
            Attempt::Status(s) => {
                st.responses[(s / 100).clamp(1, 5) as usize - 1].inc();
                (true, s >= 500 && spec.outlier.count_5xx)
            }
            _ => {
                st.failures.inc();
                (false, true)
            }
        };
        let sel = &self.selectors[up];
        sel.end(t, latency_ns, ok, now);
        if spec.balance == Balance::Ewma {
            st.ewma_ns.store(sel.estimate(t), Relaxed);
        }
        match self.shared.upstreams[up].outlier.report(t, failure, now) {
            Some(Transition::Ejected { until }) => {
                st.ejections.inc();
                log::warn(
                    "upstream target ejected",
                    &[
                        ("upstream", Val::Str(&spec.name)),
                        ("target", Val::Str(&spec.targets[t].to_string())),
                        ("for_ms", Val::Num(until.saturating_sub(now) / 1_000_000)),
                    ],
                );
            }
            Some(Transition::Returned) => log::info(
                "upstream target returned",
                &[
                    ("upstream", Val::Str(&spec.name)),
                    ("target", Val::Str(&spec.targets[t].to_string())),
                ],
            ),
            None => {}
        }
    }

    /// A client request for `up` arrived: it funds a share of a retry.
    #[inline]
    pub fn deposit(&self, up: usize, now: u64) {
        self.budgets[up].deposit(now);
    }

    /// Takes one retry from `up`'s budget, if it can pay for it.
    pub fn try_withdraw(&self, up: usize, now: u64) -> bool {
        self.budgets[up].try_withdraw(now)
    }

    /// An attempt at `t` starts.
    #[inline]
    pub fn start(&self, up: usize, t: usize) {
        self.stats(up, t).in_flight.inc();
        self.selectors[up].start(t);
    }

    /// An attempt at `t` ended for a reason that says nothing about the
    /// target (the client failed, a pooled connection had gone stale, the
    /// breaker refused): in-flight is released, nothing else is recorded.
    pub fn abandon(&self, up: usize, t: usize, latency_ns: u64, now: u64) {
        self.stats(up, t).in_flight.dec();
        self.selectors[up].end(t, latency_ns, true, now);
    }

    /// A random number from this shard's generator (hash keys of requests
    /// without one, backoff jitter).
    pub fn random(&self) -> u64 {
        // xorshift64*: state never 0 (seeded from splitmix, which is not 0 here).
        let mut x = self.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn seed(shard: usize, up: usize) -> u64 {
    // splitmix64 of the pair: distinct, well-mixed seeds per (shard, upstream).
    let mut z = ((shard as u64) << 32 | up as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A per-target metric: name, type, help, label name and values (none for
/// a plain one), and one shard's value for a label index.
type TargetMetric = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    fn(&TargetStats, usize) -> u64,
);

const CLASSES: &[&str] = &["1xx", "2xx", "3xx", "4xx", "5xx"];

const TARGET_METRICS: [TargetMetric; 6] = [
    (
        "ringway_upstream_responses_total",
        "counter",
        "Upstream responses by target and status class.",
        "class",
        CLASSES,
        |s, i| s.responses[i].get(),
    ),
    (
        "ringway_upstream_failures_total",
        "counter",
        "Attempts that ended in a connect error, reset, timeout or bad response.",
        "",
        &[],
        |s, _| s.failures.get(),
    ),
    (
        "ringway_upstream_in_flight",
        "gauge",
        "Requests in flight to the target.",
        "",
        &[],
        |s, _| s.in_flight.get(),
    ),
    (
        "ringway_upstream_ejections_total",
        "counter",
        "Outlier ejections of the target.",
        "",
        &[],
        |s, _| s.ejections.get(),
    ),
    (
        "ringway_upstream_retries_total",
        "counter",
        "Retries made after an attempt on the target failed, by reason.",
        "reason",
        &RETRY_REASONS,
        |s, i| s.retries[i].get(),
    ),
    (
        "ringway_upstream_retry_budget_exhausted_total",
        "counter",
        "Retries refused because the upstream's retry budget was spent.",
        "",
        &[],
        |s, _| s.budget_exhausted.get(),
    ),
];

/// Prometheus lines for every target, summed over shards.
pub fn render_metrics(shared: &Shared, cfg: &Compiled, out: &mut String, now: u64) {
    let sum = |up: usize, t: usize, i: usize, f: fn(&TargetStats, usize) -> u64| -> i64 {
        shared
            .stats
            .iter()
            .fold(0u64, |a, s| a.wrapping_add(f(&s[up][t], i))) as i64
    };
    let targets = || {
        cfg.upstreams.iter().enumerate().flat_map(|(up, spec)| {
            spec.targets.iter().enumerate().map(move |(t, addr)| {
                (
                    up,
                    t,
                    format!("upstream=\"{}\",target=\"{addr}\"", spec.name),
                )
            })
        })
    };
    for (name, kind, help, label, values, f) in TARGET_METRICS {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (up, t, l) in targets() {
            if values.is_empty() {
                let _ = writeln!(out, "{name}{{{l}}} {}", sum(up, t, 0, f));
            }
            for (i, v) in values.iter().enumerate() {
                let _ = writeln!(out, "{name}{{{l},{label}=\"{v}\"}} {}", sum(up, t, i, f));
            }
        }
    }
    let _ = writeln!(out, "# HELP ringway_upstream_healthy 1 when the target passes its health checks and is not ejected.\n# TYPE ringway_upstream_healthy gauge");
    for (up, t, l) in targets() {
        let _ = writeln!(
            out,
            "ringway_upstream_healthy{{{l}}} {}",
            u8::from(shared.usable(up, t, now))
        );
    }
    let _ = writeln!(out, "# HELP ringway_upstream_overflows_total Requests refused by the upstream's circuit breaker (503 upstream_overloaded).\n# TYPE ringway_upstream_overflows_total counter");
    for (up, spec) in cfg.upstreams.iter().enumerate() {
        let v: i64 = (0..spec.targets.len())
            .map(|t| sum(up, t, 0, |s, _| s.overflows.get()))
            .sum();
        let _ = writeln!(
            out,
            "ringway_upstream_overflows_total{{upstream=\"{}\"}} {v}",
            spec.name
        );
    }
}

/// `GET /upstreams`: every target's state as JSON.
pub fn render_json(shared: &Shared, cfg: &Compiled, now: u64) -> String {
    let mut ups = Vec::with_capacity(cfg.upstreams.len());
    for (up, spec) in cfg.upstreams.iter().enumerate() {
        let outlier = &shared.upstreams[up].outlier;
        let mut targets = Vec::with_capacity(spec.targets.len());
        for (t, addr) in spec.targets.iter().enumerate() {
            let sum = |f: &dyn Fn(&TargetStats) -> u64| -> u64 {
                shared.stats.iter().map(|s| f(&s[up][t])).sum()
            };
            let ewmas: Vec<u64> = shared
                .stats
                .iter()
                .map(|s| s[up][t].ewma_ns.load(Relaxed))
                .filter(|&v| v > 0)
                .collect();
            let ewma_us =
                (!ewmas.is_empty()).then(|| ewmas.iter().sum::<u64>() / ewmas.len() as u64 / 1000);
            let h = shared.health.detail(up, t);
            let o = outlier.state(t, now);
            targets.push(serde_json::json!({
                "addr": addr.to_string(),
                "weight": spec.weights[t],
                "healthy": h.healthy,
                "usable": shared.usable(up, t, now),
                "health": {
                    "checked": h.checked,
                    "passes": h.passes,
                    "failures": h.failures,
                    "last": h.last.map(|r| r.to_string()),
                    "checks": h.checks,
                    "failed_checks": h.failed_checks,
                    "transitions": h.transitions,
                },
                "state": match o.state {
                    OutlierState::Active => "active",
                    OutlierState::Ejected { .. } => "ejected",
                    OutlierState::HalfOpen => "half_open",
                },
                "ejected_for_ms": match o.state {
                    OutlierState::Ejected { until } => Some(until.saturating_sub(now) / 1_000_000),
                    _ => None,
                },
                "ejections": o.ejections,
                "consecutive_failures": o.consecutive_failures,
                "in_flight": sum(&|s| s.in_flight.get()) as i64,
                "ewma_us": ewma_us,
                "responses": {
                    "2xx": sum(&|s| s.responses[1].get()),
                    "4xx": sum(&|s| s.responses[3].get()),
                    "5xx": sum(&|s| s.responses[4].get()),
                },
                "failures": sum(&|s| s.failures.get()),
            }));
        }
        let b = shared.upstreams[up].breaker.counts();
        ups.push(serde_json::json!({
            "name": &*spec.name,
            "balance": spec.balance.name(),
            "breaker": {
                "connections": b.connections,
                "pending": b.pending,
                "requests": b.requests,
                "overflows": b.overflows,
            },
            "targets": targets,
        }));
    }
    let mut out = serde_json::json!({ "upstreams": ups }).to_string();
    out.push('\n');
    out
}
