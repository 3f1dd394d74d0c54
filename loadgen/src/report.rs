//! Turning a run into what people read: the table on stdout, the versioned
//! JSON document, and the HdrHistogram percentile distribution (`.hgrm`).
//!
//! It must never print a number without the validity verdict next to it.

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::meta::Meta;
use crate::run::{RunResult, RunSpec};
use crate::stats::{Errors, Percentiles};
use crate::validity::Validity;

/// Version of the JSON document; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// The run parameters as recorded in the JSON.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunConfig {
    /// Target URL.
    pub url: String,
    /// Method.
    pub method: String,
    /// Target rate, requests/s; absent for the closed loop.
    pub rate: Option<f64>,
    /// `open` or `closed`.
    pub mode: String,
    /// Connections.
    pub connections: usize,
    /// Load threads.
    pub threads: usize,
    /// Measured seconds.
    pub duration_s: f64,
    /// Warm-up seconds (discarded).
    pub warmup_s: f64,
    /// Per-request timeout, seconds.
    pub timeout_s: f64,
}

/// The measured figures.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Figures {
    /// Requests sent in the measured window.
    pub requests: u64,
    /// Responses completed (any status).
    pub responses: u64,
    /// Open-loop slots never sent before the end.
    pub missed: u64,
    /// Responses per second of the measured window.
    pub throughput_rps: f64,
    /// Connections opened.
    pub connects: u64,
    /// Connections the server ended (`connection: close`, end of stream,
    /// reset), each forcing a reconnect; warm-up included, as `connects`.
    /// Absent (0) in documents written before it was counted.
    #[serde(default)]
    pub closed_by_peer: u64,
    /// Request bytes written.
    pub bytes_sent: u64,
    /// Response bytes read.
    pub bytes_received: u64,
    /// Latency from the intended send time (coordinated-omission corrected), µs.
    pub latency_us: Percentiles,
    /// Latency from the actual send time, µs.
    pub service_us: Percentiles,
    /// Time to first byte from the actual send time, µs.
    pub ttfb_us: Percentiles,
    /// Actual minus intended send time, µs.
    pub send_delay_us: Percentiles,
    /// Errors by kind.
    pub errors: Errors,
    /// TLS handshakes of the measured window; absent for http:// targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFigures>,
    /// The server's CPU over the measured window (`--server-pid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_cpu: Option<ServerCpu>,
}

/// TLS handshakes made in the measured window.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TlsFigures {
    /// Full handshakes (certificate and signature).
    pub full: u64,
    /// Resumed handshakes (ticket or session ID).
    pub resumed: u64,
    /// resumed / (full + resumed); 0 when there was none.
    pub resumed_fraction: f64,
    /// Version, cipher suite and key exchange group of the first one.
    pub negotiated: Option<String>,
}

/// CPU time of the process given by `--server-pid` (it, its descendants,
/// all their threads; schedstat) over the measured window.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServerCpu {
    /// On-CPU seconds.
    pub cpu_s: f64,
    /// µs per completed response.
    pub us_per_response: Option<f64>,
    /// µs per TLS handshake of the window (full and resumed together).
    pub us_per_handshake: Option<f64>,
    /// Responses per CPU-second: per core.
    pub responses_per_cpu_s: Option<f64>,
    /// TLS handshakes per CPU-second: per core.
    pub handshakes_per_cpu_s: Option<f64>,
}

/// `n` per CPU-second and µs each, when both are non-zero.
fn per(n: u64, cpu_s: f64) -> (Option<f64>, Option<f64>) {
    if n == 0 || cpu_s <= 0.0 {
        return (None, None);
    }
    (Some(cpu_s * 1e6 / n as f64), Some(n as f64 / cpu_s))
}

/// The whole JSON document of `run`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunReport {
    /// Always `ringway-loadgen/run`.
    pub schema: String,
    /// [`SCHEMA_VERSION`].
    pub version: u32,
    /// Machine, versions, command.
    pub meta: Meta,
    /// Parameters.
    pub config: RunConfig,
    /// Numbers.
    pub result: Figures,
    /// Validity flags.
    pub validity: Validity,
}

/// The figures of a finished run.
pub fn figures(r: &RunResult) -> Figures {
    Figures {
        requests: r.rec.sent,
        responses: r.rec.responses,
        missed: r.rec.missed,
        throughput_rps: r.rec.responses as f64 / r.measured.as_secs_f64().max(1e-9),
        connects: r.rec.connects,
        closed_by_peer: r.rec.closed_by_peer,
        bytes_sent: r.rec.bytes_sent,
        bytes_received: r.rec.bytes_received,
        latency_us: Percentiles::of(&r.rec.latency),
        service_us: Percentiles::of(&r.rec.service),
        ttfb_us: Percentiles::of(&r.rec.ttfb),
        send_delay_us: Percentiles::of(&r.rec.send_delay),
        errors: r.rec.errors.clone(),
        tls: r.target_tls.then(|| {
            let (full, resumed) = (r.rec.tls_full, r.rec.tls_resumed);
            TlsFigures {
                full,
                resumed,
                resumed_fraction: resumed as f64 / (full + resumed).max(1) as f64,
                negotiated: r.rec.tls_negotiated.clone(),
            }
        }),
        server_cpu: r.server_cpu_ns.map(|ns| {
            let cpu_s = ns as f64 / 1e9;
            let (us_per_response, responses_per_cpu_s) = per(r.rec.responses, cpu_s);
            let (us_per_handshake, handshakes_per_cpu_s) =
                per(r.rec.tls_full + r.rec.tls_resumed, cpu_s);
            ServerCpu {
                cpu_s,
                us_per_response,
                us_per_handshake,
                responses_per_cpu_s,
                handshakes_per_cpu_s,
            }
        }),
    }
}

