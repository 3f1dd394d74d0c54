//! Circuit breaking (`max_connections`, `max_pending`, `max_requests`):
//! Envoy's thresholds, one count of each for all shards of an upstream.
//! Beyond a threshold the caller answers a fast 503 `upstream_overloaded`.
//!
//! Owns: the three shared counts, the overflow count, and the guards that
//! give a slot back when dropped, so every way an attempt or a connection
//! ends frees it. Must never: let a count pass its limit, even for an
//! instant another shard could see (the compare-exchange is the admission);
//! block or queue.
//!
//! A request and a pending slot are taken and freed once per attempt, so
//! each of those counts is written twice per attempt by whichever shard
//! runs it: the price of one exact limit across shards. Each count sits
//! alone on its cache line, and a full count is refused without a write.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::AcqRel, Ordering::Acquire};
use std::sync::Arc;

use crate::config::upstream::Limits;

/// The breaker of one upstream, shared by all shards.
#[derive(Debug)]
pub struct Breaker {
    requests: Count,
    pending: Count,
    /// In an `Arc` so a `ConnSlot` can live in a pooled connection.
    connections: Arc<Count>,
    overflows: Overflows,
}

/// The breaker's counts for the admin API and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BreakerCounts {
    /// Open connections (pooled or busy).
    pub connections: u32,
    /// Requests waiting for a new connection.
    pub pending: u32,
    /// Requests in flight.
    pub requests: u32,
    /// Slots refused since start, all three kinds together.
    pub overflows: u64,
}

#[derive(Debug)]
#[repr(align(128))]
struct Count {
    n: AtomicU32,
    max: u32,
}

#[derive(Debug, Default)]
#[repr(align(128))]
struct Overflows(AtomicU64);

impl Count {
    fn new(max: u32) -> Count {
        Count {
            n: AtomicU32::new(0),
            max,
        }
    }

    /// One more, unless at the limit; a CAS loop, so a refused shard never
    /// makes another one fail spuriously.
    fn take(&self) -> bool {
        let max = self.max;
        self.n
            .fetch_update(AcqRel, Acquire, |n| (n < max).then_some(n + 1))
            .is_ok()
    }

    fn give(&self) {
        self.n.fetch_sub(1, AcqRel);
    }
}

impl Breaker {
    /// A breaker with these thresholds and nothing in use.
    pub fn new(limits: Limits) -> Breaker {
        Breaker {
            requests: Count::new(limits.max_requests),
            pending: Count::new(limits.max_pending),
            connections: Arc::new(Count::new(limits.max_connections)),
            overflows: Overflows::default(),
        }
    }

    /// A request slot, or `None` with `max_requests` in flight.
    pub fn request(&self) -> Option<RequestSlot<'_>> {
        self.admit(&self.requests)
            .then(|| RequestSlot(&self.requests))
    }

    /// A slot to wait for a new connection, or `None` beyond `max_pending`.
    pub fn pending(&self) -> Option<PendingSlot<'_>> {
        self.admit(&self.pending)
            .then(|| PendingSlot(&self.pending))
    }

    /// A slot for one open connection, or `None` beyond `max_connections`.
    /// It owns a handle on the count, so the pool keeps it inside the
    /// connection and dropping the connection, on any path, frees it.
    pub fn connection(&self) -> Option<ConnSlot> {
        self.admit(&self.connections)
            .then(|| ConnSlot(Arc::clone(&self.connections)))
    }

    /// Current counts and overflows since start.
    pub fn counts(&self) -> BreakerCounts {
        BreakerCounts {
            connections: self.connections.n.load(Acquire),
            pending: self.pending.n.load(Acquire),
            requests: self.requests.n.load(Acquire),
            overflows: self.overflows.0.load(Acquire),
        }
    }

    fn admit(&self, count: &Count) -> bool {
        let ok = count.take();
        if !ok {
            self.overflows.0.fetch_add(1, AcqRel);
        }
        ok
    }
}

/// A request in flight; dropping it frees the slot.
#[derive(Debug)]
#[must_use = "the slot is freed when this is dropped"]
pub struct RequestSlot<'a>(&'a Count);

