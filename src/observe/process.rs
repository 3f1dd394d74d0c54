//! Process-level metrics for `/metrics`: resident memory, open and allowed
//! descriptors, CPU time, start time and uptime (Prometheus' standard
//! `process_*` names), the shard count, the configuration's generation and
//! load time, and the build (`ringway_build_info`).
//!
//! Owns: reading and parsing `/proc` for them, and the configuration gauges
//! the control plane sets. Must never: run on a shard (it reads files; only
//! the admin thread calls `render`, at scrape time).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::prom;

/// The version of this build.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The commit it was built from (`build.rs`; `unknown` outside a git checkout).
pub const GIT_SHA: &str = env!("RINGWAY_GIT_SHA");

/// The configuration in effect: which generation each shard runs, how long
/// the latest took to load and when it was loaded, and how many reloads
/// succeeded and failed. Written by the control plane (and each shard's
/// generation by that shard, when it switches), read at scrape time.
#[derive(Default)]
pub struct ConfigState {
    load_ns: AtomicU64,
    loaded_at_ns: AtomicU64,
    reloads: AtomicU64,
    failures: AtomicU64,
    shards: Box<[AtomicU64]>,
}

impl ConfigState {
    /// Gauges for `shards` shards, none loaded yet.
    pub fn new(shards: usize) -> ConfigState {
        ConfigState {
            shards: (0..shards).map(|_| AtomicU64::new(0)).collect(),
            ..ConfigState::default()
        }
    }

    /// Generation `generation` (the first is 1), which took `load` to read
    /// and compile, is published.
    pub fn loaded(&self, generation: u64, load: Duration, at: SystemTime) {
        let at = at.duration_since(UNIX_EPOCH).unwrap_or_default();
        self.load_ns.store(nanos(load), Relaxed);
        self.loaded_at_ns.store(nanos(at), Relaxed);
        if generation > 1 {
            self.reloads.fetch_add(1, Relaxed);
        }
    }

    /// A reload was refused (the file did not load); nothing changed.
    pub fn failed(&self) {
        self.failures.fetch_add(1, Relaxed);
    }

    /// Shard `shard` now runs generation `generation`.
    pub fn shard_runs(&self, shard: usize, generation: u64) {
        if let Some(g) = self.shards.get(shard) {
            g.store(generation, Relaxed);
        }
    }

    /// The generation each shard runs (0: not started yet).
    pub fn shard_generations(&self) -> Vec<u64> {
        self.shards.iter().map(|g| g.load(Relaxed)).collect()
    }

    /// Reloads that failed.
    pub fn failures(&self) -> u64 {
        self.failures.load(Relaxed)
    }
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos().min(u128::from(u64::MAX)) as u64
}

/// What `/proc` says about this process, in the units it uses.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcStats {
    /// User plus system CPU time, in clock ticks.
    pub cpu_ticks: u64,
    /// Start, in clock ticks after boot.
    pub start_ticks: u64,
    /// Virtual memory size in bytes.
    pub vsize: u64,
    /// Resident set in pages.
    pub rss_pages: u64,
    /// Seconds since boot, now.
    pub uptime: f64,
    /// Boot time, seconds since the Unix epoch.
    pub btime: u64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// The soft limit on open descriptors.
    pub max_fds: Option<u64>,
}

/// Fields of `/proc/self/stat`: (utime + stime, starttime, vsize, rss).
/// The command name in parentheses may hold spaces and parentheses, so
/// fields are counted after its last `)`.
fn parse_stat(s: &str) -> Option<(u64, u64, u64, u64)> {
    let rest = &s[s.rfind(')')? + 1..];
    // After the name: field 3 (state) is index 0, so field N is N - 3.
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |n: usize| f.get(n - 3)?.parse::<u64>().ok();
    Some((num(14)? + num(15)?, num(22)?, num(23)?, num(24)?))
}

