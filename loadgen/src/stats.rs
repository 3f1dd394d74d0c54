//! Per-thread recording of samples and errors, merged at the end.
//!
//! One `Recorder` per load thread, written by that thread only (no atomics,
//! no locks per request). Values are nanoseconds in HdrHistograms with three
//! significant digits. It must never allocate per sample.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Largest value a histogram tracks: one minute, in nanoseconds.
const MAX_NS: u64 = 60_000_000_000;

/// A fresh nanosecond histogram.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_NS, 3).expect("static histogram bounds are valid")
}

/// Errors by kind; a non-2xx response is counted by its status.
#[derive(Debug, Default, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Errors {
    /// TCP connect or TLS handshake failures.
    pub connect: u64,
    /// No complete response within the request timeout.
    pub timeout: u64,
    /// The connection failed or closed while reading, or the response was malformed.
    pub read: u64,
    /// The request could not be written.
    pub write: u64,
    /// Responses with a status outside 2xx, by status.
    pub status: BTreeMap<u16, u64>,
}

impl Errors {
    /// Every error, all kinds together.
    pub fn total(&self) -> u64 {
        self.connect + self.timeout + self.read + self.write + self.status.values().sum::<u64>()
    }

    fn merge(&mut self, o: &Errors) {
        self.connect += o.connect;
        self.timeout += o.timeout;
        self.read += o.read;
        self.write += o.write;
        for (s, n) in &o.status {
            *self.status.entry(*s).or_default() += n;
        }
    }
}

/// The four timings of one completed request.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Completion minus intended send time (coordinated-omission corrected).
    pub latency: Duration,
    /// Completion minus actual send time.
    pub service: Duration,
    /// First response byte minus actual send time.
    pub ttfb: Duration,
    /// Actual send minus intended send time.
    pub send_delay: Duration,
}

/// Everything one thread (or, merged, a whole run) measured.
#[derive(Clone)]
pub struct Recorder {
    /// Latency from the intended send time.
    pub latency: Histogram<u64>,
    /// Latency from the actual send time.
    pub service: Histogram<u64>,
    /// Time to first byte from the actual send time.
    pub ttfb: Histogram<u64>,
    /// How late each request left against its schedule.
    pub send_delay: Histogram<u64>,
    /// Errors by kind.
    pub errors: Errors,
    /// Completed responses (any status).
    pub responses: u64,
    /// Request bytes written.
    pub bytes_sent: u64,
    /// Response bytes read.
    pub bytes_received: u64,
    /// Requests written (or attempted) inside the measured window.
    pub sent: u64,
    /// Requests attempted including warm-up, for the progress line only.
    pub attempts: u64,
    /// Scheduled requests that were never sent before the run ended (open loop).
    pub missed: u64,
    /// Connections opened.
    pub connects: u64,
    /// Connections the server ended, each forcing a reconnect: a response
    /// that said `connection: close` (or was delimited by the close), or an
    /// end of stream, reset or broken pipe while writing a request or
    /// reading a response. Not the connections dropped by us (a timeout, a
    /// malformed response, the end of the run). Warm-up included, as
    /// `connects`.
    pub closed_by_peer: u64,
    /// TLS handshakes in the measured window that were full ones.
    pub tls_full: u64,
    /// TLS handshakes in the measured window that resumed a session.
    pub tls_resumed: u64,
    /// What the first measured TLS handshake negotiated (version, suite, group).
    pub tls_negotiated: Option<String>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            latency: histogram(),
            service: histogram(),
            ttfb: histogram(),
            send_delay: histogram(),
            errors: Errors::default(),
            responses: 0,
            sent: 0,
            attempts: 0,
            bytes_sent: 0,
            bytes_received: 0,
            missed: 0,
            connects: 0,
            closed_by_peer: 0,
            tls_full: 0,
            tls_resumed: 0,
            tls_negotiated: None,
        }
    }
}

fn ns(d: Duration) -> u64 {
    (d.as_nanos() as u64).clamp(1, MAX_NS)
}

impl Recorder {
    /// Records one completed response with `status`.
    pub fn record(&mut self, s: Sample, status: u16) {
        self.latency.saturating_record(ns(s.latency));
        self.service.saturating_record(ns(s.service));
        self.ttfb.saturating_record(ns(s.ttfb));
        self.send_delay.saturating_record(ns(s.send_delay));
        self.responses += 1;
        if !(200..300).contains(&status) {
            *self.errors.status.entry(status).or_default() += 1;
        }
    }

