//! The upstreams as the admin API shows them: the per-target Prometheus
//! families of `/metrics` and the JSON of `GET /upstreams`, one entry per
//! target the upstream has now (its occupied slots).
//!
//! Owns: those two views. Must never: write anything (relaxed loads of
//! shard counters and the published slots only).

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

use super::outlier::OutlierState;
use super::shared::{Shared, TargetStats, RETRY_REASONS};
use crate::config::Compiled;
use crate::tls::TlsFail;

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

const TARGET_METRICS: [TargetMetric; 7] = [
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
    (
        "ringway_upstream_tls_failures_total",
        "counter",
        "TLS handshakes or sessions with the target that failed, by reason.",
        "reason",
        &TlsFail::LABELS,
        |s, i| s.tls_failures[i].get(),
    ),
];

/// Prometheus lines for every target, summed over shards.
pub fn render_metrics(shared: &Shared, cfg: &Compiled, out: &mut String, now: u64) {
    let sum = |up: usize, t: usize, i: usize, f: fn(&TargetStats, usize) -> u64| -> i64 {
        shared.upstreams[up]
            .all_stats(t)
            .fold(0u64, |a, s| a.wrapping_add(f(s, i))) as i64
    };
    let members: Vec<_> = shared
        .upstreams
        .iter()
        .map(|u| u.roster.current())
        .collect();
    let targets = || {
        cfg.upstreams.iter().enumerate().flat_map(|(up, spec)| {
            let m = &members[up];
            m.active.iter().map(move |&t| {
                (
                    up,
                    t,
                    format!("upstream=\"{}\",target=\"{}\"", spec.name, m.addr(t)),
                )
            })
        })
    };
    for (name, kind, help, label, values, f) in TARGET_METRICS {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (up, t, l) in targets() {
            // A plain upstream has no TLS to fail: its zeros are left out.
            if values == TlsFail::LABELS && cfg.upstreams[up].tls.is_none() {
                continue;
            }
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
        let v: i64 = (0..shared.upstreams[up].slots())
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
        let members = shared.upstreams[up].roster.current();
        let mut targets = Vec::with_capacity(members.active.len());
        for &t in members.active.iter() {
            let Some(member) = members.get(t) else {
                continue;
            };
            let sum = |f: &dyn Fn(&TargetStats) -> u64| -> u64 {
                shared.upstreams[up].all_stats(t).map(f).sum()
            };
            let ewmas: Vec<u64> = shared.upstreams[up]
                .all_stats(t)
                .map(|s| s.ewma_ns.load(Relaxed))
                .filter(|&v| v > 0)
                .collect();
            let ewma_us =
                (!ewmas.is_empty()).then(|| ewmas.iter().sum::<u64>() / ewmas.len() as u64 / 1000);
            let h = shared.upstreams[up].health.detail(t);
            let o = outlier.state(t, now);
            targets.push(serde_json::json!({
                "addr": member.addr.to_string(),
                "weight": member.weight,
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
