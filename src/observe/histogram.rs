//! A fixed-bucket latency histogram: one per shard per series, written by
//! that shard alone, merged with the other shards' only when `/metrics` is
//! scraped.
//!
//! Owns: the bucket bounds, recording one observation, snapshots, merging
//! them and their Prometheus text (`_bucket{le=…}` cumulative, `_sum` in
//! seconds, `_count`). Must never: allocate, lock or read a clock when
//! recording (the caller measured already), or be written by two threads.

use super::metrics::Counter;
use super::prom;

/// Upper bounds of the finite buckets in ns, with their `le` label. A
/// 1-2.5-5 series from 100 µs (a proxied request on loopback) to 10 s (a
/// slow upstream near its timeout): 16 buckets, every decade in three steps.
const BOUNDS: [(u64, &str); 16] = [
    (100_000, "0.0001"),
    (250_000, "0.00025"),
    (500_000, "0.0005"),
    (1_000_000, "0.001"),
    (2_500_000, "0.0025"),
    (5_000_000, "0.005"),
    (10_000_000, "0.01"),
    (25_000_000, "0.025"),
    (50_000_000, "0.05"),
    (100_000_000, "0.1"),
    (250_000_000, "0.25"),
    (500_000_000, "0.5"),
    (1_000_000_000, "1"),
    (2_500_000_000, "2.5"),
    (5_000_000_000, "5"),
    (10_000_000_000, "10"),
];

/// Buckets kept: the finite ones and `+Inf`.
pub const BUCKETS: usize = BOUNDS.len() + 1;

/// The bucket an observation of `ns` falls in: the first whose bound is at
/// least `ns` (Prometheus buckets are `le`, inclusive), `BUCKETS - 1` for `+Inf`.
#[inline]
pub fn bucket(ns: u64) -> usize {
    // A binary search over 16 bounds: four comparisons.
    BOUNDS.partition_point(|&(bound, _)| bound < ns)
}

/// One shard's histogram: a count per bucket (not cumulative) and the sum.
#[derive(Default)]
pub struct Histogram {
    counts: [Counter; BUCKETS],
    sum_ns: Counter,
}

impl Histogram {
    /// Records one observation of `ns` nanoseconds. Only the owning shard may call this.
    #[inline]
    pub fn record(&self, ns: u64) {
        self.counts[bucket(ns)].inc();
        self.sum_ns.add(ns);
    }
}

/// A histogram read at one moment, or several shards' added together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Observations per bucket (not cumulative), `+Inf` last.
    pub counts: [u64; BUCKETS],
    /// Sum of the observations in ns.
    pub sum_ns: u64,
}

impl Snapshot {
    /// Adds the live histogram `h` (relaxed reads: a shard recording at the
    /// same moment may show in `counts` and not yet in `sum_ns`, or the other
    /// way round; never in half a bucket).
    pub fn add(&mut self, h: &Histogram) {
        for (c, v) in self.counts.iter_mut().zip(&h.counts) {
            *c = c.wrapping_add(v.get());
        }
        self.sum_ns = self.sum_ns.wrapping_add(h.sum_ns.get());
    }

    /// Adds another snapshot (another shard's).
    pub fn merge(&mut self, other: &Snapshot) {
        for (c, v) in self.counts.iter_mut().zip(&other.counts) {
            *c = c.wrapping_add(*v);
        }
        self.sum_ns = self.sum_ns.wrapping_add(other.sum_ns);
    }

    /// Observations in all.
    pub fn count(&self) -> u64 {
        self.counts.iter().fold(0, |a, &c| a.wrapping_add(c))
    }

