//! Where and how a result was produced: machine, versions, pinning, command.
//!
//! Read once per report from /proc and git; it must never run on a hot path.

use serde::{Deserialize, Serialize};

/// The `meta` block of every JSON report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Meta {
    /// UTC time the report was written, RFC 3339.
    pub time: String,
    /// `git rev-parse HEAD` of the working directory, if any.
    pub git_sha: Option<String>,
    /// This tool's version.
    pub loadgen_version: String,
    /// `uname -r`.
    pub kernel: String,
    /// The first `model name` in /proc/cpuinfo.
    pub cpu_model: String,
    /// CPUs online.
    pub cores: usize,
    /// Load average when the report was written.
    pub loadavg: String,
    /// Pinning of the load threads (and of the processes a comparison starts).
    pub pinning: String,
    /// The command line.
    pub command: String,
    /// `io_uring` or `epoll`.
    pub io: String,
}

/// Collects the metadata for a result.
pub fn collect(pinning: String, uring: bool) -> Meta {
    Meta {
        time: utc_now(),
        git_sha: git_sha(),
        loadgen_version: env!("CARGO_PKG_VERSION").to_string(),
        kernel: read_trim("/proc/sys/kernel/osrelease"),
        cpu_model: std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into()),
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        loadavg: read_trim("/proc/loadavg"),
        pinning,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        io: if uring { "io_uring" } else { "epoll" }.into(),
    }
}

fn read_trim(p: &str) -> String {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

fn git_sha() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
