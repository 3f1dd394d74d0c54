//! The latency-percentile plot as a standalone SVG: one curve per proxy (and
//! the direct baseline), percentile on a log scale of 1/(1−p) as in
//! HdrHistogram's plots, latency on a log axis (loopback medians are tens of
//! µs while tails reach milliseconds; a linear axis would flatten the medians).
//!
//! Pure string building; it must never read files or histograms it was not given.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

const W: f64 = 820.0;
const H: f64 = 480.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
/// Decades of 1/(1−p) on the x axis: 0 … 99.999 %.
const DECADES: f64 = 5.0;
const COLOURS: [&str; 6] = [
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#666666",
];

/// Points (decade position, µs) sampled along a histogram.
pub fn curve(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    (0..=250)
        .map(|i| {
            let x = DECADES * i as f64 / 250.0;
            let q = 1.0 - 10f64.powf(-x);
            (x, h.value_at_quantile(q) as f64 / 1000.0)
        })
        .collect()
}

/// Renders the plot; `series` are (label, histogram) pairs.
pub fn svg(title: &str, series: &[(String, &Histogram<u64>)]) -> String {
    let curves: Vec<(String, Vec<(f64, f64)>)> =
        series.iter().map(|(l, h)| (l.clone(), curve(h))).collect();
    let values = curves.iter().flat_map(|(_, c)| c.iter().map(|p| p.1));
    let (lo, hi) = values.fold((f64::INFINITY, 1.0f64), |(lo, hi), v| {
        (lo.min(v.max(1.0)), hi.max(v))
    });
    let lo = 10f64.powf(lo.min(hi).log10().floor());
    let hi = 10f64.powf(hi.log10().ceil()).max(lo * 10.0);
    let pw = W - LEFT - RIGHT;
    let ph = H - TOP - BOTTOM;
    let sx = |x: f64| LEFT + x / DECADES * pw;
    let sy = |y: f64| TOP + ph - (y.max(lo).log10() - lo.log10()) / (hi.log10() - lo.log10()) * ph;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" font-size="15" text-anchor="middle">{}</text>"#,
        LEFT + pw / 2.0,
        esc(title)
    );
    for (i, label) in ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
        .iter()
        .enumerate()
    {
        let x = sx(i as f64);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/>"##,
            TOP + ph
        );
        let _ = writeln!(
            s,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
            TOP + ph + 18.0
        );
    }
    let mut v = lo;
    while v <= hi * 1.001 {
        let y = sy(v);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/>"##,
            LEFT + pw
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            y + 4.0,
            label(v)
        );
        v *= 10.0;
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">percentile</text>"#,
        LEFT + pw / 2.0,
        H - 10.0
    );
    let _ = writeln!(
        s,
        r#"<text x="16" y="{:.1}" text-anchor="middle" transform="rotate(-90 16 {:.1})">latency (log scale)</text>"#,
        TOP + ph / 2.0,
        TOP + ph / 2.0
    );
    for (i, (label, c)) in curves.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let pts: Vec<String> = c
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            pts.join(" ")
        );
        let ly = TOP + 10.0 + 20.0 * i as f64;
        let lx = W - RIGHT + 15.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="3"/>"#,
            lx + 20.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}">{}</text>"#,
            lx + 26.0,
            ly + 4.0,
            esc(label)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// An axis label for a latency in µs.
fn label(us: f64) -> String {
    match us {
        u if u >= 1e6 => format!("{:.0} s", u / 1e6),
        u if u >= 1e3 => format!("{:.0} ms", u / 1e3),
        u => format!("{u:.0} µs"),
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plot_has_a_curve_per_series_and_monotone_points() {
        let mut a = crate::stats::histogram();
        for v in 1..=1000u64 {
            a.record(v * 1000).unwrap();
        }
        let c = curve(&a);
        assert!(c.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
        assert!((c[0].1 - 1.0).abs() < 0.01 && (c.last().unwrap().1 - 1000.0).abs() < 1.0);
        let s = svg("t <1>", &[("a".into(), &a), ("b".into(), &a)]);
        assert_eq!(s.matches("<polyline").count(), 2);
        assert!(s.contains("t &lt;1&gt;") && s.contains("99.999%") && s.ends_with("</svg>\n"));
        // Log axis from the decade below the smallest value to the one above the largest.
        assert!(s.contains(">1 µs<") && s.contains(">100 µs<") && s.contains(">1 ms<"));
    }
}
