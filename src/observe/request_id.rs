//! Request ids: 128-bit, hex-encoded, unique per process without coordination.
//!
//! Each shard owns a generator seeded from the clock, the pid and its index;
//! ids are a counter mixed through splitmix64, so generating one is a few
//! arithmetic instructions and never a syscall.

use std::cell::Cell;

/// Length of a generated id in bytes (32 lowercase hex digits).
pub const ID_LEN: usize = 32;

/// Per-shard request-id generator (`!Sync` by design).
pub struct RequestIdGen {
    seed: u64,
    counter: Cell<u64>,
}

/// One splitmix64 step: `z` advanced by the golden gamma, then mixed (also
/// `trace::TraceIds` and the access log's sampler).
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl RequestIdGen {
    /// A generator for shard `shard`.
    pub fn new(shard: usize) -> RequestIdGen {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let seed = splitmix64(nanos ^ ((std::process::id() as u64) << 32) ^ shard as u64);
        RequestIdGen {
            seed,
            counter: Cell::new(splitmix64(seed ^ 0x5bd1_e995)),
        }
    }

    /// Writes the next id as 32 hex digits into `out`.
    pub fn next(&self, out: &mut [u8; ID_LEN]) {
        let n = self.counter.get().wrapping_add(1);
        self.counter.set(n);
        let hi = splitmix64(self.seed ^ n);
        let lo = splitmix64(hi ^ n.rotate_left(29));
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for (i, word) in [hi, lo].into_iter().enumerate() {
            for j in 0..16 {
                out[i * 16 + j] = HEX[((word >> (60 - 4 * j)) & 0xf) as usize];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_hex_and_distinct() {
        let g = RequestIdGen::new(0);
        let (mut a, mut b) = ([0u8; ID_LEN], [0u8; ID_LEN]);
        g.next(&mut a);
        g.next(&mut b);
        assert_ne!(a, b);
        assert!(a.iter().all(|c| c.is_ascii_hexdigit()));
        let other = RequestIdGen::new(1);
        let mut c = [0u8; ID_LEN];
        other.next(&mut c);
        assert_ne!(a, c);
    }
}
