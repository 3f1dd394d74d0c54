//! One comparison session: start the upstream and the proxies, run the
//! phases in order (max throughput, fixed rates, idle memory), stop everything.
//!
//! Every process lives in a `Proc` that kills it on drop, so an early return
//! leaves nothing behind. It must never run a fixed rate above a proxy's knee.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::config::{CompareConfig, ProxyConfig};
use super::idle::Idle;
use super::procs::{self, Proc};
use super::{CompareReport, IdleMem, MaxRun, ProxyReport, RateRun, Reuse};
use crate::added::{median, summarise, Side};
use crate::report::figures;
use crate::run::{execute, RunSpec};
use crate::stats::{histogram, Percentiles};
use crate::target::{self, Target};
use crate::validity::check;

struct Live {
    proc_: Proc,
    target: Target,
    max_rps: f64,
    hist: Vec<(f64, Histogram<u64>)>,
}

/// Runs the whole comparison and returns its report (files besides the JSON/MD are written to `out`).
pub fn run(
    cfg: &CompareConfig,
    only: &[String],
    out: &Path,
) -> Result<CompareReport, Box<dyn std::error::Error>> {
    let loadavg_before = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string();
    let steal0 = steal_ticks();
    procs::raise_nofile();
    if let Some(n) = cfg.nice {
        procs::set_own_nice(n)?;
    }
    let root = std::env::current_dir()?;
    let exe = std::env::current_exe()?;
    let cpus = |c: &[usize]| {
        c.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let up_argv: Vec<String> = vec![
        exe.display().to_string(),
        "serve".into(),
        "--listen".into(),
        cfg.upstream.listen.clone(),
        "--body-size".into(),
        cfg.upstream.body_size.to_string(),
        "--cpus".into(),
        cpus(&cfg.upstream.cpus),
    ];
    let up_addr: SocketAddr = cfg.upstream.listen.parse()?;
    if TcpStream::connect_timeout(&up_addr, Duration::from_millis(200)).is_ok() {
        return Err(format!("{up_addr} is already in use; stop whatever listens there").into());
    }
    let mut upstream = Proc::start(
        "upstream",
        &up_argv,
        &[],
        cfg.nice,
        &out.join("upstream.log"),
    )?;
    upstream.wait_port(up_addr, Duration::from_secs(10))?;
    let direct = target::parse(&format!("http://{up_addr}/"), false)?;

    let mut reports = Vec::new();
    let mut live: Vec<Option<Live>> = Vec::new();
    for p in &cfg.proxy {
        let (rep, l) = start_proxy(cfg, p, only, &root, out);
        reports.push(rep);
        live.push(l);
    }

    eprintln!("compare: direct max throughput");
    let direct_max = max_run(cfg, &direct, None);
    let mut reuse: Vec<Reuse> = vec![Reuse::default(); cfg.proxy.len()];
    for (i, l) in live.iter_mut().enumerate() {
        let Some(l) = l else { continue };
        eprintln!("compare: {} max throughput", cfg.proxy[i].name);
        let before = upstream_stats(up_addr);
        let m = max_run(cfg, &l.target, Some(l.proc_.pid()));
        add_reuse(&mut reuse[i], before, upstream_stats(up_addr));
        l.max_rps = m.rps;
        reports[i].max = Some(m);
    }

    let mut rates = cfg.rates.clone();
    if let Some(f) = cfg.nginx_fraction {
        if let Some(n) = reports
            .iter()
            .find(|r| r.name == "nginx")
            .and_then(|r| r.max.as_ref())
        {
            let r = (n.rps * f / 100.0).round() * 100.0;
            if r > 0.0 && !rates.contains(&r) {
                rates.push(r);
            }
        }
    }
    let mut direct_hists = Vec::new();
    for &rate in &rates {
        let mut dh = histogram();
        for (i, l) in live.iter_mut().enumerate() {
            let Some(l) = l else { continue };
            let knee = cfg.knee_fraction * l.max_rps;
            if rate > knee {
                reports[i].rates.push(RateRun {
                    rate,
                    status: format!(
                        "not measured: above {:.0}% of this proxy's max ({:.0} req/s)",
                        cfg.knee_fraction * 100.0,
                        l.max_rps
                    ),
                    added: Vec::new(),
                    cpu_us_per_req: None,
                    valid: true,
                    failures: Vec::new(),
                });
                continue;
            }
            eprintln!("compare: {} at {rate:.0} req/s", cfg.proxy[i].name);
            let (run, vh) = rate_runs(cfg, rate, &direct, l, up_addr, &mut reuse[i], &mut dh);
            l.hist.push((rate, vh));
            reports[i].rates.push(run);
        }
        direct_hists.push((rate, dh));
    }

    let mut plots = Vec::new();
    for (rate, dh) in &direct_hists {
        let mut series = vec![("direct".to_string(), dh)];
        for (i, l) in live.iter().enumerate() {
            if let Some((_, h)) = l
                .as_ref()
                .and_then(|l| l.hist.iter().find(|(r, _)| r == rate))
            {
                series.push((cfg.proxy[i].name.clone(), h));
            }
        }
        if series.len() > 1 {
            let name = format!("latency-{rate:.0}.svg");
            let title = format!(
                "Latency at {rate:.0} req/s (merged rounds, corrected for coordinated omission)"
            );
            std::fs::write(out.join(&name), super::plot::svg(&title, &series))?;
            plots.push(name);
        }
    }

    for (i, l) in live.iter_mut().enumerate() {
        let Some(l) = l else { continue };
        reports[i].upstream = Some(finish_reuse(&reuse[i]));
        if cfg.idle_connections > 0 {
            eprintln!(
                "compare: {} with {} idle connections",
                cfg.proxy[i].name, cfg.idle_connections
            );
            reports[i].idle = Some(idle_mem(cfg, l));
        }
    }
    drop(live);
    drop(upstream);

    let valid = direct_max.validity.valid
        && reports.iter().all(|r| {
            r.status != "failed"
                && r.max.as_ref().map(|m| m.validity.valid).unwrap_or(true)
                && r.rates.iter().all(|x| x.valid)
        });
    let pinning =
        format!(
        "proxies on cpus {:?} (taskset), upstream threads on {:?}, load threads on {:?}; nice {}",
        cfg.proxy_cpus,
        cfg.upstream.cpus,
        cfg.load_cpus,
        cfg.nice.map(|n| n.to_string()).unwrap_or_else(|| "unchanged".into())
    );
    Ok(CompareReport {
        schema: "ringway-loadgen/compare".into(),
        version: crate::report::SCHEMA_VERSION,
        meta: crate::meta::collect(pinning, monoio::utils::detect_uring()),
        loadavg_before,
        steal_pct: steal_pct(steal0, steal_ticks()),
        config: cfg.clone(),
        direct_max: Some(direct_max),
        rates,
        proxies: reports,
        plots,
        valid,
    })
}

fn start_proxy(
    cfg: &CompareConfig,
    p: &ProxyConfig,
    only: &[String],
    root: &Path,
    out: &Path,
) -> (ProxyReport, Option<Live>) {
    // Absolute, because nginx resolves -e relative to its -p prefix.
    let tmp = root.join(out).join(format!("tmp-{}", p.name));
    let render = |s: &String| {
        s.replace("{tmp}", &tmp.display().to_string())
            .replace("{root}", &root.display().to_string())
    };
    let argv: Vec<String> = p.command.iter().map(render).collect();
    let mut rep = ProxyReport {
        name: p.name.clone(),
        status: "skipped".into(),
        reason: None,
        version: None,
        command: format!("taskset -c {:?} {}", cfg.proxy_cpus, argv.join(" ")),
        max: None,
        rates: Vec::new(),
        upstream: None,
        idle: None,
    };
    if !only.is_empty() && !only.contains(&p.name) {
        rep.reason = Some("not selected (--only)".into());
        return (rep, None);
    }
    if !p.build.is_empty() {
        eprintln!("compare: building {}: {}", p.name, p.build.join(" "));
        let ok = std::process::Command::new(&p.build[0])
            .args(&p.build[1..])
            .status()
            .map(|s| s.success());
        if !matches!(ok, Ok(true)) {
            rep.status = "failed".into();
            rep.reason = Some(format!("build failed: {}", p.build.join(" ")));
            return (rep, None);
        }
    }
    if !procs::available(&argv[0]) {
        rep.reason = Some(format!(
            "not installed: {} not found (bench/setup.sh installs it)",
            argv[0]
        ));
        return (rep, None);
    }
    let version: Vec<String> = p.version.iter().map(render).collect();
    rep.version = procs::first_line(&version);
    let fail = |mut rep: ProxyReport, why: String| {
        rep.status = "failed".into();
        rep.reason = Some(why);
        (rep, None)
    };
    let target = match target::parse(&p.url, false) {
        Ok(t) => t,
        Err(e) => return fail(rep, e.to_string()),
    };
    if TcpStream::connect_timeout(&target.addr, Duration::from_millis(200)).is_ok() {
        return fail(rep, format!("{} is already in use", target.addr));
    }
    let _ = std::fs::create_dir_all(&tmp);
    let log = out.join(format!("{}.log", p.name));
    let mut proc_ = match Proc::start(&p.name, &argv, &cfg.proxy_cpus, cfg.nice, &log) {
        Ok(x) => x,
        Err(e) => return fail(rep, format!("could not start: {e}")),
    };
    if let Err(e) = proc_.wait_port(target.addr, Duration::from_secs(15)) {
        return fail(rep, format!("{e} (see {})", log.display()));
    }
    match probe(target.addr, &target.authority, &target.path) {
        Ok((200, body)) if body.len() == cfg.upstream.body_size => {}
        Ok((s, body)) => return fail(rep, format!("probe: status {s}, {} body bytes", body.len())),
        Err(e) => return fail(rep, format!("probe: {e}")),
    }
    rep.status = "measured".into();
    (
        rep,
        Some(Live {
            proc_,
            target,
            max_rps: 0.0,
            hist: Vec::new(),
        }),
    )
}

fn spec(cfg: &CompareConfig, t: &Target, rate: Option<f64>) -> RunSpec {
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
        insecure: false,
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

fn max_run(cfg: &CompareConfig, t: &Target, pid: Option<u32>) -> MaxRun {
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
        failures: vec![why],
    }
}

fn rate_runs(
    cfg: &CompareConfig,
    rate: f64,
    direct: &Target,
    l: &Live,
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
        let v = measured(&spec(cfg, &l.target, Some(rate)), Some(l.proc_.pid()));
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

fn idle_mem(cfg: &CompareConfig, l: &Live) -> IdleMem {
    let pid = l.proc_.pid();
    let before = procs::rss_kib(pid);
    let n = cfg.idle_connections;
    match Idle::open(l.target.addr, &l.target.authority, &l.target.path, n) {
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

fn add_reuse(r: &mut Reuse, before: Option<(u64, u64)>, after: Option<(u64, u64)>) {
    if let (Some(b), Some(a)) = (before, after) {
        // The stats request itself opens one connection, not forwarded by the proxy.
        r.connections += a.0.saturating_sub(b.0).saturating_sub(1);
        r.requests += a.1.saturating_sub(b.1);
    }
}

fn finish_reuse(r: &Reuse) -> Reuse {
    Reuse {
        requests_per_connection: r.requests as f64 / r.connections.max(1) as f64,
        ..r.clone()
    }
}

/// (connections, requests) from the upstream's stats endpoint.
fn upstream_stats(addr: SocketAddr) -> Option<(u64, u64)> {
    let (_, body) = probe(addr, "stats", crate::serve::STATS_PATH).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
    Some((v["connections"].as_u64()?, v["requests"].as_u64()?))
}

/// One GET on a fresh connection (closed after); status and body.
fn probe(addr: SocketAddr, host: &str, path: &str) -> Result<(u16, Vec<u8>), String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(e.to_string()),
        }
        if let Ok(Some(h)) = crate::response::parse_head(&buf, false) {
            if let crate::response::Framing::Length(n) = h.framing {
                if buf.len() >= h.len + n as usize {
                    return Ok((h.status, buf[h.len..h.len + n as usize].to_vec()));
                }
            }
        }
    }
    let h = crate::response::parse_head(&buf, false)
        .map_err(|_| "malformed response".to_string())?
        .ok_or("incomplete response")?;
    Ok((h.status, buf[h.len..].to_vec()))
}

fn steal_ticks() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<u64> = s
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    (f.get(7).copied().unwrap_or(0), f.iter().take(8).sum())
}

fn steal_pct(a: (u64, u64), b: (u64, u64)) -> f64 {
    let total = b.1.saturating_sub(a.1).max(1) as f64;
    b.0.saturating_sub(a.0) as f64 * 100.0 / total
}
