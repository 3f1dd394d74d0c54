//! Trace and span ids: a per-shard splitmix64 stream seeded once from the
//! OS, so an id costs a few multiplications and never a syscall.
//!
//! Owns: id uniqueness within a shard (the stream does not repeat for 2^64
//! draws) and across shards and restarts (each seed is 64 random bits).
//! Must never: return an all-zero id (invalid in W3C Trace Context), or be
//! used where an unguessable value is needed: the ids are not secrets.

use std::cell::Cell;

use crate::observe::request_id::splitmix64;

/// splitmix64's Weyl step (the golden ratio in 64 bits).
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// One shard's id generator (`!Sync`: each shard owns one).
pub struct TraceIds {
    state: Cell<u64>,
}

impl TraceIds {
    /// A generator seeded from the OS's random source (one syscall, at start).
    pub fn new() -> TraceIds {
        TraceIds::from_seed(os_seed())
    }

    /// A generator with a fixed seed, for tests that need repeatable ids.
    pub fn from_seed(seed: u64) -> TraceIds {
        TraceIds {
            state: Cell::new(seed),
        }
    }

    /// A new span id, never all zero.
    pub fn span_id(&self) -> [u8; 8] {
        self.next_nonzero().to_be_bytes()
    }

    /// A new trace id, never all zero (each half is non-zero).
    pub fn trace_id(&self) -> [u8; 16] {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.next_nonzero().to_be_bytes());
        id[8..].copy_from_slice(&self.next_nonzero().to_be_bytes());
        id
    }

    fn next_nonzero(&self) -> u64 {
        loop {
            let s = self.state.get();
            self.state.set(s.wrapping_add(GAMMA));
            // One output in 2^64 is zero; the next draw replaces it.
            let v = splitmix64(s);
            if v != 0 {
                return v;
            }
        }
    }
}

impl Default for TraceIds {
    fn default() -> TraceIds {
        TraceIds::new()
    }
}

/// 64 bits from the OS; if that ever fails, the clock, the pid and an
/// address, mixed (unique enough for ids, which are not secrets).
fn os_seed() -> u64 {
    use ring::rand::SecureRandom as _;
    let mut seed = [0u8; 8];
    if ring::rand::SystemRandom::new().fill(&mut seed).is_ok() {
        return u64::from_ne_bytes(seed);
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let here = &seed as *const _ as u64;
    splitmix64(nanos ^ (u64::from(std::process::id()) << 32) ^ here)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ_and_are_never_zero() {
        let ids = TraceIds::new();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let s = ids.span_id();
            assert_ne!(s, [0; 8]);
            assert!(seen.insert(s), "span id repeated");
        }
        let (a, b) = (ids.trace_id(), ids.trace_id());
        assert_ne!(a, b);
        assert_ne!(a, [0; 16]);
    }

    #[test]
    fn shards_seeded_from_the_os_start_apart() {
        let (a, b) = (TraceIds::new(), TraceIds::new());
        assert_ne!(a.trace_id(), b.trace_id());
    }

    #[test]
    fn a_zero_output_is_skipped() {
        // The finalizer maps 0 to 0, so the state just before the gamma
        // wraps to 0 is the one whose output is zero.
        let s = 0u64.wrapping_sub(GAMMA);
        assert_eq!(splitmix64(s), 0);
        let ids = TraceIds::from_seed(s);
        let next = splitmix64(s.wrapping_add(GAMMA));
        assert_ne!(next, 0);
        assert_eq!(ids.span_id(), next.to_be_bytes());
    }
}
