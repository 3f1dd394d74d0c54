//! `balance = "round_robin"`: nginx's smooth weighted round robin. Each pick
//! adds every eligible target's weight to its running score, takes the
//! highest score and subtracts the eligible total from it; over any run of
//! Σweights picks each target gets exactly its weight, interleaved
//! (weights 5,1,1 give a a b a c a a, not a a a a a b c).
//!
//! Owns: the running scores. Must never: give a target that is unusable or
//! already tried a pick (it is skipped, and its score is left as it was).

use std::cell::Cell;

/// Running scores of one selector's targets.
pub(super) struct SmoothRoundRobin {
    current: Box<[Cell<i64>]>,
}

impl SmoothRoundRobin {
    /// Scores for `weights`, advanced by a `seed`-dependent number of picks
    /// so that shards do not all send their first request to the same target.
    pub(super) fn new(weights: &[u32], seed: u64) -> SmoothRoundRobin {
        let rr = SmoothRoundRobin {
            current: weights.iter().map(|_| Cell::new(0)).collect(),
        };
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        if total > 0 {
            // At most 1024 steps, so huge weights do not slow the start.
            for _ in 0..super::mix(seed) % total.min(1024) {
                rr.pick(weights, |_| true);
            }
        }
        rr
    }

    /// The eligible target with the highest score (the first on a tie).
    pub(super) fn pick(&self, weights: &[u32], ok: impl Fn(usize) -> bool) -> Option<usize> {
        let mut total = 0i64;
        let mut best: Option<(&Cell<i64>, usize)> = None;
        let mut best_score = i64::MIN;
        for (i, (c, &w)) in self.current.iter().zip(weights).enumerate() {
            if !ok(i) {
                continue;
            }
            let score = c.get() + i64::from(w);
            c.set(score);
            total += i64::from(w);
            if best.is_none() || score > best_score {
                best = Some((c, i));
                best_score = score;
            }
        }
        let (c, i) = best?;
        c.set(best_score - total);
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{selector, share};
    use super::*;
    use crate::config::upstream::Balance;

    #[test]
    fn weights_hold_within_5_percent_over_1000_picks() {
        let w = [1, 3, 6];
        for seed in 0..4 {
            let s = selector(Balance::RoundRobin, &w, seed);
            let picks: Vec<usize> = (0..1000)
                .map(|_| s.pick(0, &[], |_| true, 0).unwrap())
                .collect();
            for (t, &wt) in w.iter().enumerate() {
                let want = f64::from(wt) / 10.0;
                assert!(
                    (share(&picks, t) - want).abs() <= want * 0.05,
                    "seed {seed}, target {t}"
                );
            }
        }
    }

    #[test]
    fn picks_are_interleaved() {
        let rr = SmoothRoundRobin {
            current: (0..3).map(|_| Cell::new(0)).collect(),
        };
        let seq: Vec<usize> = (0..7)
            .map(|_| rr.pick(&[5, 1, 1], |_| true).unwrap())
            .collect();
        assert_eq!(seq, [0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn skipped_targets_leave_the_rest_in_proportion() {
        let w = [1, 1, 2, 4];
        let s = selector(Balance::RoundRobin, &w, 1);
        let picks: Vec<usize> = (0..1400)
            .map(|_| s.pick(0, &[], |i| i != 2, 0).unwrap())
            .collect();
        assert_eq!(share(&picks, 2), 0.0);
        assert!((share(&picks, 3) - 4.0 / 6.0).abs() < 0.01);
        assert!((share(&picks, 0) - 1.0 / 6.0).abs() < 0.01);
    }

    #[test]
    fn shards_start_at_different_targets() {
        let firsts: std::collections::HashSet<usize> = (0..16)
            .map(|seed| {
                let s = selector(Balance::RoundRobin, &[1, 1, 1], seed);
                s.pick(0, &[], |_| true, 0).unwrap()
            })
            .collect();
        assert!(firsts.len() > 1);
    }
}
