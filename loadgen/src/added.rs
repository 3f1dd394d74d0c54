//! `added`: the latency a proxy adds over calling the upstream directly.
//!
//! Direct and via-proxy runs alternate (A B A B …) at the same rate so that
//! drift on a shared machine hits both equally; the added latency is computed
//! per round and per percentile (via − direct), then summarised as the median
//! with the min–max spread across rounds. It must never compare runs of
//! different rates or quote an added figure without the validity of both sides.

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::cli::AddedArgs;
use crate::report::{figures, Figures};
use crate::run::{execute, RunSpec};
use crate::spec::{build, pinning, Refused};
use crate::stats::histogram;
use crate::validity::{check, Validity};

/// One measured side of one round.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Side {
    /// The numbers.
    pub result: Figures,
    /// Its checks.
    pub validity: Validity,
}

/// Added latency at one percentile, across rounds, µs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AddedRow {
    /// `p50`, `p90`, … `max`, `mean`.
    pub percentile: String,
    /// Median over rounds of the direct figure.
    pub direct_us: f64,
    /// Median over rounds of the via-proxy figure.
    pub via_us: f64,
    /// Median over rounds of (via − direct).
    pub added_us: f64,
    /// Smallest per-round difference.
    pub added_min_us: f64,
    /// Largest per-round difference.
    pub added_max_us: f64,
}

/// The outcome of an interleaved measurement.
pub struct Added {
    /// (direct, via) per round.
    pub rounds: Vec<(Side, Side)>,
    /// The summary per percentile.
    pub rows: Vec<AddedRow>,
    /// All rounds' direct latencies merged (for plots).
    pub direct_hist: Histogram<u64>,
    /// All rounds' via latencies merged (for plots).
    pub via_hist: Histogram<u64>,
    /// Every run of both sides was valid.
    pub valid: bool,
    /// Loadgen ran on io_uring throughout.
    pub uring: bool,
}

/// Median of a non-empty list (mean of the middle two for even lengths).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    match n {
        0 => 0.0,
        _ if !n.is_multiple_of(2) => s[n / 2],
        _ => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// Summarises rounds of (direct, via) into per-percentile added latency.
pub fn summarise(rounds: &[(Side, Side)]) -> Vec<AddedRow> {
    let names = rounds
        .first()
        .map(|(d, _)| d.result.latency_us.rows().map(|(n, _)| n).to_vec())
        .unwrap_or_default();
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let d: Vec<f64> = rounds
                .iter()
                .map(|(d, _)| d.result.latency_us.rows()[i].1)
                .collect();
            let v: Vec<f64> = rounds
                .iter()
                .map(|(_, v)| v.result.latency_us.rows()[i].1)
                .collect();
            let diff: Vec<f64> = d.iter().zip(&v).map(|(d, v)| v - d).collect();
            AddedRow {
                percentile: name.to_string(),
                direct_us: median(&d),
                via_us: median(&v),
                added_us: median(&diff),
                added_min_us: diff.iter().copied().fold(f64::INFINITY, f64::min),
                added_max_us: diff.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            }
        })
        .collect()
}

/// Runs `rounds` × (direct, via) at the same rate, alternating.
pub fn measure(
    direct: &RunSpec,
    via: &RunSpec,
    rounds: usize,
    bound_us: f64,
) -> std::io::Result<Added> {
    let mut out = Vec::new();
    let (mut dh, mut vh) = (histogram(), histogram());
    let mut uring = true;
    for _ in 0..rounds.max(1) {
        let mut pair = Vec::new();
        for (spec, h) in [(direct, &mut dh), (via, &mut vh)] {
            let r = execute(spec)?;
            uring &= r.uring;
            let _ = h.add(&r.rec.latency);
            pair.push(Side {
                result: figures(&r),
                validity: check(&r, spec.rate, bound_us),
            });
        }
        let via_side = pair.pop().expect("two sides");
        let direct_side = pair.pop().expect("two sides");
        out.push((direct_side, via_side));
    }
    let valid = out
        .iter()
        .all(|(d, v)| d.validity.valid && v.validity.valid);
    Ok(Added {
        rows: summarise(&out),
        rounds: out,
        direct_hist: dh,
        via_hist: vh,
        valid,
        uring,
    })
}

/// The JSON document of `added`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AddedReport {
    /// Always `ringway-loadgen/added`.
    pub schema: String,
    /// Schema version.
    pub version: u32,
    /// Machine, versions, command.
    pub meta: crate::meta::Meta,
    /// Direct URL.
    pub direct: String,
    /// Via-proxy URL.
    pub via: String,
    /// Target rate.
    pub rate: f64,
    /// Summary per percentile.
    pub added: Vec<AddedRow>,
    /// Every round.
    pub rounds: Vec<(Side, Side)>,
    /// Every run valid.
    pub valid: bool,
}

/// The human table of added latency.
pub fn table(rows: &[AddedRow]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<8} {:>12} {:>12} {:>12} {:>22}",
        "", "direct", "via", "added", "added min..max"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{:<8} {:>10.1}us {:>10.1}us {:>10.1}us {:>9.1} .. {:>8.1}us",
            r.percentile, r.direct_us, r.via_us, r.added_us, r.added_min_us, r.added_max_us
        );
    }
    s
}

/// The `added` command.
pub fn command(a: &AddedArgs) -> Result<i32, Box<dyn std::error::Error>> {
    let Some(rate) = a.load.rate else {
        return Err(Box::new(Refused(
            "added needs --rate: latency is compared at a fixed rate below saturation".into(),
        )));
    };
    let mut direct = build(&a.direct, &a.load)?;
    let mut via = build(&a.via, &a.load)?;
    direct.progress = false;
    via.progress = false;
    let m = measure(&direct, &via, a.rounds, a.load.max_send_delay_us)?;
    println!(
        "latency added by {} over {} at {rate:.0} req/s, {} rounds",
        a.via,
        a.direct,
        m.rounds.len()
    );
    print!("{}", table(&m.rows));
    for (i, (d, v)) in m.rounds.iter().enumerate() {
        for (name, side) in [("direct", d), ("via", v)] {
            if !side.validity.valid {
                println!(
                    "round {} {name}: INVALID: {}",
                    i + 1,
                    side.validity.failures.join("; ")
                );
            }
        }
    }
    println!("{}", if m.valid { "VALID" } else { "INVALID" });
    if let Some(p) = &a.json {
        let rep = AddedReport {
            schema: "ringway-loadgen/added".into(),
            version: crate::report::SCHEMA_VERSION,
            meta: crate::meta::collect(pinning(&direct.cpus), m.uring),
            direct: a.direct.clone(),
            via: a.via.clone(),
            rate,
            added: m.rows.clone(),
            rounds: m.rounds.clone(),
            valid: m.valid,
        };
        std::fs::write(p, serde_json::to_string_pretty(&rep)? + "\n")?;
    }
    Ok(if m.valid { 0 } else { 3 })
}

#[cfg(test)]
mod tests {
    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(super::median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(super::median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(super::median(&[]), 0.0);
    }
}