/// A request waiting for a connection to open; dropping it frees the slot.
#[derive(Debug)]
#[must_use = "the slot is freed when this is dropped"]
pub struct PendingSlot<'a>(&'a Count);

/// An open upstream connection; dropping it frees the slot. `'static` and
/// `Send`, so it is stored in the pooled connection itself.
#[derive(Debug)]
#[must_use = "the slot is freed when this is dropped"]
pub struct ConnSlot(Arc<Count>);

impl Drop for RequestSlot<'_> {
    fn drop(&mut self) {
        self.0.give();
    }
}

impl Drop for PendingSlot<'_> {
    fn drop(&mut self) {
        self.0.give();
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.0.give();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering::SeqCst};

    fn limits(n: u32) -> Limits {
        Limits {
            max_connections: n,
            max_pending: n,
            max_requests: n,
        }
    }

    #[test]
    fn exact_limits_freed_on_drop_and_overflows_counted() {
        let b = Breaker::new(Limits {
            max_connections: 1,
            max_pending: 2,
            max_requests: 3,
        });
        let r: Vec<_> = (0..3).filter_map(|_| b.request()).collect();
        let p: Vec<_> = (0..3).filter_map(|_| b.pending()).collect();
        let c: Vec<_> = (0..3).filter_map(|_| b.connection()).collect();
        assert_eq!((r.len(), p.len(), c.len()), (3, 2, 1));
        assert!(b.request().is_none());
        let full = BreakerCounts {
            connections: 1,
            pending: 2,
            requests: 3,
            overflows: 4,
        };
        assert_eq!(b.counts(), full);
        drop((r, p, c));
        assert_eq!(
            b.counts(),
            BreakerCounts {
                overflows: 4,
                ..BreakerCounts::default()
            }
        );
        assert!(b.request().is_some() && b.connection().is_some());
    }

    #[test]
    fn a_conn_slot_outlives_the_borrow_and_moves_between_threads() {
        fn owned<T: Send + 'static>(t: T) -> T {
            t
        }
        let b = Breaker::new(limits(1));
        let slot = owned(b.connection().expect("slot"));
        std::thread::spawn(move || drop(slot))
            .join()
            .expect("thread");
        assert_eq!(b.counts().connections, 0);
    }

    #[test]
    fn zero_admits_nothing() {
        let b = Breaker::new(limits(0));
        assert!(b.request().is_none() && b.pending().is_none() && b.connection().is_none());
        assert_eq!(b.counts().overflows, 3);
    }

    /// Holders count themselves after taking a slot and before freeing it
    /// (yielding in between, so that holders pile up); with 4 threads
    /// racing, no kind ever has more holders than its limit, and every
    /// refusal is an overflow.
    #[test]
    fn never_exceeds_a_limit_across_threads() {
        for max in [1, 2, 3] {
            let b = Arc::new(Breaker::new(limits(max)));
            let held: Arc<[AtomicI64; 3]> = Arc::new(Default::default());
            let refused = Arc::new(AtomicU64::new(0));
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let (b, held, refused) = (b.clone(), held.clone(), refused.clone());
                    std::thread::spawn(move || {
                        for i in 0..6000 {
                            let got = match i % 3 {
                                0 => b.request().map(|s| hold(&held[0], max, s)),
                                1 => b.pending().map(|s| hold(&held[1], max, s)),
                                _ => b.connection().map(|s| hold(&held[2], max, s)),
                            };
                            if got.is_none() {
                                refused.fetch_add(1, SeqCst);
                            }
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().expect("thread");
            }
            let c = b.counts();
            assert_eq!((c.requests, c.pending, c.connections), (0, 0, 0));
            assert_eq!(c.overflows, refused.load(SeqCst));
        }
    }

    /// Counts itself in `held` while holding `slot`, checking the limit.
    fn hold<S>(held: &AtomicI64, max: u32, slot: S) {
        let n = held.fetch_add(1, SeqCst) + 1;
        assert!(n <= i64::from(max), "{n} holders of {max} slots");
        std::thread::yield_now();
        held.fetch_sub(1, SeqCst);
        drop(slot);
    }
}
