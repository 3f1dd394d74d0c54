//! Lock-free publication of a value from the control plane to the shards.
//!
//! The writer (an admin thread, file reloader) swaps an `Arc` under a mutex and
//! then bumps a generation counter with `Release`. Each shard keeps its own
//! `Snapshot` and pays one `Acquire` load per request to see whether the
//! generation moved; only then does it take the mutex, once per change.
//! Must never: be locked by a shard on a request whose generation is unchanged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A value shared by every shard that the control plane may replace.
#[derive(Debug, Default)]
pub struct Published<T> {
    generation: AtomicU64,
    value: Mutex<Arc<T>>,
}

impl<T> Published<T> {
    /// Starts at generation 0 with `v`.
    pub fn new(v: T) -> Published<T> {
        Published {
            generation: AtomicU64::new(0),
            value: Mutex::new(Arc::new(v)),
        }
    }

    /// Replaces the value; shards pick it up on their next request.
    pub fn publish(&self, v: T) {
        let mut slot = self.value.lock().unwrap_or_else(|p| p.into_inner());
        *slot = Arc::new(v);
        // Bumped while holding the lock, so a reader that sees the new
        // generation and then locks gets at least this value.
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The current value (control plane, or a shard refreshing its snapshot).
    pub fn current(&self) -> Arc<T> {
        self.value.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The current generation.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

/// One shard's copy of a `Published` value and the generation it was read at.
#[derive(Debug)]
pub struct Snapshot<T> {
    generation: u64,
    value: Arc<T>,
}

impl<T> Snapshot<T> {
    /// Reads the current value.
    pub fn of(p: &Published<T>) -> Snapshot<T> {
        let generation = p.generation();
        Snapshot {
            generation,
            value: p.current(),
        }
    }

    /// Catches up with `p`; returns true when the value changed.
    #[inline]
    pub fn refresh(&mut self, p: &Published<T>) -> bool {
        let g = p.generation();
        if g == self.generation {
            return false;
        }
        self.value = p.current();
        self.generation = g;
        true
    }

    /// The generation of the value held.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The value held, shared.
    pub fn value(&self) -> Arc<T> {
        self.value.clone()
    }

    /// The value as of the last refresh.
    #[inline]
    pub fn get(&self) -> &T {
        &self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_sees_each_publication_once() {
        let p = Published::new(1);
        let mut s = Snapshot::of(&p);
        assert!(!s.refresh(&p));
        p.publish(2);
        assert!(s.refresh(&p));
        assert_eq!(*s.get(), 2);
        assert!(!s.refresh(&p));
        let t = std::thread::spawn({
            let p = Arc::new(Published::new(0u32));
            let q = p.clone();
            move || {
                q.publish(7);
                p
            }
        });
        let p = t.join().unwrap_or_else(|_| Arc::new(Published::new(0)));
        assert_eq!(*Snapshot::of(&p).get(), 7);
    }
}
