//! The command line: subcommands, flags, and their parsing into plain values.
//!
//! Only shape and syntax live here; what the values mean belongs to the module
//! that uses them. It must never start load itself.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// ringway's bundled load generator and reference upstream.
#[derive(Parser, Debug)]
#[command(name = "ringway-loadgen", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Send load to one URL and report latency percentiles.
    Run(RunArgs),
    /// Serve fixed responses: the reference upstream and "direct" baseline.
    Serve(ServeArgs),
    /// Measure the latency a proxy adds: direct and via-proxy runs interleaved.
    Added(AddedArgs),
    /// Compare ringway, nginx, HAProxy and Envoy side by side.
    Compare(CompareArgs),
}

/// Load shape and client options shared by `run` and `added`.
#[derive(Args, Debug, Clone)]
pub struct LoadArgs {
    /// Requests per second in total (open loop); omit for max throughput (closed loop).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Connections in total.
    #[arg(long, short = 'c', default_value_t = 16)]
    pub connections: usize,
    /// Measured duration (e.g. 10s, 500ms, 1m).
    #[arg(long, short = 'd', default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Warm-up before measuring; its samples are discarded.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Load threads (each its own monoio runtime).
    #[arg(long, short = 't', default_value_t = 1)]
    pub threads: usize,
    /// Pin load threads to these CPUs, round robin (e.g. 1 or 0,1).
    #[arg(long, value_delimiter = ',')]
    pub cpus: Vec<usize>,
    /// Request method.
    #[arg(long, short = 'm', default_value = "GET")]
    pub method: String,
    /// Extra request header, `K:V`; repeatable.
    #[arg(long = "header", short = 'H', value_parser = parse_header)]
    pub headers: Vec<(String, String)>,
    /// Request body read from this file.
    #[arg(long)]
    pub body_file: Option<PathBuf>,
    /// Per-request timeout.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Bound on the send-delay p99 for a valid open-loop run, in µs.
    #[arg(long, default_value_t = 500.0)]
    pub max_send_delay_us: f64,
    /// Skip TLS certificate verification for https:// targets.
    #[arg(long, conflicts_with = "ca")]
    pub insecure: bool,
    /// Trust only the CA certificates in this PEM file (instead of the webpki roots).
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// Resume TLS sessions (tickets or session IDs) across connections;
    /// without it every TLS handshake is a full one.
    #[arg(long)]
    pub tls_resume: bool,
    /// TLS versions offered: any (1.3 and 1.2), 1.2 or 1.3.
    #[arg(long, value_enum, default_value_t = crate::tls::TlsVersion::Any)]
    pub tls_version: crate::tls::TlsVersion,
    /// One request per connection: each request says `connection: close`
    /// and goes over a new connection (with TLS, a new handshake).
    #[arg(long)]
    pub conn_per_request: bool,
    /// Allow targets outside loopback.
    #[arg(long)]
    pub allow_remote: bool,
}

/// `run` flags.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Target URL (http:// or https://).
    pub url: String,
    #[command(flatten)]
    /// Load shape.
    pub load: LoadArgs,
    /// Require TLS (the URL must be https://).
    #[arg(long)]
    pub tls: bool,
    /// Write the full JSON report here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the latency percentile distribution (.hgrm) here.
    #[arg(long)]
    pub hgrm: Option<PathBuf>,
    /// Measure this server process's CPU time (it and its descendants, all
    /// threads) over exactly the measured window, per response and per
    /// connection.
    #[arg(long)]
    pub server_pid: Option<u32>,
}

/// `serve` flags.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:18000")]
    pub listen: String,
    /// Response body size in bytes (13 = "hello, world\n").
    #[arg(long, default_value_t = 13)]
    pub body_size: usize,
    /// Wait this many µs before each response.
    #[arg(long, default_value_t = 0)]
    pub delay_us: u64,
    /// Send the body with chunked transfer coding.
    #[arg(long)]
    pub chunked: bool,
    /// Worker threads (SO_REUSEPORT listeners).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Pin worker threads to these CPUs, round robin.
    #[arg(long, value_delimiter = ',')]
    pub cpus: Vec<usize>,
    /// Stall: every N-th request (per thread) waits `--stall-ms` first; 0 disables.
    #[arg(long, default_value_t = 0)]
    pub stall_every: u64,
    /// Stall length in ms.
    #[arg(long, default_value_t = 0)]
    pub stall_ms: u64,
}

/// `added` flags.
#[derive(Args, Debug)]
pub struct AddedArgs {
    /// URL of the upstream, reached directly.
    #[arg(long)]
    pub direct: String,
    /// URL of the same upstream through the proxy.
    #[arg(long)]
    pub via: String,
    #[command(flatten)]
    /// Load shape (a `--rate` is required).
    pub load: LoadArgs,
    /// Rounds of direct-then-via.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Write the JSON report here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// `compare` flags.
#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The comparison definition.
    #[arg(long, default_value = "bench/compare.toml")]
    pub config: PathBuf,
    /// Only these proxies (comma separated names from the config).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Override the measured duration of every run.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Override the number of latency rounds.
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Override the output directory (default bench/results/<date>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Skip the idle-connections RSS measurement.
    #[arg(long)]
    pub no_idle: bool,
}

/// Parses `10s`, `500ms`, `250us`, `2m` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s}: not a duration (try 10s, 500ms, 2m)"))?;
    if !(n.is_finite() && n >= 0.0) {
        return Err(format!("{s}: a duration must be a non-negative number"));
    }
    let secs = match unit {
        "us" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("{s}: unknown unit {unit} (us, ms, s, m)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

/// Parses `K:V` into a header pair.
pub fn parse_header(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once(':')
        .ok_or_else(|| format!("{s}: a header is K:V"))?;
    let k = k.trim();
    if k.is_empty()
        || !k
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    {
        return Err(format!("{s}: invalid header name"));
    }
    if v.bytes().any(|b| b == b'\r' || b == b'\n') {
        return Err(format!("{s}: header value contains CR or LF"));
    }
    Ok((k.to_string(), v.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_headers() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(
            parse_duration("x").is_err()
                && parse_duration("5h").is_err()
                && parse_duration("-1s").is_err()
        );
        assert_eq!(parse_header("x-a: b"), Ok(("x-a".into(), "b".into())));
        assert!(parse_header("nocolon").is_err() && parse_header("a b: c").is_err());
    }
}