    /// The sample lines of series `name{labels}` (`labels` is `k="v",…` or
    /// empty); `_count` is the `+Inf` bucket, so the two always agree.
    pub fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cum = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            cum = cum.wrapping_add(c);
            let le = BOUNDS.get(i).map_or("+Inf", |b| b.1);
            prom::line(
                out,
                &[name, "_bucket{", labels, sep, "le=\"", le, "\"}"],
                cum,
            );
        }
        let (open, close) = match labels.is_empty() {
            true => ("", ""),
            false => ("{", "}"),
        };
        for p in [name, "_sum", open, labels, close, " "] {
            out.push_str(p);
        }
        prom::push_secs(out, self.sum_ns);
        out.push('\n');
        prom::line(out, &[name, "_count", open, labels, close], cum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_rise_and_match_their_labels() {
        for w in BOUNDS.windows(2) {
            assert!(w[0].0 < w[1].0);
        }
        for (ns, le) in BOUNDS {
            let secs: f64 = le.parse().unwrap();
            assert_eq!((secs * 1e9).round() as u64, ns, "{le}");
        }
    }

    #[test]
    fn an_observation_on_a_bound_falls_in_that_bucket() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(100_000), 0);
        assert_eq!(bucket(100_001), 1);
        assert_eq!(bucket(250_000), 1);
        assert_eq!(bucket(999_999), 3);
        assert_eq!(bucket(1_000_000), 3);
        assert_eq!(bucket(10_000_000_000), 15);
        assert_eq!(bucket(10_000_000_001), BUCKETS - 1);
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn record_counts_one_bucket_and_the_sum() {
        let h = Histogram::default();
        h.record(50_000);
        h.record(3_000_000);
        h.record(3_000_000);
        h.record(20_000_000_000);
        let mut s = Snapshot::default();
        s.add(&h);
        assert_eq!(s.counts[0], 1);
        assert_eq!(s.counts[bucket(3_000_000)], 2);
        assert_eq!(s.counts[BUCKETS - 1], 1);
        assert_eq!(s.count(), 4);
        assert_eq!(s.sum_ns, 50_000 + 6_000_000 + 20_000_000_000);
    }

    #[test]
    fn shards_merge_bucket_by_bucket() {
        let (a, b) = (Histogram::default(), Histogram::default());
        a.record(200_000);
        b.record(200_000);
        b.record(2_000_000_000);
        let (mut sa, mut sb) = (Snapshot::default(), Snapshot::default());
        sa.add(&a);
        sb.add(&b);
        let mut all = Snapshot::default();
        all.merge(&sa);
        all.merge(&sb);
        let mut direct = Snapshot::default();
        direct.add(&a);
        direct.add(&b);
        assert_eq!(all, direct);
        assert_eq!(all.counts[1], 2);
        assert_eq!(all.counts[bucket(2_000_000_000)], 1);
        assert_eq!(all.count(), 3);
        assert_eq!(all.sum_ns, 2_000_400_000);
    }

    #[test]
    fn renders_cumulative_buckets_sum_in_seconds_and_count() {
        let h = Histogram::default();
        h.record(100_000);
        h.record(300_000);
        h.record(11_000_000_000);
        let mut s = Snapshot::default();
        s.add(&h);
        let mut out = String::new();
        s.render(&mut out, "x_seconds", "route=\"a\"");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), BUCKETS + 2);
        assert_eq!(lines[0], "x_seconds_bucket{route=\"a\",le=\"0.0001\"} 1");
        assert_eq!(lines[1], "x_seconds_bucket{route=\"a\",le=\"0.00025\"} 1");
        assert_eq!(lines[2], "x_seconds_bucket{route=\"a\",le=\"0.0005\"} 2");
        assert_eq!(lines[15], "x_seconds_bucket{route=\"a\",le=\"10\"} 2");
        assert_eq!(lines[16], "x_seconds_bucket{route=\"a\",le=\"+Inf\"} 3");
        assert_eq!(lines[17], "x_seconds_sum{route=\"a\"} 11.0004");
        assert_eq!(lines[18], "x_seconds_count{route=\"a\"} 3");
    }

    #[test]
    fn renders_without_labels() {
        let mut out = String::new();
        Snapshot::default().render(&mut out, "y", "");
        assert!(out.starts_with("y_bucket{le=\"0.0001\"} 0\n"), "{out}");
        assert!(out.ends_with("y_sum 0\ny_count 0\n"), "{out}");
    }
}
