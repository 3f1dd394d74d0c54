//! Chaos on the wire (2 shards, three real backends, loopback only, well
//! under 60 s): steady client load runs the whole time while backends are
//! killed, stalled and restarted in turn. Every request gets an answer (a
//! bounded client read, never a hang), and a 2xx, since at least one
//! healthy target remains in every phase. The failure counts per phase are
//! printed as a Markdown table for `bench/RESULTS.md`.

mod common;

use std::time::{Duration, Instant};

use common::backend::{addrs, fleet, Backend, Mode};
use common::resilience::*;
use common::*;

/// How long each phase runs under load.
const PHASE: Duration = Duration::from_millis(2500);

/// One phase: its name, when it began, and how many targets were up in it.
struct Phase {
    name: &'static str,
    start: Instant,
    up: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Prints the per-phase table and returns (no answer, not 2xx, requests) per phase.
fn report(
    phases: &[Phase],
    end: Instant,
    out: &[Outcome],
    bs: &[Backend],
) -> Vec<(usize, usize, usize)> {
    eprintln!("\n| phase | targets up | requests | 2xx | other status | no answer | p99 ms | max ms | hits a / b / c |");
    eprintln!("|---|---|---|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    for (i, ph) in phases.iter().enumerate() {
        let until = phases.get(i + 1).map_or(end, |n| n.start);
        let inside: Vec<&Outcome> = out
            .iter()
            .filter(|o| o.sent >= ph.start && o.sent < until)
            .collect();
        let no_answer = inside.iter().filter(|o| o.status.is_none()).count();
        let ok = inside.iter().filter(|o| o.ok()).count();
        let other = inside.len() - ok - no_answer;
        let mut lat: Vec<Duration> = inside.iter().map(|o| o.latency).collect();
        lat.sort();
        let hits: Vec<String> = bs
            .iter()
            .map(|b| (b.hits_since(ph.start) - b.hits_since(until)).to_string())
            .collect();
        eprintln!(
            "| {} | {} | {} | {ok} | {other} | {no_answer} | {} | {} | {} |",
            ph.name,
            ph.up,
            inside.len(),
            percentile(&lat, 0.99).as_millis(),
            lat.last().copied().unwrap_or_default().as_millis(),
            hits.join(" / ")
        );
        rows.push((no_answer, other, inside.len()));
    }
    rows
}

/// What a phase does to one backend (by index) as it begins.
enum Action {
    Nothing,
    Kill(usize),
    Restart(usize),
    Set(usize, Mode),
}

/// The phases in turn: name, targets up, action.
const SCRIPT: [(&str, usize, Action); 7] = [
    ("steady", 3, Action::Nothing),
    ("kill a", 2, Action::Kill(0)),
    ("stall b", 1, Action::Set(1, Mode::Stall)),
    ("restart a", 2, Action::Restart(0)),
    ("unstall b", 3, Action::Set(1, Mode::Ok)),
    ("kill c", 2, Action::Kill(2)),
    ("restart c", 3, Action::Restart(2)),
];

#[test]
fn steady_load_survives_kills_stalls_and_restarts() {
    let mut bs = fleet(&["a", "b", "c"], Mode::Ok);
    let gw = Gateway::start(&resilient_config(
        &unweighted(&addrs(&bs)),
        &[("response_timeout_ms", "2000")],
        &[
            ("health", FAST_HEALTH),
            // Shorter than a phase, so each phase can see an ejection end.
            ("outlier", &[("base_ejection_ms", "1000")]),
            (
                "retry",
                &[
                    ("retry_on", "[\"reset\", \"gateway_error\", \"timeout\"]"),
                    ("attempts", "3"),
                    ("per_try_timeout_ms", "300"),
                ],
            ),
        ],
    ));
    let load = Load::start(
        gw.addr(),
        4,
        usize::MAX,
        Duration::from_millis(5),
        load_get(),
    );
    let mut phases = Vec::new();
    for (name, up, action) in SCRIPT {
        phases.push(Phase {
            name,
            start: Instant::now(),
            up,
        });
        match action {
            Action::Nothing => {}
            Action::Kill(i) => bs[i].kill(),
            Action::Restart(i) => bs[i].restart(),
            Action::Set(i, mode) => bs[i].set(mode),
        }
        if phases.len() < SCRIPT.len() {
            std::thread::sleep(PHASE);
        }
    }
    // The last phase lasts until every backend got requests again, at least PHASE.
    let last = Instant::now();
    let rejoined = eventually(Duration::from_secs(5), || {
        bs.iter().all(|x| x.hits_since(last) > 0) && last.elapsed() >= PHASE
    });
    let healthy: Vec<bool> = bs.iter().map(|x| target_healthy(&gw, x.addr())).collect();
    let out = load.stop();
    let end = Instant::now();
    let rows = report(&phases, end, &out, &bs);
    for (ph, (no_answer, other, n)) in phases.iter().zip(&rows) {
        assert!(
            *n >= 20,
            "{}: only {n} requests, the load was not steady",
            ph.name
        );
        assert_eq!(
            *no_answer, 0,
            "{}: {no_answer} requests got no answer",
            ph.name
        );
        assert_eq!(
            *other,
            0,
            "{}: {other} requests failed with a healthy target left: {:?}",
            ph.name,
            failures(&out)
        );
    }
    assert!(
        rejoined,
        "not every backend got requests again after the restarts"
    );
    assert_eq!(healthy, [true; 3], "{}", upstreams_view(&gw));
}