/// `btime` of `/proc/stat`.
fn parse_btime(s: &str) -> Option<u64> {
    s.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The soft `Max open files` of `/proc/self/limits` (`None`: unlimited).
fn parse_max_fds(s: &str) -> Option<u64> {
    let l = s.lines().find(|l| l.starts_with("Max open files"))?;
    l["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

impl ProcStats {
    /// Reads them now; `None` when `/proc` cannot be read.
    pub fn read() -> Option<ProcStats> {
        let rd = |p: &str| std::fs::read_to_string(p).ok();
        let (cpu_ticks, start_ticks, vsize, rss_pages) = parse_stat(&rd("/proc/self/stat")?)?;
        let uptime = rd("/proc/uptime")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        // The listing's own descriptor is one of the entries.
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()?
            .count()
            .saturating_sub(1) as u64;
        Some(ProcStats {
            cpu_ticks,
            start_ticks,
            vsize,
            rss_pages,
            uptime,
            btime: parse_btime(&rd("/proc/stat")?)?,
            open_fds,
            max_fds: rd("/proc/self/limits").as_deref().and_then(parse_max_fds),
        })
    }

    /// The `process_*` families and `ringway_uptime_seconds`, given the
    /// clock-tick rate and the page size.
    fn render(&self, out: &mut String, ticks_per_s: f64, page: u64) {
        let started = self.start_ticks as f64 / ticks_per_s;
        gauge(
            out,
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            self.rss_pages * page,
        );
        gauge(
            out,
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            self.vsize,
        );
        gauge(
            out,
            "process_open_fds",
            "Number of open file descriptors.",
            self.open_fds,
        );
        if let Some(max) = self.max_fds {
            gauge(
                out,
                "process_max_fds",
                "Maximum number of open file descriptors.",
                max,
            );
        }
        let cpu = self.cpu_ticks as f64 / ticks_per_s;
        one(
            out,
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            cpu,
        );
        let start = self.btime as f64 + started;
        gauge(
            out,
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            start,
        );
        // From the boot clock, not the wall clock: a clock step does not move it.
        let up = (self.uptime - started).max(0.0);
        gauge(
            out,
            "ringway_uptime_seconds",
            "Seconds since the process started.",
            up,
        );
    }
}

/// Appends the process families (when `/proc` is readable), the shard
/// count, the configuration gauges and the build info.
pub fn render(out: &mut String, shards: usize, config: &ConfigState) {
    if let Some(p) = ProcStats::read() {
        p.render(
            out,
            sysconf(libc::_SC_CLK_TCK, 100) as f64,
            sysconf(libc::_SC_PAGESIZE, 4096),
        );
    }
    gauge(
        out,
        "ringway_shards",
        "Shards (pinned worker threads) serving requests.",
        shards,
    );
    render_config(out, config);
    let _ = writeln!(
        out,
        "# HELP ringway_build_info The version and git commit of this build; the value is always 1.\n# TYPE ringway_build_info gauge\nringway_build_info{{version=\"{}\",git_sha=\"{}\"}} 1",
        prom::escape(VERSION),
        prom::escape(GIT_SHA),
    );
}

fn render_config(out: &mut String, c: &ConfigState) {
    let secs = |v: &AtomicU64| {
        let mut s = String::new();
        prom::push_secs(&mut s, v.load(Relaxed));
        s
    };
    let _ = writeln!(out, "# HELP ringway_config_generation The configuration generation each shard runs (1: the file read at start; each successful reload adds 1).\n# TYPE ringway_config_generation gauge");
    for (i, g) in c.shards.iter().enumerate() {
        let _ = writeln!(
            out,
            "ringway_config_generation{{shard=\"{i}\"}} {}",
            g.load(Relaxed)
        );
    }
    one(
        out,
        "ringway_config_reloads_total",
        "counter",
        "Reloads that published a new configuration generation.",
        c.reloads.load(Relaxed),
    );
    one(
        out,
        "ringway_config_reload_failures_total",
        "counter",
        "Reloads refused because the file did not load (nothing changed).",
        c.failures.load(Relaxed),
    );
    gauge(
        out,
        "ringway_config_load_seconds",
        "Time taken to read, parse and compile the configuration in effect.",
        secs(&c.load_ns),
    );
    gauge(
        out,
        "ringway_config_load_timestamp_seconds",
        "When the configuration in effect was loaded, since unix epoch in seconds.",
        secs(&c.loaded_at_ns),
    );
}

fn gauge(out: &mut String, name: &str, help: &str, v: impl std::fmt::Display) {
    one(out, name, "gauge", help, v);
}

fn one(out: &mut String, name: &str, kind: &str, help: &str, v: impl std::fmt::Display) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
    );
}

/// `sysconf(name)`, or `default` when the system does not say.
fn sysconf(name: libc::c_int, default: u64) -> u64 {
    // SAFETY: sysconf takes no pointer and has no precondition.
    let v = unsafe { libc::sysconf(name) };
    u64::try_from(v).ok().filter(|&v| v > 0).unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_count_from_the_last_parenthesis() {
        let s = "42 (odd) name) S 1 1 1 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 9 0 3718723 3133440 382 18446744073709551615 0";
        assert_eq!(parse_stat(s), Some((300, 3718723, 3133440, 382)));
        assert_eq!(parse_stat("42 (x) S 1"), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn btime_and_open_file_limit() {
        assert_eq!(
            parse_btime("cpu 1 2 3\nbtime 1796476964\nprocesses 5\n"),
            Some(1796476964)
        );
        assert_eq!(parse_btime("cpu 1\n"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \nMax open files            20000                40000                files     \n";
        assert_eq!(parse_max_fds(limits), Some(20000));
        assert_eq!(
            parse_max_fds(
                "Max open files            unlimited            unlimited            files\n"
            ),
            None
        );
    }

    #[test]
    fn renders_times_from_ticks_and_the_boot_clock() {
        let p = ProcStats {
            cpu_ticks: 250,
            start_ticks: 1000,
            vsize: 1 << 30,
            rss_pages: 10,
            uptime: 110.5,
            btime: 1_700_000_000,
            open_fds: 7,
            max_fds: Some(1024),
        };
        let mut out = String::new();
        p.render(&mut out, 100.0, 4096);
        for want in [
            "process_resident_memory_bytes 40960\n",
            "process_virtual_memory_bytes 1073741824\n",
            "process_open_fds 7\n",
            "process_max_fds 1024\n",
            "process_cpu_seconds_total 2.5\n",
            "process_start_time_seconds 1700000010\n",
            "ringway_uptime_seconds 100.5\n",
            "# TYPE process_cpu_seconds_total counter\n",
        ] {
            assert!(out.contains(want), "{want:?} missing:\n{out}");
        }
    }

    #[test]
    fn config_gauges_count_generations() {
        let c = ConfigState::new(2);
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
        c.loaded(1, Duration::from_micros(1500), at);
        c.shard_runs(0, 1);
        c.shard_runs(1, 1);
        let mut out = String::new();
        render_config(&mut out, &c);
        assert!(
            out.contains("ringway_config_generation{shard=\"0\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("ringway_config_generation{shard=\"1\"} 1\n"),
            "{out}"
        );
        assert!(out.contains("ringway_config_reloads_total 0\n"), "{out}");
        assert!(
            out.contains("ringway_config_load_seconds 0.0015\n"),
            "{out}"
        );
        assert!(
            out.contains("ringway_config_load_timestamp_seconds 1700000000.25\n"),
            "{out}"
        );
        c.failed();
        c.loaded(2, Duration::ZERO, at);
        c.shard_runs(1, 2);
        out.clear();
        render_config(&mut out, &c);
        assert!(
            out.contains("ringway_config_generation{shard=\"0\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("ringway_config_generation{shard=\"1\"} 2\n"),
            "{out}"
        );
        assert!(out.contains("ringway_config_reloads_total 1\n"), "{out}");
        assert!(
            out.contains("ringway_config_reload_failures_total 1\n"),
            "{out}"
        );
    }

    #[test]
    fn this_process_reads_sanely() {
        let p = ProcStats::read().expect("/proc readable");
        assert!(p.rss_pages > 0 && p.open_fds >= 3 && p.btime > 0, "{p:?}");
        assert!(p.uptime * 100.0 >= p.start_ticks as f64, "{p:?}");
    }
}
