//! The per-source budget of new keys: how many keys one source (a client
//! IPv4 address, or an IPv6 /64) may add to a limit's table per period, so
//! that one client cannot fill the table and lock everyone else out.
//!
//! A count-min sketch of windowed counters: two rows of `ROW` 64-bit
//! atomic cells (window index | count), a source counted in one cell per
//! row, chosen by the limit's seeded hash. A source's count is the smaller
//! of its two cells (the first row's read after the second row's
//! increment, which keeps concurrent reservations exact: see `reserve`). Sources that share a cell only ever make each other's
//! count larger: a collision can refuse a new key early, never let a source
//! past its budget (and with a random seed nobody can aim one).
//!
//! Owns: the budget's counters and its bound. Must never: block, allocate
//! or make a syscall (it runs on the check path, for new keys only).

use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{
    AtomicU64,
    Ordering::{AcqRel, Acquire},
};

use super::key::Seed;

/// Cells per row (two rows: 16 KiB per limit).
const ROW: usize = 1024;

/// The source of a request: its IPv4 address, or its IPv6 /64 (one host
/// or customer holds a whole /64, so counting /128s would bound nothing).
pub fn source_of(seed: &Seed, ip: IpAddr) -> u64 {
    let mut h = seed.build_hasher();
    match ip {
        IpAddr::V4(a) => h.write(&a.octets()),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => h.write(&v4.octets()),
            None => h.write(&a.octets()[..8]),
        },
    }
    // A tag, so a source hash is never a key hash of the same bytes.
    h.write_u8(0x5a);
    h.finish()
}

/// A reservation of one new key, kept if the key takes a slot and given
/// back (`NewKeys::refund`) otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket {
    cells: [usize; 2],
    window: u64,
}

/// One limit's new-key counters.
pub struct NewKeys {
    cells: Box<[AtomicU64]>,
    budget: u64,
    period: u64,
}

impl NewKeys {
    /// At most `budget` new keys per source per aligned window of
    /// `period` ns.
    pub fn new(budget: u64, period: u64) -> NewKeys {
        NewKeys {
            cells: (0..2 * ROW).map(|_| AtomicU64::new(0)).collect(),
            budget: budget.clamp(1, u64::from(u32::MAX) - 1),
            period: period.max(1),
        }
    }

    /// Reserves one new key for `source` at `now`; `Err` carries the ns
    /// until the window ends, when the source has used its budget.
    pub fn reserve(&self, source: u64, now: u64) -> Result<Ticket, u64> {
        self.judge(self.count_first(source, now), now)
    }

    /// The first half of `reserve`: counts the reservation in its first
    /// row (split out so a test can interleave two reservations).
    fn count_first(&self, source: u64, now: u64) -> Ticket {
        let window = (now / self.period + 1) & 0xffff_ffff;
        let t = Ticket {
            cells: [
                (source as usize) % ROW,
                ROW + ((source >> 32) as usize) % ROW,
            ],
            window,
        };
        self.add(t.cells[0], window);
        t
    }

    /// The second half: counts the second row, then judges by that count
    /// and the first row's count read after it. The kept reservation whose
    /// second-row increment came last sees every other kept one in both
    /// (each counted its first row before its second), so no interleaving
    /// keeps more than the budget. Judging by the two counts seen at the
    /// increments would not do: two reservations can each come first in a
    /// different row and both pass.
    fn judge(&self, t: Ticket, now: u64) -> Result<Ticket, u64> {
        let [first, second] = t.cells;
        let count = self.add(second, t.window).min(self.count(first, t.window));
        if count > self.budget {
            self.refund(t);
            return Err(self.period - now % self.period);
        }
        Ok(t)
    }

    /// Gives back a reservation whose key did not take a slot (unless its
    /// window is over: the count then belongs to a newer window).
    pub fn refund(&self, t: Ticket) {
        for c in t.cells {
            let cell = &self.cells[c];
            let mut v = cell.load(Acquire);
            while v >> 32 == t.window && v & 0xffff_ffff > 0 {
                match cell.compare_exchange_weak(v, v - 1, AcqRel, Acquire) {
                    Ok(_) => break,
                    Err(cur) => v = cur,
                }
            }
        }
    }

    /// Cell `c`'s count for `window` (0 once another window took it).
    fn count(&self, c: usize, window: u64) -> u64 {
        let v = self.cells[c].load(Acquire);
        if v >> 32 == window {
            v & 0xffff_ffff
        } else {
            0
        }
    }

