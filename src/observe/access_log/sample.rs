//! Sampling: which finished requests get a line. 5xx always do; others
//! with probability `sample`, drawn from a per-shard splitmix64 stream.
//!
//! Owns: that decision. Must never: make a syscall or share state between
//! shards (each `Sampler` is one shard's, `!Sync`).

use std::cell::Cell;

use crate::observe::request_id::splitmix64;

/// splitmix64's increment between draws (the golden-ratio gamma).
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// One shard's sampling decision.
pub struct Sampler {
    /// Every request is logged (`sample >= 1.0`): no draw at all.
    all: bool,
    /// A draw below this logs the request; `sample` scaled to 2^64.
    below: u64,
    state: Cell<u64>,
}

impl Sampler {
    /// Logs a share `sample` (0.0..=1.0) of non-5xx requests, drawing from `seed`.
    pub fn new(sample: f64, seed: u64) -> Sampler {
        // `as` saturates: NaN and negatives give 0 (never), 1.0 gives u64::MAX.
        let below = (sample * 18_446_744_073_709_551_616.0) as u64;
        Sampler {
            all: sample >= 1.0,
            below,
            state: Cell::new(seed),
        }
    }

    /// Whether a request that ended with `status` should be logged.
    #[inline]
    pub fn wants(&self, status: u16) -> bool {
        status >= 500 || self.all || self.draw() < self.below
    }

    fn draw(&self) -> u64 {
        let s = self.state.get();
        self.state.set(s.wrapping_add(GAMMA));
        splitmix64(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(s: &Sampler, status: u16, n: u32) -> u32 {
        (0..n).filter(|_| s.wants(status)).count() as u32
    }

    #[test]
    fn errors_are_always_logged() {
        let never = Sampler::new(0.0, 1);
        for status in [500, 502, 503, 504, 599] {
            assert_eq!(count(&never, status, 1000), 1000);
        }
        assert_eq!(count(&never, 200, 10_000), 0);
        assert_eq!(count(&never, 404, 10_000), 0);
        assert_eq!(count(&never, 0, 10_000), 0);
        let all = Sampler::new(1.0, 1);
        assert_eq!(count(&all, 200, 10_000), 10_000);
        assert_eq!(all.state.get(), 1, "sample = 1.0 draws nothing");
    }

    #[test]
    fn ratio_holds_over_many_draws() {
        // 100 000 draws: the binomial's standard deviation is at most 158,
        // so ±800 is more than 5 of them; the seeds make the run repeatable.
        for (seed, sample) in [(7, 0.01), (8, 0.1), (9, 0.25), (10, 0.5), (11, 0.9)] {
            let s = Sampler::new(sample, seed);
            let got = f64::from(count(&s, 200, 100_000));
            let want = sample * 100_000.0;
            assert!((got - want).abs() < 800.0, "sample {sample}: {got} logged");
        }
    }

    #[test]
    fn shards_draw_different_streams() {
        let (a, b) = (Sampler::new(0.5, 1), Sampler::new(0.5, 2));
        let pick = |s: &Sampler| (0..64).map(|_| s.wants(200)).collect::<Vec<_>>();
        assert_ne!(pick(&a), pick(&b));
    }
}