    /// Counts the handshake of a new connection (nothing for plain TCP).
    pub fn tls_handshake(&mut self, c: &crate::conn::Conn) {
        match c.tls_resumed() {
            Some(true) => self.tls_resumed += 1,
            Some(false) => self.tls_full += 1,
            None => return,
        }
        if self.tls_negotiated.is_none() {
            self.tls_negotiated = c.tls_negotiated();
        }
    }

    /// Adds another recorder's samples and counts into this one.
    pub fn merge(&mut self, o: &Recorder) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.latency.add(&o.latency);
        let _ = self.service.add(&o.service);
        let _ = self.ttfb.add(&o.ttfb);
        let _ = self.send_delay.add(&o.send_delay);
        self.errors.merge(&o.errors);
        self.responses += o.responses;
        self.sent += o.sent;
        self.attempts += o.attempts;
        self.bytes_sent += o.bytes_sent;
        self.bytes_received += o.bytes_received;
        self.missed += o.missed;
        self.connects += o.connects;
        self.closed_by_peer += o.closed_by_peer;
        self.tls_full += o.tls_full;
        self.tls_resumed += o.tls_resumed;
        if self.tls_negotiated.is_none() {
            self.tls_negotiated.clone_from(&o.tls_negotiated);
        }
    }
}

/// Percentiles of one histogram, in microseconds.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Smallest sample.
    pub min: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Standard deviation.
    pub stdev: f64,
    /// 50th percentile.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p99_9: f64,
    /// 99.99th percentile.
    pub p99_99: f64,
    /// Largest sample.
    pub max: f64,
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

impl Percentiles {
    /// Summarises `h` (nanoseconds) in microseconds.
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles {
                count: 0,
                min: 0.0,
                mean: 0.0,
                stdev: 0.0,
                p50: 0.0,
                p90: 0.0,
                p99: 0.0,
                p99_9: 0.0,
                p99_99: 0.0,
                max: 0.0,
            };
        }
        Percentiles {
            count: h.len(),
            min: us(h.min()),
            mean: h.mean() / 1000.0,
            stdev: h.stdev() / 1000.0,
            p50: us(h.value_at_quantile(0.5)),
            p90: us(h.value_at_quantile(0.9)),
            p99: us(h.value_at_quantile(0.99)),
            p99_9: us(h.value_at_quantile(0.999)),
            p99_99: us(h.value_at_quantile(0.9999)),
            max: us(h.max()),
        }
    }

    /// The named percentiles in display order, for tables.
    pub fn rows(&self) -> [(&'static str, f64); 7] {
        [
            ("p50", self.p50),
            ("p90", self.p90),
            ("p99", self.p99),
            ("p99.9", self.p99_9),
            ("p99.99", self.p99_99),
            ("max", self.max),
            ("mean", self.mean),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(us: u64) -> Sample {
        let d = Duration::from_micros(us);
        Sample {
            latency: d,
            service: d,
            ttfb: d,
            send_delay: Duration::ZERO,
        }
    }

    #[test]
    fn percentiles_of_a_uniform_distribution() {
        let mut r = Recorder::default();
        for v in 1..=10_000 {
            r.record(sample(v), 200);
        }
        let p = Percentiles::of(&r.latency);
        assert_eq!(p.count, 10_000);
        // Three significant digits: within 0.1 % of the exact value.
        for (got, want) in [
            (p.p50, 5000.0),
            (p.p90, 9000.0),
            (p.p99, 9900.0),
            (p.p99_9, 9990.0),
            (p.max, 10_000.0),
        ] {
            assert!((got - want).abs() / want < 0.001, "{got} vs {want}");
        }
        assert!((p.mean - 5000.5).abs() < 5.0, "{}", p.mean);
        assert!((p.min - 1.0).abs() < 0.01);
    }

    #[test]
    fn merge_adds_samples_and_errors() {
        let mut a = Recorder::default();
        let mut b = Recorder::default();
        for _ in 0..99 {
            a.record(sample(100), 200);
        }
        b.record(sample(50_000), 503);
        b.errors.connect = 2;
        b.closed_by_peer = 4;
        a.closed_by_peer = 1;
        a.merge(&b);
        let p = Percentiles::of(&a.latency);
        assert_eq!(p.count, 100);
        assert!((p.p99 - 100.0).abs() < 0.2, "{}", p.p99);
        assert!((p.max - 50_000.0).abs() / 50_000.0 < 0.001);
        assert_eq!(a.errors.status.get(&503), Some(&1));
        assert_eq!(a.errors.total(), 3);
        assert_eq!(a.responses, 100);
        assert_eq!(a.closed_by_peer, 5);
    }

    #[test]
    fn empty_histogram_reports_zeroes() {
        assert_eq!(Percentiles::of(&histogram()).count, 0);
    }
}
