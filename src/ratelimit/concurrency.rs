//! `concurrency_limit`: in-flight requests on a route, across all shards.
//!
//! Owns: the shared in-flight count and the permit that gives a slot back
//! when dropped, so every way a request can end (response sent, gateway
//! error, client gone, timeout, task dropped) releases it. Must never: let
//! the count exceed the limit, even briefly visible to another shard's
//! admission (the increment is the admission), or block.

use std::sync::atomic::{AtomicU64, Ordering::AcqRel};

/// A route's concurrency limit; shared by every shard through the config.
#[derive(Debug)]
pub struct ConcurrencyLimit {
    max: u64,
    // Alone on its cache line: every shard writes it for every request.
    in_flight: Padded,
}

#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded(AtomicU64);

impl ConcurrencyLimit {
    /// A limit of `max` in-flight requests.
    pub fn new(max: u64) -> ConcurrencyLimit {
        ConcurrencyLimit {
            max,
            in_flight: Padded::default(),
        }
    }

    /// The configured maximum.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Requests holding a permit now.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.0.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Takes a slot, or `None` when `max` requests are in flight.
    #[inline]
    pub fn try_acquire(&self) -> Option<Permit<'_>> {
        // fetch_update is a CAS loop: the count never goes past `max`, so a
        // shard that fails never makes another shard fail spuriously.
        self.in_flight
            .0
            .fetch_update(AcqRel, std::sync::atomic::Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| Permit(self))
    }
}

/// A held slot; dropping it releases the slot.
#[derive(Debug)]
pub struct Permit<'a>(&'a ConcurrencyLimit);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.0.in_flight.0.fetch_sub(1, AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_released_on_drop() {
        let l = ConcurrencyLimit::new(2);
        let a = l.try_acquire().expect("first");
        let b = l.try_acquire().expect("second");
        assert!(l.try_acquire().is_none());
        drop(a);
        assert_eq!(l.in_flight(), 1);
        let c = l.try_acquire().expect("after release");
        drop((b, c));
        assert_eq!(l.in_flight(), 0);
    }

    #[test]
    fn never_exceeds_max_across_threads() {
        let l = std::sync::Arc::new(ConcurrencyLimit::new(3));
        let peak = std::sync::Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (l, peak) = (l.clone(), peak.clone());
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        if let Some(p) = l.try_acquire() {
                            peak.fetch_max(l.in_flight(), AcqRel);
                            drop(p);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        assert!(peak.load(std::sync::atomic::Ordering::SeqCst) <= 3);
        assert_eq!(l.in_flight(), 0);
    }
}
