//! When one DNS upstream is asked again: after a good answer, its smallest
//! TTL clamped to `[dns_min_ttl_ms, dns_max_ttl_ms]`; after a failure, a
//! backoff from `dns_min_ttl_ms` doubling up to `dns_max_ttl_ms`.
//!
//! Owns: the due time and the length of the current run of failures, with
//! `now` passed in (tests drive it). Must never: read a clock.

use std::time::{Duration, Instant};

/// One upstream's timing.
#[derive(Debug)]
pub struct Schedule {
    min: Duration,
    max: Duration,
    next: Instant,
    failures: u32,
}

impl Schedule {
    /// Due at once; `min ≤ max` (the config guarantees it).
    pub fn new(min: Duration, max: Duration, now: Instant) -> Schedule {
        Schedule {
            min,
            max: max.max(min),
            next: now,
            failures: 0,
        }
    }

    /// When the next resolution is due.
    pub fn next(&self) -> Instant {
        self.next
    }

    /// Whether a resolution is due at `now`.
    pub fn due(&self, now: Instant) -> bool {
        now >= self.next
    }

    /// A good answer whose smallest TTL is `ttl`; returns the length of the
    /// run of failures it ends (0: there was none).
    pub fn succeeded(&mut self, now: Instant, ttl: Duration) -> u32 {
        self.next = now + ttl.clamp(self.min, self.max);
        std::mem::take(&mut self.failures)
    }

    /// A failed or empty resolution; returns the length of the run of
    /// failures, this one included (1: the run starts, worth a log line).
    pub fn failed(&mut self, now: Instant) -> u32 {
        self.failures = self.failures.saturating_add(1);
        // min × 2^(n−1), computed without overflow for any n.
        let doublings = (self.failures - 1).min(31);
        let backoff = self.min.saturating_mul(1 << doublings).min(self.max);
        self.next = now + backoff;
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn due_at_once_then_after_the_clamped_ttl() {
        let t0 = Instant::now();
        let mut s = Schedule::new(ms(1000), ms(300_000), t0);
        assert!(s.due(t0));
        assert_eq!(s.succeeded(t0, ms(30_000)), 0);
        assert_eq!(s.next(), t0 + ms(30_000));
        assert!(!s.due(t0 + ms(29_999)) && s.due(t0 + ms(30_000)));
        // TTL 0 and tiny TTLs wait the minimum; huge ones the maximum.
        s.succeeded(t0, ms(0));
        assert_eq!(s.next(), t0 + ms(1000));
        s.succeeded(t0, Duration::from_secs(u64::from(u32::MAX)));
        assert_eq!(s.next(), t0 + ms(300_000));
    }

    #[test]
    fn failures_back_off_doubling_up_to_the_maximum() {
        let t0 = Instant::now();
        let mut s = Schedule::new(ms(1000), ms(10_000), t0);
        let mut now = t0;
        let mut waits = Vec::new();
        for n in 1..=6 {
            assert_eq!(s.failed(now), n);
            waits.push(s.next() - now);
            now = s.next();
        }
        let want = [1000, 2000, 4000, 8000, 10_000, 10_000].map(ms);
        assert_eq!(waits, want);
        // A success ends the run and reports its length; the next failure starts over.
        assert_eq!(s.succeeded(now, ms(5000)), 6);
        assert_eq!(s.next(), now + ms(5000));
        assert_eq!(s.failed(now), 1);
        assert_eq!(s.next(), now + ms(1000));
    }

    #[test]
    fn a_long_run_never_overflows() {
        let t0 = Instant::now();
        let mut s = Schedule::new(ms(1), Duration::from_secs(86_400), t0);
        for _ in 0..100 {
            s.failed(t0);
        }
        assert_eq!(s.next(), t0 + Duration::from_secs(86_400));
    }
}