/// Builds the JSON document of a run.
pub fn run_report(
    spec: &RunSpec,
    url: &str,
    r: &RunResult,
    validity: Validity,
    meta: Meta,
) -> RunReport {
    RunReport {
        schema: "ringway-loadgen/run".into(),
        version: SCHEMA_VERSION,
        meta,
        config: RunConfig {
            url: url.into(),
            method: spec.method.clone(),
            rate: spec.rate,
            mode: if spec.rate.is_some() {
                "open"
            } else {
                "closed"
            }
            .into(),
            connections: spec.connections,
            threads: spec.threads,
            duration_s: spec.duration.as_secs_f64(),
            warmup_s: spec.warmup.as_secs_f64(),
            timeout_s: spec.timeout.as_secs_f64(),
        },
        result: figures(r),
        validity,
    }
}

/// The human table printed on stdout.
pub fn table(rep: &RunReport) -> String {
    let f = &rep.result;
    let c = &rep.config;
    let mut s = String::new();
    let rate = c
        .rate
        .map(|r| format!("{r:.0} req/s (open loop)"))
        .unwrap_or_else(|| "max (closed loop)".into());
    let _ = writeln!(
        s,
        "{} {}  rate {}  {} connections, {} threads",
        c.method, c.url, rate, c.connections, c.threads
    );
    let _ = writeln!(
        s,
        "{:.1}s measured after {:.1}s warm-up",
        c.duration_s, c.warmup_s
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:<8} {:>12} {:>12} {:>12} {:>12}",
        "", "latency", "service", "ttfb", "send delay"
    );
    let cols = [&f.latency_us, &f.service_us, &f.ttfb_us, &f.send_delay_us];
    for (i, (name, _)) in f.latency_us.rows().iter().enumerate() {
        let _ = write!(s, "{name:<8}");
        for p in cols {
            let _ = write!(s, " {:>10.1}us", p.rows()[i].1);
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "requests {}  responses {}  throughput {:.1} req/s  connects {}  closed by peer {}  bytes sent {}  received {}",
        f.requests,
        f.responses,
        f.throughput_rps,
        f.connects,
        f.closed_by_peer,
        f.bytes_sent,
        f.bytes_received
    );
    if let Some(t) = &f.tls {
        let _ = writeln!(
            s,
            "tls handshakes: full {}  resumed {} ({:.1}%)  {}",
            t.full,
            t.resumed,
            t.resumed_fraction * 100.0,
            t.negotiated.as_deref().unwrap_or("none measured")
        );
    }
    if let Some(c) = &f.server_cpu {
        let opt = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.1}"));
        let _ = writeln!(
            s,
            "server cpu {:.3}s  {} us/response  {} us/handshake  {} handshakes per cpu-second",
            c.cpu_s,
            opt(c.us_per_response),
            opt(c.us_per_handshake),
            opt(c.handshakes_per_cpu_s)
        );
    }
    let e = &f.errors;
    let statuses: Vec<String> = e.status.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let _ = writeln!(
        s,
        "errors: connect {}  timeout {}  read {}  write {}  non-2xx {{{}}}",
        e.connect,
        e.timeout,
        e.read,
        e.write,
        statuses.join(", ")
    );
    let v = &rep.validity;
    let _ = writeln!(
        s,
        "checks: rate {}  send-delay p99 {:.1}us (bound {:.0}us)  loadgen cpu {:.0}%  errors {}",
        match v.rate_ok {
            Some(true) => format!("ok ({:.0}/s)", v.achieved_rate),
            Some(false) => format!("MISSED ({:.0}/s)", v.achieved_rate),
            None => "n/a".into(),
        },
        v.send_delay_p99_us,
        v.send_delay_bound_us,
        v.loadgen_cpu * 100.0,
        v.errors
    );
    if v.valid {
        let _ = writeln!(s, "VALID");
    } else {
        let _ = writeln!(s, "INVALID: {}", v.failures.join("; "));
    }
    s
}

/// The percentile distribution in HdrHistogram's `.hgrm` text format, values in µs.
pub fn hgrm(h: &Histogram<u64>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "       Value     Percentile TotalCount 1/(1-Percentile)\n"
    );
    let mut total = 0u64;
    for v in h.iter_quantiles(5) {
        total += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        let value = v.value_iterated_to() as f64 / 1000.0;
        if q < 1.0 {
            let _ = writeln!(
                s,
                "{value:12.3} {q:14.12} {total:10} {:14.2}",
                1.0 / (1.0 - q)
            );
        } else {
            let _ = writeln!(s, "{value:12.3} {q:14.12} {total:10}");
        }
    }
    let _ = writeln!(
        s,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        h.mean() / 1000.0,
        h.stdev() / 1000.0
    );
    let _ = writeln!(
        s,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        h.max() as f64 / 1000.0,
        h.len()
    );
    let _ = writeln!(
        s,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        h.distinct_values()
    );
    let _ = writeln!(s, "# values in microseconds");
    s
}
