//! A shard's bounded free list of reusable allocations (working sets, body
//! buffers) that gives back what a burst left behind.
//!
//! Owns: the list and its low-water mark. Must never: be shared across
//! shards (plain `RefCell`), or hold more than its bound.

use std::cell::{Cell, RefCell};

/// Spare `T`s, at most `max` of them.
pub struct Spares<T> {
    free: RefCell<Vec<T>>,
    /// The shortest the list has been since the last `trim`: that many
    /// spares sat unused for the whole period.
    low: Cell<usize>,
    max: usize,
}

impl<T> Spares<T> {
    /// An empty list that keeps at most `max` spares.
    pub const fn new(max: usize) -> Spares<T> {
        Spares {
            free: RefCell::new(Vec::new()),
            low: Cell::new(0),
            max,
        }
    }

    /// A spare, if there is one.
    pub fn take(&self) -> Option<T> {
        let mut free = self.free.borrow_mut();
        let t = free.pop();
        self.low.set(self.low.get().min(free.len()));
        t
    }

    /// Whether `give` would keep one more.
    pub fn has_room(&self) -> bool {
        self.free.borrow().len() < self.max
    }

    /// Keeps `t` for reuse, or drops it when the list is full.
    pub fn give(&self, t: T) {
        let mut free = self.free.borrow_mut();
        if free.len() < self.max {
            free.push(t);
        }
    }

    /// Frees the spares that stayed unused since the last call (the shard
    /// calls it once a second), so a burst does not leave its peak behind
    /// for good; returns how many were freed.
    pub fn trim(&self) -> usize {
        let mut free = self.free.borrow_mut();
        let n = self.low.get().min(free.len());
        let keep = free.len() - n;
        free.truncate(keep);
        self.low.set(free.len());
        n
    }
}

#[cfg(test)]
mod tests {
    use super::Spares;

    #[test]
    fn trim_frees_only_what_stayed_unused_for_a_whole_period() {
        let s = Spares::new(8);
        (0..5).for_each(|i| s.give(i));
        assert_eq!(s.trim(), 0, "nothing was measured unused yet");
        assert_eq!(s.take(), Some(4));
        assert_eq!(s.take(), Some(3));
        s.give(3);
        // The list went down to 3 during the period: 3 sat unused.
        assert_eq!(s.trim(), 3);
        assert_eq!(s.take(), Some(0));
        assert_eq!(s.take(), None);
        assert_eq!(s.trim(), 0);
    }

    #[test]
    fn give_beyond_the_bound_drops() {
        let s = Spares::new(2);
        (0..4).for_each(|i| s.give(i));
        assert!(!s.has_room());
        assert_eq!((s.take(), s.take(), s.take()), (Some(1), Some(0), None));
    }
}
