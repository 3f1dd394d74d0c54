//! `report.md`: the comparison as tables a person reads, with the conditions
//! (machine, load, steal, pinning, versions, command) and every validity
//! failure spelled out. It must never print a figure from an invalid run
//! without marking it.

use std::fmt::Write as _;

use super::CompareReport;

fn mark(valid: bool) -> &'static str {
    if valid {
        ""
    } else {
        " ⚠"
    }
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map(|x| format!("{x:.prec$}"))
        .unwrap_or_else(|| "–".into())
}

/// Renders the report.
pub fn render(r: &CompareReport) -> String {
    let mut s = String::new();
    let m = &r.meta;
    let c = &r.config;
    let _ = writeln!(s, "# Proxy comparison (ringway-loadgen compare)\n");
    let _ = writeln!(
        s,
        "- time: {}; git {}",
        m.time,
        m.git_sha.as_deref().unwrap_or("unknown")
    );
    let _ = writeln!(
        s,
        "- machine: {} × {}; kernel {}; loadgen on {}",
        m.cores, m.cpu_model, m.kernel, m.io
    );
    let _ = writeln!(
        s,
        "- conditions: load average before {}, after {}; hypervisor steal {:.1}% of CPU time during the run",
        r.loadavg_before, m.loadavg, r.steal_pct
    );
    let _ = writeln!(s, "- pinning: {}", m.pinning);
    let _ = writeln!(
        s,
        "- load: {} connections; each run {} after a {} warm-up; {} interleaved round(s) of direct/via per rate; upstream body {} bytes",
        c.connections, c.duration, c.warmup, c.rounds, c.upstream.body_size
    );
    let _ = writeln!(s, "- command: `{}`", m.command);
    let _ = writeln!(
        s,
        "- verdict: {}\n",
        if r.valid {
            "all runs valid"
        } else {
            "**some runs INVALID** (marked ⚠, reasons below)"
        }
    );

    let _ = writeln!(s, "## Summary\n");
    let mut head = String::from("| proxy | version | max req/s | CPU µs/req at max |");
    let mut sep = String::from("|---|---|---:|---:|");
    for rate in &r.rates {
        let _ = write!(
            head,
            " added p50 / p99 / p99.9 µs at {rate:.0}/s | CPU µs/req at {rate:.0}/s |"
        );
        sep.push_str("---:|---:|");
    }
    head.push_str(" upstream req/conn | RSS KiB idle → with idle conns (B/conn) |");
    sep.push_str("---:|---|");
    let _ = writeln!(s, "{head}\n{sep}");
    if let Some(d) = &r.direct_max {
        let _ = write!(
            s,
            "| direct (upstream alone) | – | {:.0}{} | – |",
            d.rps,
            mark(d.validity.valid)
        );
        for _ in &r.rates {
            s.push_str(" 0 (baseline) | – |");
        }
        s.push_str(" – | – |\n");
    }
    for p in &r.proxies {
        if p.status != "measured" {
            let _ = writeln!(
                s,
                "| {} | {} | {}: {} |",
                p.name,
                p.version.as_deref().unwrap_or("–"),
                p.status,
                p.reason.as_deref().unwrap_or("")
            );
            continue;
        }
        let max = p.max.as_ref();
        let _ = write!(
            s,
            "| {} | {} | {}{} | {} |",
            p.name,
            p.version.as_deref().unwrap_or("?"),
            opt(max.map(|m| m.rps), 0),
            mark(max.map(|m| m.validity.valid).unwrap_or(false)),
            opt(max.and_then(|m| m.cpu_us_per_req), 2)
        );
        for rate in &r.rates {
            match p.rates.iter().find(|x| x.rate == *rate) {
                Some(x) if x.status == "measured" => {
                    let get = |n: &str| {
                        x.added
                            .iter()
                            .find(|a| a.percentile == n)
                            .map(|a| a.added_us)
                    };
                    let _ = write!(
                        s,
                        " {} / {} / {}{} | {} |",
                        opt(get("p50"), 1),
                        opt(get("p99"), 1),
                        opt(get("p99.9"), 1),
                        mark(x.valid),
                        opt(x.cpu_us_per_req, 2)
                    );
                }
                Some(_) => s.push_str(" above knee | – |"),
                None => s.push_str(" – | – |"),
            }
        }
        let reuse = p
            .upstream
            .as_ref()
            .map(|u| format!("{:.0} ({} conns)", u.requests_per_connection, u.connections));
        let idle = p.idle.as_ref().map(|i| match &i.error {
            Some(e) => format!("failed: {e}"),
            None => format!(
                "{} → {} ({:.0})",
                i.rss_before_kib, i.rss_idle_kib, i.bytes_per_connection
            ),
        });
        let _ = writeln!(
            s,
            " {} | {} |",
            reuse.unwrap_or_else(|| "–".into()),
            idle.unwrap_or_else(|| "–".into())
        );
    }
    let _ = writeln!(
        s,
        "\nAdded latency = via-proxy minus direct at the same rate and percentile, per round, median over rounds; \
latency is measured from each request's intended send time (coordinated omission corrected). \
CPU µs/req = the proxy's utime+stime (all threads and child processes, /proc/PID/stat) over the measured window / responses. \
Rates above {:.0}% of a proxy's own max are not measured (latency is never quoted at saturation).\n",
        c.knee_fraction * 100.0
    );

    for rate in &r.rates {
        let _ = writeln!(s, "## Latency added at {rate:.0} req/s\n");
        let plot = format!("latency-{rate:.0}.svg");
        if r.plots.contains(&plot) {
            let _ = writeln!(s, "![latency percentiles at {rate:.0} req/s]({plot})\n");
        }
        let _ = writeln!(s, "| proxy | percentile | direct µs | via µs | added µs | added min – max µs |\n|---|---|---:|---:|---:|---:|");
        for p in &r.proxies {
            let Some(x) = p.rates.iter().find(|x| x.rate == *rate) else {
                continue;
            };
            if x.status != "measured" {
                let _ = writeln!(s, "| {} | {} | | | | |", p.name, x.status);
                continue;
            }
            for a in &x.added {
                let _ = writeln!(
                    s,
                    "| {}{} | {} | {:.1} | {:.1} | {:.1} | {:.1} – {:.1} |",
                    p.name,
                    mark(x.valid),
                    a.percentile,
                    a.direct_us,
                    a.via_us,
                    a.added_us,
                    a.added_min_us,
                    a.added_max_us
                );
            }
        }
        s.push('\n');
    }

    let mut fails = Vec::new();
    if let Some(d) = &r.direct_max {
        fails.extend(
            d.validity
                .failures
                .iter()
                .map(|f| format!("direct max: {f}")),
        );
    }
    for p in &r.proxies {
        if let Some(m) = &p.max {
            fails.extend(
                m.validity
                    .failures
                    .iter()
                    .map(|f| format!("{} max: {f}", p.name)),
            );
        }
        for x in &p.rates {
            fails.extend(
                x.failures
                    .iter()
                    .map(|f| format!("{} at {:.0}/s: {f}", p.name, x.rate)),
            );
        }
        if p.status != "measured" {
            fails.push(format!(
                "{} {}: {}",
                p.name,
                p.status,
                p.reason.as_deref().unwrap_or("")
            ));
        }
    }
    let _ = writeln!(s, "## Validity\n");
    if fails.is_empty() {
        let _ = writeln!(s, "Every run passed every check (rate within 1%, send-delay p99 under {:.0} µs, loadgen CPU under 80%, zero errors).", c.max_send_delay_us);
    } else {
        for f in fails {
            let _ = writeln!(s, "- {f}");
        }
    }
    let _ = writeln!(s, "\n## Commands\n");
    for p in &r.proxies {
        let _ = writeln!(s, "- {}: `{}`", p.name, p.command);
    }
    s
}
