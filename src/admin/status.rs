//! The process's state as the admin API shows it: `/readyz` (the phase
//! `server::run` sets), `/shards` (each shard's connections, requests and
//! event-loop lag) and the per-shard gauge family `/metrics` adds.
//!
//! Owns: those views. Must never: do more than relaxed loads of shard
//! counters (a shard never waits for the admin API).

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

use super::Refusal;
use crate::error::ErrorCode;
use crate::observe::Metrics;
use crate::server::{Phase, Readiness};

/// `GET /readyz`: 200 once every shard is ready, 503 `not_ready` before
/// that and from the moment a drain begins.
pub fn readyz(r: &Readiness) -> Result<(&'static str, String), Refusal> {
    match r.phase() {
        Phase::Ready => Ok(("text/plain", "ready\n".into())),
        p => Err(Refusal::detail(ErrorCode::NotReady, phase_name(p))),
    }
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Starting => "starting",
        Phase::Ready => "ready",
        Phase::Draining => "draining",
    }
}

/// `GET /shards`: the phase, and per shard its open client connections,
/// request heads parsed so far and event-loop lag.
pub fn shards(m: &Metrics, n: usize, phase: Phase) -> String {
    let list: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let s = m.shard(i);
            serde_json::json!({
                "shard": i,
                "connections": s.connections_active.get(),
                "requests_total": s.requests.get(),
                "loop_lag_us": s.loop_lag_us.load(Relaxed),
            })
        })
        .collect();
    let v = serde_json::json!({ "phase": phase_name(phase), "shards": list });
    super::respond::pretty_json(&v)
}

/// Appends `ringway_shard_loop_lag_seconds{shard="i"}` for every shard.
pub fn render_metrics(m: &Metrics, n: usize, out: &mut String) {
    out.push_str("# HELP ringway_shard_loop_lag_seconds The worst lateness of the shard's 100 ms event-loop tick over the last whole second.\n# TYPE ringway_shard_loop_lag_seconds gauge\n");
    for i in 0..n {
        let us = m.shard(i).loop_lag_us.load(Relaxed);
        let _ = writeln!(
            out,
            "ringway_shard_loop_lag_seconds{{shard=\"{i}\"}} {}",
            us as f64 / 1e6
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_and_the_lag_family_read_each_shards_counters() {
        let m = Metrics::new(3);
        m.shard(1).requests.add(7);
        m.shard(1).loop_lag_us.store(1500, Relaxed);
        let v: serde_json::Value =
            serde_json::from_str(&shards(&m, 2, Phase::Ready)).expect("json");
        assert_eq!(v["phase"], "ready");
        assert_eq!(v["shards"].as_array().map(Vec::len), Some(2));
        assert_eq!(v["shards"][1]["requests_total"], 7);
        assert_eq!(v["shards"][1]["loop_lag_us"], 1500);
        let mut out = String::new();
        render_metrics(&m, 2, &mut out);
        assert!(out.contains("ringway_shard_loop_lag_seconds{shard=\"1\"} 0.0015\n"));
        assert!(!out.contains("shard=\"2\""));
        let r = Readiness::default();
        assert_eq!(readyz(&r).map_err(|e| e.detail), Err("starting".into()));
        r.advance(Phase::Ready);
        assert!(readyz(&r).is_ok());
        r.advance(Phase::Draining);
        assert_eq!(readyz(&r).map_err(|e| e.code), Err(ErrorCode::NotReady));
    }
}
