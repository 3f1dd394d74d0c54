//! The `failure_ratio` window of one target: two rotating buckets of half a
//! window each, so the ratio covers between half a window and a whole one.
//!
//! Owns: the request and failure counts of the last window. Must never:
//! block; it is written on every report while the ratio rule is on (off by
//! default), a cost the consecutive-failures rule does not have.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counts saturate at 24 bits (16.7 M exchanges per half window).
const COUNT_MAX: u64 = (1 << 24) - 1;

/// Each bucket packs (half-window number mod 2^16, requests, failures).
/// A bucket untouched for exactly a multiple of 2^16 half windows would be
/// taken for a current one; its counts then only add to the ratio's base.
#[derive(Debug, Default)]
pub(super) struct Window([AtomicU64; 2]);

fn unpack(b: u64) -> (u64, u64, u64) {
    (b >> 48, (b >> 24) & COUNT_MAX, b & COUNT_MAX)
}

fn pack(epoch: u64, requests: u64, failures: u64) -> u64 {
    ((epoch & 0xffff) << 48) | (requests << 24) | failures
}

impl Window {
    /// Counts one exchange at `now`; for a failure, whether the failure
    /// ratio over the window reached `ratio` with at least `min` requests.
    pub(super) fn record(&self, failure: bool, now: u64, half: u64, min: u32, ratio: f64) -> bool {
        let epoch = now / half;
        let bucket = &self.0[(epoch & 1) as usize];
        let mut cur = bucket.load(Relaxed);
        let (requests, failures) = loop {
            let (e, r, f) = unpack(cur);
            let (r, f) = if e == epoch & 0xffff { (r, f) } else { (0, 0) };
            if r == COUNT_MAX {
                break (r, f);
            }
            let (r, f) = (r + 1, f + u64::from(failure));
            match bucket.compare_exchange_weak(cur, pack(epoch, r, f), Relaxed, Relaxed) {
                Ok(_) => break (r, f),
                Err(actual) => cur = actual,
            }
        };
        if !failure {
            return false;
        }
        let (e, r, f) = unpack(self.0[((epoch + 1) & 1) as usize].load(Relaxed));
        let (r, f) = if e == epoch.wrapping_sub(1) & 0xffff {
            (requests + r, failures + f)
        } else {
            (requests, failures)
        };
        r >= u64::from(min) && f as f64 >= ratio * r as f64
    }

    /// Forgets every count (on ejection and return).
    pub(super) fn clear(&self) {
        for b in &self.0 {
            b.store(0, Relaxed);
        }
    }
}
