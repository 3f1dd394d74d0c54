//! The "power of two choices" draw shared by `least_request` and `ewma`: two
//! distinct eligible targets, each drawn with probability proportional to
//! its weight (as nginx's `random two`), from a per-selector generator.
//!
//! Owns: the random state and the weights' prefix sums. Must never: compare
//! the two candidates (each algorithm has its own cost), or make a system
//! call for randomness.

use std::cell::Cell;

/// Two-candidate drawer for one selector.
pub(super) struct TwoChoices {
    rng: Rng,
    /// `cum[i]` = weights[0] + … + weights[i]; empty when all weights are equal.
    cum: Box<[u64]>,
}

/// Draws made over all targets before counting the eligible ones: cheap
/// when most targets are usable, and the counted draw covers the rest.
const FAST_TRIES: usize = 2;

impl TwoChoices {
    /// A drawer for `weights`, its generator seeded from `seed`.
    pub(super) fn new(weights: &[u32], seed: u64) -> TwoChoices {
        let equal = weights.windows(2).all(|w| w[0] == w[1]);
        let cum = if equal {
            Box::default()
        } else {
            weights
                .iter()
                .scan(0u64, |s, &w| {
                    *s += u64::from(w);
                    Some(*s)
                })
                .collect()
        };
        TwoChoices {
            rng: Rng::new(seed),
            cum,
        }
    }

    /// A first candidate and, when another target is eligible, a second one.
    /// None when no target is eligible.
    pub(super) fn pair(
        &self,
        weights: &[u32],
        ok: impl Fn(usize) -> bool,
    ) -> Option<(usize, Option<usize>)> {
        let a = self.draw(weights, usize::MAX, &ok)?;
        Some((a, self.draw(weights, a, &ok)))
    }

    /// One eligible target other than `not`, drawn in proportion to weight.
    ///
    /// Each fast try is a weighted draw over all targets, kept only if it is
    /// eligible: conditioned on being kept it already has the wanted
    /// distribution, so falling back to the counted draw keeps it exact.
    fn draw(&self, weights: &[u32], not: usize, ok: &impl Fn(usize) -> bool) -> Option<usize> {
        let n = weights.len();
        if n == 0 {
            return None;
        }
        for _ in 0..FAST_TRIES {
            let i = self.any(n);
            if i != not && ok(i) {
                return Some(i);
            }
        }
        let eligible = |i: usize| i != not && ok(i);
        let sum: u64 = (0..n)
            .filter(|&i| eligible(i))
            .map(|i| u64::from(weights[i]))
            .sum();
        if sum == 0 {
            return None;
        }
        let mut r = self.rng.below(sum);
        let mut last = None;
        for (i, &w) in weights.iter().enumerate() {
            if eligible(i) {
                if r < u64::from(w) {
                    return Some(i);
                }
                r -= u64::from(w);
                last = Some(i);
            }
        }
        // Only reached if `ok` changed its answer between the two passes.
        last
    }

    /// Any target, in proportion to weight.
    fn any(&self, n: usize) -> usize {
        match self.cum.last() {
            None => self.rng.below(n as u64) as usize,
            Some(&total) => {
                let r = self.rng.below(total);
                self.cum.partition_point(|&c| c <= r)
            }
        }
    }
}

/// wyrand: one add and one 64×64→128 multiply per number; plenty for
/// spreading load, and no two shards share a sequence.
pub(super) struct Rng(Cell<u64>);

impl Rng {
    /// A generator whose sequence depends on all bits of `seed`.
    pub(super) fn new(seed: u64) -> Rng {
        Rng(Cell::new(super::mix(seed ^ 0x9e37_79b9_7f4a_7c15)))
    }

    /// The next 64 random bits.
    pub(super) fn bits(&self) -> u64 {
        let s = self.0.get().wrapping_add(0xa076_1d64_78bd_642f);
        self.0.set(s);
        let t = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    }

    /// A number in `0..n` (`n` > 0), by multiply-shift (Lemire) instead of a division.
    pub(super) fn below(&self, n: u64) -> u64 {
        ((u128::from(self.bits()) * u128::from(n)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares(
        p: &TwoChoices,
        weights: &[u32],
        ok: impl Fn(usize) -> bool,
        runs: usize,
    ) -> Vec<f64> {
        let mut c = vec![0usize; weights.len()];
        for _ in 0..runs {
            let (a, b) = p.pair(weights, &ok).unwrap();
            assert_ne!(Some(a), b);
            c[a] += 1;
        }
        c.iter().map(|&x| x as f64 / runs as f64).collect()
    }

    #[test]
    fn first_candidate_follows_weights_among_eligible() {
        let w = [1, 2, 3, 4];
        let p = TwoChoices::new(&w, 7);
        let s = shares(&p, &w, |_| true, 40_000);
        for (i, &x) in s.iter().enumerate() {
            assert!((x - w[i] as f64 / 10.0).abs() < 0.015, "{s:?}");
        }
        // Target 3 out: the rest keep their proportions (1:2:3), whether the
        // fast tries or the counted draw found them.
        let s = shares(&p, &w, |i| i != 3, 40_000);
        assert_eq!(s[3], 0.0);
        for (x, &w) in s.iter().zip(&w[..3]) {
            assert!((x - w as f64 / 6.0).abs() < 0.015, "{s:?}");
        }
    }

    #[test]
    fn one_eligible_gives_no_second_and_none_gives_nothing() {
        let w = [1, 1, 1];
        let p = TwoChoices::new(&w, 1);
        for _ in 0..100 {
            assert_eq!(p.pair(&w, |i| i == 1), Some((1, None)));
        }
        assert_eq!(p.pair(&w, |_| false), None);
        assert_eq!(p.pair(&[], |_| true), None);
    }

    #[test]
    fn seeds_give_different_sequences() {
        let (a, b) = (Rng::new(0), Rng::new(1));
        let same = (0..64).filter(|_| a.bits() == b.bits()).count();
        assert_eq!(same, 0);
        let r = Rng::new(3);
        assert!((0..1000).all(|_| r.below(5) < 5));
    }
}
