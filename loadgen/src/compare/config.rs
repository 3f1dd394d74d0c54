//! The comparison definition (`bench/compare.toml`): which proxies, how they
//! are started, where everything is pinned, and the load shape.
//!
//! Plain serde structs with defaults; it must never start a process.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cli::parse_duration;

/// The whole comparison.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompareConfig {
    /// Measured duration of each run, e.g. "5s".
    pub duration: String,
    /// Warm-up before each run (discarded).
    pub warmup: String,
    /// Interleaved rounds (direct, via) per proxy and rate.
    pub rounds: usize,
    /// Client connections for every run.
    pub connections: usize,
    /// Fixed rates for latency, requests/s.
    pub rates: Vec<f64>,
    /// Also measure at this fraction of nginx's max throughput.
    pub nginx_fraction: Option<f64>,
    /// Also measure each proxy at this fraction of its own max throughput
    /// (paired with direct runs at that rate): every proxy equally loaded,
    /// which a common rate cannot give when their maxima differ.
    #[serde(default)]
    pub own_fraction: Option<f64>,
    /// A rate above this fraction of a proxy's own max is not measured (saturation).
    pub knee_fraction: f64,
    /// Idle keep-alive connections held open for the RSS figure.
    pub idle_connections: usize,
    /// CPUs every proxy is pinned to (taskset).
    pub proxy_cpus: Vec<usize>,
    /// CPUs of the load threads.
    pub load_cpus: Vec<usize>,
    /// CPUs kept awake by idle-priority spinners during the fixed-rate runs
    /// (see `awake`); empty: none.
    #[serde(default)]
    pub keep_awake_cpus: Vec<usize>,
    /// Send-delay p99 bound for a valid run, µs.
    pub max_send_delay_us: f64,
    /// Nice value for everything measured (proxies, upstream, load threads),
    /// equal for all; negative values need root.
    #[serde(default)]
    pub nice: Option<i32>,
    /// Output directory; `<date>` is replaced by the UTC date and time.
    pub out_dir: String,
    /// The reference upstream.
    pub upstream: UpstreamConfig,
    /// The proxies, in the order they are reported.
    pub proxy: Vec<ProxyConfig>,
}

/// The `serve` process every proxy forwards to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Listen address; the proxies' configs point here.
    pub listen: String,
    /// Response body bytes.
    pub body_size: usize,
    /// CPUs of its threads.
    pub cpus: Vec<usize>,
}

/// One proxy under test.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// Name in the report.
    pub name: String,
    /// URL the load is sent to.
    pub url: String,
    /// Command line; `{tmp}` becomes a scratch directory, `{root}` the repository root.
    pub command: Vec<String>,
    /// Command printing the version (stdout or stderr).
    pub version: Vec<String>,
    /// Optional command run once before starting (e.g. a cargo build).
    #[serde(default)]
    pub build: Vec<String>,
}

impl CompareConfig {
    /// Reads and checks `path`; errors name the file and the key.
    pub fn load(path: &Path) -> Result<CompareConfig, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let c: CompareConfig =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let p = path.display();
        parse_duration(&c.duration).map_err(|e| format!("{p}: duration: {e}"))?;
        parse_duration(&c.warmup).map_err(|e| format!("{p}: warmup: {e}"))?;
        if c.rounds == 0 || c.connections == 0 {
            return Err(format!("{p}: rounds and connections must be at least 1"));
        }
        if !(0.0..=1.0).contains(&c.knee_fraction) {
            return Err(format!("{p}: knee_fraction: must be between 0 and 1"));
        }
        for (key, f) in [
            ("nginx_fraction", c.nginx_fraction),
            ("own_fraction", c.own_fraction),
        ] {
            if f.is_some_and(|f| !(f > 0.0 && f <= 1.0)) {
                return Err(format!("{p}: {key}: must be above 0 and at most 1"));
            }
        }
        if c.proxy
            .iter()
            .any(|x| x.command.is_empty() || x.version.is_empty())
        {
            return Err(format!("{p}: proxy: command and version must not be empty"));
        }
        Ok(c)
    }

    /// The measured duration.
    pub fn duration(&self) -> Duration {
        parse_duration(&self.duration).unwrap_or(Duration::from_secs(5))
    }

    /// The warm-up.
    pub fn warmup(&self) -> Duration {
        parse_duration(&self.warmup).unwrap_or(Duration::from_secs(1))
    }

    /// The rate at `own_fraction` of a proxy whose max is `max_rps`, rounded
    /// to 100 req/s like the nginx-fraction rate; `None` when not configured
    /// or the max is unknown (zero).
    pub fn own_rate(&self, max_rps: f64) -> Option<f64> {
        let r = fraction_rate(self.own_fraction?, max_rps);
        (r > 0.0).then_some(r)
    }
}

/// `fraction` × `max_rps`, rounded to a multiple of 100 req/s so that reports
/// show round rates and equal fractions of equal maxima share one rate.
pub fn fraction_rate(fraction: f64, max_rps: f64) -> f64 {
    (max_rps * fraction / 100.0).round() * 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_in_comparisons_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let full = CompareConfig::load(&root.join("bench/compare.toml")).unwrap();
        let names: Vec<&str> = full.proxy.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["ringway", "nginx", "haproxy", "envoy"]);
        assert!(full.knee_fraction <= 0.8 && full.idle_connections >= 8_000);
        assert_eq!(full.own_fraction, Some(0.5));
        let smoke = CompareConfig::load(&root.join("bench/compare-smoke.toml")).unwrap();
        assert_eq!(smoke.proxy.len(), 1);
        assert!(smoke.duration() <= Duration::from_secs(2));
    }

    #[test]
    fn errors_name_the_file_and_key() {
        let dir = std::env::temp_dir().join(format!("lg-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("bad.toml");
        let base = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/compare-smoke.toml"),
        )
        .unwrap();
        std::fs::write(&p, base.replace("duration = \"1s\"", "duration = \"1h\"")).unwrap();
        let e = CompareConfig::load(&p).unwrap_err();
        assert!(e.contains("bad.toml") && e.contains("duration"), "{e}");
        std::fs::write(&p, base.replace("rounds = 1", "rounds = 1\nbogus = 2")).unwrap();
        let e = CompareConfig::load(&p).unwrap_err();
        assert!(e.contains("bogus"), "{e}");
        for bad in ["0.0", "1.5", "-0.5"] {
            std::fs::write(
                &p,
                base.replace("rounds = 1", &format!("rounds = 1\nown_fraction = {bad}")),
            )
            .unwrap();
            let e = CompareConfig::load(&p).unwrap_err();
            assert!(
                e.contains("bad.toml") && e.contains("own_fraction"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn own_rate_is_the_fraction_of_that_proxys_max_rounded_to_100() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut c = CompareConfig::load(&root.join("bench/compare-smoke.toml")).unwrap();
        assert_eq!(c.own_fraction, None, "absent key: off");
        assert_eq!(c.own_rate(41_572.0), None);
        c.own_fraction = Some(0.5);
        assert_eq!(c.own_rate(41_572.0), Some(20_800.0));
        assert_eq!(c.own_rate(10_496.0), Some(5_200.0));
        assert_eq!(c.own_rate(0.0), None, "a failed max run gives no rate");
        assert_eq!(c.own_rate(90.0), None, "rounds to zero: nothing to measure");
    }
}