    /// Adds one to cell `c` for `window`; returns the new count.
    fn add(&self, c: usize, window: u64) -> u64 {
        let cell = &self.cells[c];
        let mut v = cell.load(Acquire);
        loop {
            let count = if v >> 32 == window {
                v & 0xffff_ffff
            } else {
                0
            };
            // Saturates well above any budget (which is below u32::MAX).
            let next = (window << 32) | (count + 1).min(0xffff_ffff);
            match cell.compare_exchange_weak(v, next, AcqRel, Acquire) {
                Ok(_) => return next & 0xffff_ffff,
                Err(cur) => v = cur,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    #[test]
    fn a_source_gets_its_budget_per_window_and_refunds_count() {
        let b = NewKeys::new(3, 1000);
        let t: Vec<_> = (0..3).map(|_| b.reserve(7, 10)).collect();
        assert!(t.iter().all(Result::is_ok));
        assert_eq!(b.reserve(7, 10), Err(990));
        // Another source is not affected.
        assert!(b.reserve(8 | (9 << 32), 10).is_ok());
        // A key that took no slot gives its reservation back.
        if let Ok(t) = t[0] {
            b.refund(t);
        }
        assert!(b.reserve(7, 20).is_ok());
        assert_eq!(b.reserve(7, 20), Err(980));
        // The next window starts from zero, and a refund from the old
        // window does not take from it.
        let new = b.reserve(7, 1000);
        assert!(new.is_ok());
        if let Ok(old) = t[1] {
            b.refund(old);
        }
        assert!(b.reserve(7, 1001).is_ok());
        assert!(b.reserve(7, 1002).is_ok());
        assert_eq!(b.reserve(7, 1003), Err(997));
    }

    #[test]
    fn a_collision_in_one_row_does_not_refuse_anybody() {
        let b = NewKeys::new(2, 1000);
        // Same first-row cell, different second-row cells.
        let (heavy, light) = (5 | (1 << 32), 5 | (2 << 32));
        for _ in 0..2 {
            assert!(b.reserve(heavy, 1).is_ok());
        }
        for _ in 0..50 {
            assert!(b.reserve(heavy, 1).is_err());
        }
        assert!(b.reserve(light, 1).is_ok());
        assert!(b.reserve(light, 1).is_ok());
        assert!(b.reserve(light, 1).is_err());
    }

    #[test]
    fn concurrent_reservations_never_pass_the_budget() {
        use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
        use std::sync::Arc;
        // Many rounds, the threads released together: the race that once
        // kept 11 needs two reservations to interleave between their rows.
        for _ in 0..300 {
            let b = Arc::new(NewKeys::new(10, 1 << 40));
            let got = Arc::new(AtomicU64::new(0));
            let start = Arc::new(std::sync::Barrier::new(4));
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let (b, got, start) = (b.clone(), got.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        for i in 0..100 {
                            match b.reserve(42, 1) {
                                Ok(t) if i % 3 == 0 => b.refund(t),
                                Ok(_) => {
                                    got.fetch_add(1, SeqCst);
                                }
                                Err(_) => {}
                            }
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().expect("thread");
            }
            assert_eq!(got.load(SeqCst), 10);
        }
    }

    /// The interleaving that once kept one over the budget: L counts its
    /// first row, K counts both rows and is judged, then L counts its second
    /// row. Each came first in one row; only one may be kept.
    #[test]
    fn two_reservations_first_in_different_rows_keep_only_the_budget() {
        let b = NewKeys::new(10, 1 << 40);
        for _ in 0..9 {
            assert!(b.reserve(42, 1).is_ok());
        }
        let l = b.count_first(42, 1);
        let k = b.count_first(42, 1);
        let kept = [b.judge(k, 1).is_ok(), b.judge(l, 1).is_ok()];
        assert_eq!(kept, [true, false], "the tenth slot, once");
        assert!(b.reserve(42, 1).is_err());
    }

    #[test]
    fn ipv6_sources_are_slash_64s() {
        let seed = Seed::default();
        let a: Ipv6Addr = "2001:db8:1:2::1".parse().expect("ip");
        let b: Ipv6Addr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let c: Ipv6Addr = "2001:db8:1:3::1".parse().expect("ip");
        let s = |ip: Ipv6Addr| source_of(&seed, IpAddr::V6(ip));
        assert_eq!(s(a), s(b));
        assert_ne!(s(a), s(c));
        let v4 = IpAddr::V4("192.0.2.1".parse().expect("ip"));
        let mapped = IpAddr::V6("::ffff:192.0.2.1".parse().expect("ip"));
        assert_eq!(source_of(&seed, v4), source_of(&seed, mapped));
    }
}
