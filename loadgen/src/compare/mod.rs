//! `compare`: ringway against nginx, HAProxy and Envoy on one machine, in one
//! run, each pinned to the same cores with one worker, all forwarding to the
//! same reference upstream (`serve`).
//!
//! Per proxy: max throughput (closed loop) with the proxy's CPU time per
//! request from /proc, latency added at fixed rates below the knee (direct and
//! via interleaved), upstream connection reuse, and RSS with idle keep-alive
//! connections open. A proxy that is not installed is reported as skipped,
//! never dropped. It must never quote latency measured at saturation.

pub mod awake;
pub mod config;
pub mod idle;
pub mod markdown;
pub mod phases;
pub mod plot;
pub mod probe;
pub mod procs;
pub mod session;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::added::AddedRow;
use crate::cli::CompareArgs;
use crate::stats::Percentiles;
use crate::validity::Validity;
use config::CompareConfig;

/// Max-throughput figures of one target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MaxRun {
    /// Responses per second.
    pub rps: f64,
    /// Proxy CPU time per request, µs (absent for the direct baseline's own process).
    pub cpu_us_per_req: Option<f64>,
    /// Latency at saturation: reported for completeness, never compared.
    pub latency_us: Percentiles,
    /// Checks of the run.
    pub validity: Validity,
}

/// Latency added at one fixed rate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RateRun {
    /// Requests/s.
    pub rate: f64,
    /// `measured`, or why not (above the knee).
    pub status: String,
    /// Added latency per percentile (median over rounds, min–max spread).
    pub added: Vec<AddedRow>,
    /// Median proxy CPU per request over the via runs, µs.
    pub cpu_us_per_req: Option<f64>,
    /// Every run at this rate (both sides) valid.
    pub valid: bool,
    /// What failed, per run.
    pub failures: Vec<String>,
}

/// Upstream connections the proxy opened against the requests it forwarded.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Reuse {
    /// New upstream connections during the proxy's runs.
    pub connections: u64,
    /// Requests the upstream answered for it.
    pub requests: u64,
    /// Requests per upstream connection.
    pub requests_per_connection: f64,
}

/// Memory with idle keep-alive connections open.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdleMem {
    /// Connections held open.
    pub connections: usize,
    /// RSS before opening them, KiB.
    pub rss_before_kib: u64,
    /// RSS with them open, KiB.
    pub rss_idle_kib: u64,
    /// (idle − before) / connections, bytes.
    pub bytes_per_connection: f64,
    /// Why it could not be measured, if so.
    pub error: Option<String>,
}

/// Everything measured for one proxy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProxyReport {
    /// Name.
    pub name: String,
    /// `measured`, `skipped` or `failed`.
    pub status: String,
    /// Why skipped or failed.
    pub reason: Option<String>,
    /// Version line.
    pub version: Option<String>,
    /// Command line it ran with.
    pub command: String,
    /// Max throughput.
    pub max: Option<MaxRun>,
    /// Fixed-rate latency.
    pub rates: Vec<RateRun>,
    /// Latency added at `own_fraction` of this proxy's own max (its `rate`
    /// says which); absent when not configured or the max run failed.
    #[serde(default)]
    pub own_rate: Option<RateRun>,
    /// Upstream connection reuse.
    pub upstream: Option<Reuse>,
    /// Idle memory.
    pub idle: Option<IdleMem>,
}

/// `report.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompareReport {
    /// Always `ringway-loadgen/compare`.
    pub schema: String,
    /// Schema version.
    pub version: u32,
    /// Machine, versions, command.
    pub meta: crate::meta::Meta,
    /// Load average before the first run.
    pub loadavg_before: String,
    /// CPU steal (hypervisor) over the whole comparison, percent of all CPUs.
    pub steal_pct: f64,
    /// The definition it ran.
    pub config: CompareConfig,
    /// The upstream alone, closed loop.
    pub direct_max: Option<MaxRun>,
    /// The fixed rates used (configured plus the nginx fraction).
    pub rates: Vec<f64>,
    /// Per proxy, in config order.
    pub proxies: Vec<ProxyReport>,
    /// SVG files written, relative to the report.
    pub plots: Vec<String>,
    /// Every measured run valid.
    pub valid: bool,
}

/// The `compare` command.
pub fn command(a: &CompareArgs) -> Result<i32, Box<dyn std::error::Error>> {
    let mut cfg = CompareConfig::load(&a.config).map_err(|e| Box::new(crate::spec::Refused(e)))?;
    if let Some(d) = a.duration {
        cfg.duration = format!("{}ms", d.as_millis());
    }
    if let Some(r) = a.rounds {
        cfg.rounds = r.max(1);
    }
    if a.no_idle {
        cfg.idle_connections = 0;
    }
    for name in &a.only {
        if !cfg.proxy.iter().any(|p| &p.name == name) {
            return Err(Box::new(crate::spec::Refused(format!(
                "--only {name}: no such proxy in {}",
                a.config.display()
            ))));
        }
    }
    let out = a.out.clone().unwrap_or_else(|| default_out(&cfg.out_dir));
    std::fs::create_dir_all(&out)?;
    let report = session::run(&cfg, &a.only, &out)?;
    std::fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    let md = markdown::render(&report);
    std::fs::write(out.join("report.md"), &md)?;
    print!("{md}");
    println!("\nwritten: {}", out.join("report.md").display());
    Ok(if report.valid { 0 } else { 3 })
}

fn default_out(pattern: &str) -> PathBuf {
    let now = crate::meta::utc_now();
    let stamp = format!("{}-{}{}", &now[..10], &now[11..13], &now[14..16]);
    Path::new(&pattern.replace("<date>", &stamp)).to_path_buf()
}
