//! The measured phases of a comparison: one run's spec, a warm-up followed by
//! a CPU-sampled measured run, max throughput, interleaved fixed-rate rounds,
//! and the idle-connection memory figure.
//!
//! It must never sample a proxy's CPU outside the measured window.

use std::net::SocketAddr;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::config::CompareConfig;
use super::idle::Idle;
use super::probe::upstream_stats;
use super::procs;
use super::{IdleMem, MaxRun, RateRun, Reuse};
use crate::added::{median, summarise, Side};
use crate::report::figures;
use crate::run::{execute, RunSpec};
use crate::stats::{histogram, Percentiles};
use crate::target::Target;
use crate::validity::check;

pub(super) fn spec(cfg: &CompareConfig, t: &Target, rate: Option<f64>) -> RunSpec {
    RunSpec {
        target: t.clone(),
        method: "GET".into(),
        headers: Vec::new(),
        body: Vec::new(),
        rate,
        connections: cfg.connections,
        duration: cfg.duration(),
        warmup: cfg.warmup(),
        threads: cfg.load_cpus.len().max(1),
        cpus: cfg.load_cpus.clone(),
        timeout: Duration::from_secs(5),
        tls: crate::tls::TlsOpts::default(),
        conn_per_request: false,
        server_pid: None,
        progress: false,
    }
}

/// Warms up (discarded), then runs `s` without warm-up, sampling `pid`'s CPU
/// exactly around the measured window; returns the result and the CPU seconds.
fn measured(
    s: &RunSpec,
    pid: Option<u32>,
) -> std::io::Result<(crate::run::RunResult, Option<f64>)> {
    if !s.warmup.is_zero() {
        let warm = RunSpec {
            duration: s.warmup,
            warmup: Duration::ZERO,
            ..s.clone()
        };
        execute(&warm)?;
    }
    let cold = RunSpec {
        warmup: Duration::ZERO,
        ..s.clone()
    };
    let before = pid.map(procs::cpu_seconds);
    let r = execute(&cold)?;
    let cpu = pid.zip(before).map(|(p, b)| procs::cpu_seconds(p) - b);
    Ok((r, cpu))
}

/// Max throughput (closed loop) of `t`, with `pid`'s CPU per request.
pub(super) fn max_run(cfg: &CompareConfig, t: &Target, pid: Option<u32>) -> MaxRun {
    match measured(&spec(cfg, t, None), pid) {
        Ok((r, cpu)) => MaxRun {
            rps: figures(&r).throughput_rps,
            cpu_us_per_req: cpu.map(|c| c * 1e6 / (r.rec.responses as f64).max(1.0)),
            latency_us: Percentiles::of(&r.rec.latency),
            validity: check(&r, None, cfg.max_send_delay_us),
        },
        Err(e) => MaxRun {
            rps: 0.0,
            cpu_us_per_req: None,
            latency_us: Percentiles::of(&histogram()),
            validity: failed_validity(e.to_string()),
        },
    }
}

fn failed_validity(why: String) -> crate::validity::Validity {
    crate::validity::Validity {
        valid: false,
        target_rate: None,
        achieved_rate: 0.0,
        rate_ok: None,
        send_delay_p99_us: 0.0,
        send_delay_bound_us: 0.0,
        send_delay_ok: false,
        loadgen_cpu: 0.0,
        cpu_ok: false,
        errors: 0,
        errors_ok: false,
        tls_handshakes_ok: None,
        failures: vec![why],
    }
}

/// The proxy under test: where to send load and whose CPU to read.
#[derive(Clone, Copy)]
pub(super) struct Via<'a> {
    /// Its URL.
    pub target: &'a Target,
    /// Its pid (the tree below it is included).
    pub pid: u32,
}

/// `cfg.rounds` direct/via pairs at `rate`; the via histogram is returned for plots.
pub(super) fn rate_runs(
    cfg: &CompareConfig,
    rate: f64,
    direct: &Target,
    via: Via<'_>,
    up: SocketAddr,
    reuse: &mut Reuse,
    dh: &mut Histogram<u64>,
) -> (RateRun, Histogram<u64>) {
    let mut vh = histogram();
    let mut rounds = Vec::new();
    let mut cpus = Vec::new();
    let mut failures = Vec::new();
    for round in 1..=cfg.rounds {
        let d = measured(&spec(cfg, direct, Some(rate)), None);
        let before = upstream_stats(up);
        let v = measured(&spec(cfg, via.target, Some(rate)), Some(via.pid));
        add_reuse(reuse, before, upstream_stats(up));
        let (Ok((d, _)), Ok((v, cpu))) = (d, v) else {
            failures.push(format!("round {round}: a run could not start"));
            continue;
        };
        let _ = dh.add(&d.rec.latency);
        let _ = vh.add(&v.rec.latency);
        if let Some(c) = cpu {
            cpus.push(c * 1e6 / (v.rec.responses as f64).max(1.0));
        }
        let ds = Side {
            result: figures(&d),
            validity: check(&d, Some(rate), cfg.max_send_delay_us),
        };
        let vs = Side {
            result: figures(&v),
            validity: check(&v, Some(rate), cfg.max_send_delay_us),
        };
        for (name, s) in [("direct", &ds), ("via", &vs)] {
            if !s.validity.valid {
                failures.push(format!(
                    "round {round} {name}: {}",
                    s.validity.failures.join("; ")
                ));
            }
        }
        rounds.push((ds, vs));
    }
    let run = RateRun {
        rate,
        status: "measured".into(),
        added: summarise(&rounds),
        cpu_us_per_req: (!cpus.is_empty()).then(|| median(&cpus)),
        valid: failures.is_empty(),
        failures,
    };
    (run, vh)
}

/// RSS of `pid`'s tree before and with `cfg.idle_connections` idle connections to `t`.
pub(super) fn idle_mem(cfg: &CompareConfig, t: &Target, pid: u32) -> IdleMem {
    let before = procs::rss_kib(pid);
    let n = cfg.idle_connections;
    match Idle::open(t.addr, &t.authority, &t.path, n) {
        Ok(idle) => {
            std::thread::sleep(Duration::from_millis(200));
            let after = procs::rss_kib(pid);
            let per = (after as f64 - before as f64) * 1024.0 / idle.len().max(1) as f64;
            drop(idle);
            IdleMem {
                connections: n,
                rss_before_kib: before,
                rss_idle_kib: after,
                bytes_per_connection: per,
                error: None,
            }
        }
        Err(e) => IdleMem {
            connections: n,
            rss_before_kib: before,
            rss_idle_kib: 0,
            bytes_per_connection: 0.0,
            error: Some(e),
        },
    }
}

/// Adds the upstream counter deltas of one run (minus the stats probe's own connection).
pub(super) fn add_reuse(r: &mut Reuse, before: Option<(u64, u64)>, after: Option<(u64, u64)>) {
    if let (Some(b), Some(a)) = (before, after) {
        // The stats request itself opens one connection, not forwarded by the proxy.
        r.connections += a.0.saturating_sub(b.0).saturating_sub(1);
        r.requests += a.1.saturating_sub(b.1);
    }
}

/// Computes requests per connection.
pub(super) fn finish_reuse(r: &Reuse) -> Reuse {
    Reuse {
        requests_per_connection: r.requests as f64 / r.connections.max(1) as f64,
        ..r.clone()
    }
}
