//! One comparison session: start the upstream and the proxies, run the
//! phases in order (max throughput, fixed rates, idle memory), stop everything.
//!
//! Every process lives in a `Proc` that kills it on drop, so an early return
//! leaves nothing behind. It must never run a fixed rate above a proxy's knee.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::config::{fraction_rate, CompareConfig, ProxyConfig};
use super::phases::{add_reuse, finish_reuse, idle_mem, max_run, rate_runs, Via};
use super::probe::{probe, upstream_stats};
use super::procs::{self, Proc};
use super::{CompareReport, ProxyReport, RateRun, Reuse};
use crate::stats::histogram;
use crate::target::{self, Target};

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
    let steal0 = procs::steal_ticks();
    procs::raise_nofile();
    // Kept to the end of the run: dropping it puts the session's autogroup
    // nice back.
    let mut _autogroup = None;
    if let Some(n) = cfg.nice {
        procs::set_own_nice(n)?;
        let (guard, refused) = procs::AutogroupNice::raise(n);
        if let Some(why) = refused {
            eprintln!("compare: {why}; other sessions' work competes at equal weight");
        }
        _autogroup = Some(guard);
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
            let r = fraction_rate(f, n.rps);
            if r > 0.0 && !rates.contains(&r) {
                rates.push(r);
            }
        }
    }
    let mut direct_hists = Vec::new();
    let awake = super::awake::KeepAwake::start(&cfg.keep_awake_cpus);
    for &rate in &rates {
        let mut dh = histogram();
        for (i, l) in live.iter_mut().enumerate() {
            let Some(l) = l else { continue };
            let at = At {
                name: &cfg.proxy[i].name,
                direct: &direct,
                up: up_addr,
            };
            let (run, vh) = at_rate(cfg, rate, at, l, &mut reuse[i], &mut dh);
            if let Some(vh) = vh {
                l.hist.push((rate, vh));
            }
            reports[i].rates.push(run);
        }
        direct_hists.push((rate, dh));
    }
    for (i, l) in live.iter_mut().enumerate() {
        let Some(l) = l else { continue };
        let Some(rate) = cfg.own_rate(l.max_rps) else {
            continue;
        };
        let rep = &mut reports[i];
        // nginx at nginx_fraction is nginx at its own fraction when the two
        // fractions are equal: the same runs, not measured twice.
        if let Some(same) = rep
            .rates
            .iter()
            .find(|x| x.rate == rate && x.status == "measured")
        {
            rep.own_rate = Some(same.clone());
            continue;
        }
        let at = At {
            name: &cfg.proxy[i].name,
            direct: &direct,
            up: up_addr,
        };
        let (run, _) = at_rate(cfg, rate, at, l, &mut reuse[i], &mut histogram());
        rep.own_rate = Some(run);
    }
    drop(awake);

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
            reports[i].idle = Some(idle_mem(cfg, &l.target, l.proc_.pid()));
        }
    }
    drop(live);
    drop(upstream);

    let valid = direct_max.validity.valid
        && reports.iter().all(|r| {
            r.status != "failed"
                && r.max.as_ref().map(|m| m.validity.valid).unwrap_or(true)
                && r.rates.iter().chain(&r.own_rate).all(|x| x.valid)
        });
    let pinning =
        format!(
        "proxies on cpus {:?} (taskset), upstream threads on {:?}, load threads on {:?}; nice {} (each task and this session's autogroup); SCHED_IDLE keep-awake spinners during fixed-rate runs on cpus {:?}",
        cfg.proxy_cpus,
        cfg.upstream.cpus,
        cfg.load_cpus,
        cfg.nice.map(|n| n.to_string()).unwrap_or_else(|| "unchanged".into()),
        cfg.keep_awake_cpus
    );
    Ok(CompareReport {
        schema: "ringway-loadgen/compare".into(),
        version: crate::report::SCHEMA_VERSION,
        meta: crate::meta::collect(pinning, monoio::utils::detect_uring()),
        loadavg_before,
        steal_pct: procs::steal_pct(steal0, procs::steal_ticks()),
        config: cfg.clone(),
        direct_max: Some(direct_max),
        rates,
        proxies: reports,
        plots,
        valid,
    })
}

/// Where one fixed-rate measurement sends its load.
#[derive(Clone, Copy)]
struct At<'a> {
    /// The proxy's name, for progress lines.
    name: &'a str,
    /// The upstream alone, for the paired direct runs.
    direct: &'a Target,
    /// The upstream, for its connection counters.
    up: SocketAddr,
}

/// Latency added through `l` at `rate` (direct histograms added to `dh`), or
/// why not: a rate above the proxy's knee is never run.
fn at_rate(
    cfg: &CompareConfig,
    rate: f64,
    at: At<'_>,
    l: &Live,
    reuse: &mut Reuse,
    dh: &mut Histogram<u64>,
) -> (RateRun, Option<Histogram<u64>>) {
    if rate > cfg.knee_fraction * l.max_rps {
        let run = RateRun {
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
        };
        return (run, None);
    }
    eprintln!("compare: {} at {rate:.0} req/s", at.name);
    let via = Via {
        target: &l.target,
        pid: l.proc_.pid(),
    };
    let (run, vh) = rate_runs(cfg, rate, at.direct, via, at.up, reuse, dh);
    (run, Some(vh))
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
        own_rate: None,
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
