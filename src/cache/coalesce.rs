//! Request coalescing: while one request for a key is at the origin, the
//! others for that key, on any shard, wait for it instead of going too.
//!
//! The first miss for a key takes a `Lead`; later misses get a `Follow`
//! and wait, up to a bound, for the lead to end. A lead ends when it is
//! dropped: after its response was stored (the followers then find it in
//! the store), or after it found the response not storable or failed (the
//! followers then go to the origin themselves, as they would have without
//! a cache: nothing is lost, it just is not saved). A follower whose bound
//! passes goes to the origin too, so a stalled origin cannot hold every
//! client of a key for longer than the bound.
//!
//! Followers poll the lead's state on a short timer that backs off (1 ms,
//! doubling to 16 ms) instead of being woken across threads: shards are
//! separate runtimes, only misses of one key at one moment ever wait, and
//! nginx's `proxy_cache_lock` polls the same way (every 500 ms).
//!
//! Owns: who leads a key and how followers wait. Must never: hold its lock
//! across an await, or make a follower wait past its bound.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The lead is still at the origin.
const PENDING: u8 = 0;
/// The lead stored its response.
const STORED: u8 = 1;
/// The lead ended without storing (not storable, too large, an error).
const ABANDONED: u8 = 2;

/// One key's trip to the origin.
#[derive(Default)]
struct Flight(AtomicU8);

/// The keys being fetched now, for one named cache.
#[derive(Default)]
pub struct Inflight {
    flights: Mutex<HashMap<Box<[u8]>, Arc<Flight>>>,
}

/// Whether this request goes to the origin or waits.
pub enum Join<'a> {
    /// Go; drop the lead (after `stored` if the response was stored).
    Lead(Lead<'a>),
    /// Wait for the lead (`Follow::wait`).
    Follow(Follow),
}

/// The right and duty to fetch a key; dropping it releases the followers.
pub struct Lead<'a> {
    inflight: &'a Inflight,
    key: Box<[u8]>,
    flight: Arc<Flight>,
}

/// A wait for another request's fetch of the same key.
pub struct Follow {
    flight: Arc<Flight>,
}

/// How a follower's wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// The lead stored its response: look again.
    Stored,
    /// The lead stored nothing: go to the origin.
    Abandoned,
    /// The bound passed first: go to the origin.
    TimedOut,
}

impl Inflight {
    /// Leads `key` if no one does, else follows the one who does.
    pub fn join(&self, key: &[u8]) -> Join<'_> {
        let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = flights.get(key) {
            return Join::Follow(Follow { flight: f.clone() });
        }
        let flight = Arc::new(Flight::default());
        flights.insert(key.into(), flight.clone());
        Join::Lead(Lead {
            inflight: self,
            key: key.into(),
            flight,
        })
    }

    /// Keys being fetched now (for tests and `/config`).
    pub fn len(&self) -> usize {
        self.flights.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// True when no key is being fetched.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Lead<'_> {
    /// The response is in the store; the followers will find it.
    pub fn stored(self) {
        self.flight.0.store(STORED, Ordering::Release);
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        // Out of the table first, so a request arriving after a failed
        // fetch leads a new one rather than following a finished one.
        let mut flights = self
            .inflight
            .flights
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        flights.remove(&self.key);
        drop(flights);
        let _ =
            self.flight
                .0
                .compare_exchange(PENDING, ABANDONED, Ordering::AcqRel, Ordering::Acquire);
    }
}

impl Follow {
    /// The lead's state now, if it has ended.
    pub fn ended(&self) -> Option<Waited> {
        match self.flight.0.load(Ordering::Acquire) {
            PENDING => None,
            STORED => Some(Waited::Stored),
            _ => Some(Waited::Abandoned),
        }
    }

    /// Waits for the lead to end, at most `bound` from `start`.
    pub async fn wait(&self, start: Instant, bound: Duration) -> Waited {
        let mut step = Duration::from_millis(1);
        loop {
            if let Some(w) = self.ended() {
                return w;
            }
            let left = bound.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Waited::TimedOut;
            }
            monoio::time::sleep(step.min(left)).await;
            step = (step * 2).min(Duration::from_millis(16));
        }
    }
}
