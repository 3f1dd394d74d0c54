//! `report.md`: the comparison as tables a person reads, with the conditions
//! (machine, load, steal, pinning, versions, command) and every validity
//! failure spelled out. It must never print a figure from an invalid run
//! without marking it.

use std::fmt::Write as _;

use super::{CompareReport, RateRun};

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
    let own = c.own_fraction.map(|f| f * 100.0);
    if let Some(f) = own {
        let _ = write!(
            head,
            " at {f:.0}% of own max: req/s; added p50 / p99 / p99.9 µs | CPU µs/req there |"
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
        for _ in 0..r.rates.len() + usize::from(own.is_some()) {
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
            s.push_str(&summary_cells(
                p.rates.iter().find(|x| x.rate == *rate),
                false,
            ));
        }
        if own.is_some() {
            s.push_str(&summary_cells(p.own_rate.as_ref(), true));
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
            if let Some(x) = p.rates.iter().find(|x| x.rate == *rate) {
                rate_rows(&mut s, &p.name, x, false);
            }
        }
        s.push('\n');
    }

    if let Some(f) = own {
        own_section(&mut s, r, f);
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
        for x in p.rates.iter().chain(&p.own_rate) {
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

/// The summary's two cells for one rate: added p50 / p99 / p99.9 and CPU per
/// request; with `with_rate`, the rate first (it differs per proxy).
fn summary_cells(x: Option<&RateRun>, with_rate: bool) -> String {
    let rate = |x: &RateRun| {
        if with_rate {
            format!("{:.0}: ", x.rate)
        } else {
            String::new()
        }
    };
    match x {
        Some(x) if x.status == "measured" => {
            let get = |n: &str| {
                x.added
                    .iter()
                    .find(|a| a.percentile == n)
                    .map(|a| a.added_us)
            };
            format!(
                " {}{} / {} / {}{} | {} |",
                rate(x),
                opt(get("p50"), 1),
                opt(get("p99"), 1),
                opt(get("p99.9"), 1),
                mark(x.valid),
                opt(x.cpu_us_per_req, 2)
            )
        }
        Some(x) => format!(" {}above knee | – |", rate(x)),
        None => " – | – |".into(),
    }
}

/// One proxy's rows of a latency table: a row per percentile, or one row
/// saying why the rate was not measured; with `with_rate`, a rate column
/// after the name.
fn rate_rows(s: &mut String, name: &str, x: &RateRun, with_rate: bool) {
    let rate = if with_rate {
        format!(" {:.0} |", x.rate)
    } else {
        String::new()
    };
    if x.status != "measured" {
        let _ = writeln!(s, "| {name} |{rate} {} | | | | |", x.status);
        return;
    }
    for a in &x.added {
        let _ = writeln!(
            s,
            "| {name}{} |{rate} {} | {:.1} | {:.1} | {:.1} | {:.1} – {:.1} |",
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

/// The section for `own_fraction`: each proxy at `pct` % of its own max,
/// against direct runs at that same rate.
fn own_section(s: &mut String, r: &CompareReport, pct: f64) {
    let _ = writeln!(s, "## Latency added at {pct:.0}% of each proxy's own max\n");
    let _ = writeln!(
        s,
        "Each proxy is loaded to the same share of what it can do (its max above, rounded to 100 req/s), \
each via run paired with a direct run at that rate, as at the common rates.\n"
    );
    let _ = writeln!(s, "| proxy | req/s | percentile | direct µs | via µs | added µs | added min – max µs |\n|---|---:|---|---:|---:|---:|---:|");
    for p in r.proxies.iter().filter(|p| p.status == "measured") {
        match &p.own_rate {
            Some(x) => rate_rows(s, &p.name, x, true),
            None => {
                let _ = writeln!(s, "| {} | – | no max measured | | | | |", p.name);
            }
        }
    }
    s.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::added::AddedRow;
    use crate::compare::config::CompareConfig;
    use crate::compare::ProxyReport;
    use std::path::Path;

    fn run(rate: f64, added: [f64; 3], valid: bool) -> RateRun {
        let row = |n: &str, a: f64| AddedRow {
            percentile: n.into(),
            direct_us: 100.0,
            via_us: 100.0 + a,
            added_us: a,
            added_min_us: a - 1.0,
            added_max_us: a + 1.0,
        };
        RateRun {
            rate,
            status: "measured".into(),
            added: vec![
                row("p50", added[0]),
                row("p99", added[1]),
                row("p99.9", added[2]),
            ],
            cpu_us_per_req: Some(20.0),
            valid,
            failures: if valid {
                Vec::new()
            } else {
                vec!["round 2 via: send delay".into()]
            },
        }
    }

    fn proxy(name: &str, rates: Vec<RateRun>, own: Option<RateRun>) -> ProxyReport {
        ProxyReport {
            name: name.into(),
            status: "measured".into(),
            reason: None,
            version: Some("1".into()),
            command: String::new(),
            max: None,
            rates,
            own_rate: own,
            upstream: None,
            idle: None,
        }
    }

    fn report(own_fraction: Option<f64>) -> CompareReport {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut config = CompareConfig::load(&root.join("bench/compare-smoke.toml")).unwrap();
        config.own_fraction = own_fraction;
        let mut knee = run(20_800.0, [0.0; 3], true);
        knee.status = "not measured: above 80% of this proxy's max (22000 req/s)".into();
        knee.added.clear();
        CompareReport {
            schema: "ringway-loadgen/compare".into(),
            version: 1,
            meta: crate::meta::collect("test".into(), false),
            loadavg_before: "0.00".into(),
            steal_pct: 0.0,
            config,
            direct_max: None,
            rates: vec![5000.0],
            proxies: vec![
                proxy(
                    "ringway",
                    vec![run(5000.0, [80.0, 170.0, 2850.0], true)],
                    Some(run(20_800.0, [95.0, 240.0, 910.0], false)),
                ),
                proxy(
                    "haproxy",
                    vec![run(5000.0, [90.0, 180.0, 530.0], true)],
                    Some(knee),
                ),
                proxy("envoy", vec![], None),
            ],
            plots: Vec::new(),
            valid: false,
        }
    }

    #[test]
    fn own_fraction_runs_are_in_the_summary_and_their_own_section() {
        let md = render(&report(Some(0.5)));
        for line in [
            "at 50% of own max: req/s; added p50 / p99 / p99.9 µs | CPU µs/req there |",
            "| 80.0 / 170.0 / 2850.0 | 20.00 | 20800: 95.0 / 240.0 / 910.0 ⚠ | 20.00 |",
            "| 20800: above knee | – |",
            "## Latency added at 50% of each proxy's own max",
            "| ringway ⚠ | 20800 | p99.9 | 100.0 | 1010.0 | 910.0 | 909.0 – 911.0 |",
            "| haproxy | 20800 | not measured: above 80%",
            "| envoy | – | no max measured |",
            "- ringway at 20800/s: round 2 via: send delay",
            // The common rate's section is unchanged by the own-fraction runs.
            "| ringway | p99.9 | 100.0 | 2950.0 | 2850.0 | 2849.0 – 2851.0 |",
        ] {
            assert!(md.contains(line), "missing {line:?} in:\n{md}");
        }
    }

    #[test]
    fn without_own_fraction_the_report_has_no_such_column_or_section() {
        let mut r = report(None);
        for p in &mut r.proxies {
            p.own_rate = None;
        }
        let md = render(&r);
        assert!(
            !md.contains("% of own max") && !md.contains("each proxy's own max"),
            "{md}"
        );
    }

    #[test]
    fn json_carries_the_own_rate_and_older_reports_still_read() {
        let r = report(Some(0.5));
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["config"]["own_fraction"], 0.5);
        assert_eq!(v["proxies"][0]["own_rate"]["rate"], 20_800.0);
        assert_eq!(v["proxies"][0]["own_rate"]["added"][2]["added_us"], 910.0);
        let mut old = v.clone();
        for p in old["proxies"].as_array_mut().unwrap() {
            p.as_object_mut().unwrap().remove("own_rate");
        }
        old["config"]
            .as_object_mut()
            .unwrap()
            .remove("own_fraction");
        let back: CompareReport = serde_json::from_value(old).unwrap();
        assert!(back.proxies[0].own_rate.is_none() && back.config.own_fraction.is_none());
    }
}
