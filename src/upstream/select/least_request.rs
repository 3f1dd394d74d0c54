//! `balance = "least_request"`: of two weighted random candidates (see
//! `p2c`), the one with fewer requests in flight per unit of weight, as
//! nginx's `random two least_conn`; Envoy's `LEAST_REQUEST` makes the same
//! comparison when weights are equal.
//!
//! Owns: the comparison. Must never: count requests itself (the selector's
//! `start`/`end` do).

/// `a`, unless `b` has strictly fewer requests in flight (`load`) per unit
/// of weight. Ties keep `a`, the first random draw, so idle targets still
/// share the load.
pub(super) fn better(
    a: usize,
    b: Option<usize>,
    load: impl Fn(usize) -> u32,
    weights: &[u32],
) -> usize {
    match b {
        // load(b) / w[b] < load(a) / w[a], without a division.
        Some(b)
            if u64::from(load(b)) * u64::from(weights[a])
                < u64::from(load(a)) * u64::from(weights[b]) =>
        {
            b
        }
        _ => a,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{selector, share};
    use crate::config::upstream::Balance;

    #[test]
    fn a_constant_backlog_loses_at_least_80_percent() {
        for n in [2, 3, 5] {
            let s = selector(Balance::LeastRequest, &vec![1; n], 11);
            for _ in 0..5 {
                s.start(0);
            }
            let mut picks = Vec::new();
            for _ in 0..1000 {
                let t = s.pick(0, &[], |_| true, 0).unwrap();
                s.start(t);
                s.end(t, 1_000, true, 0);
                picks.push(t);
            }
            let backlog = share(&picks, 0);
            assert!(backlog <= 0.2, "n={n}: backlogged target got {backlog}");
        }
    }

    #[test]
    fn idle_equal_targets_still_spread() {
        let s = selector(Balance::LeastRequest, &[1, 1, 1], 5);
        let picks: Vec<usize> = (0..3000)
            .map(|_| s.pick(0, &[], |_| true, 0).unwrap())
            .collect();
        for t in 0..3 {
            let x = share(&picks, t);
            assert!((x - 1.0 / 3.0).abs() < 0.05, "target {t}: {x}");
        }
    }

    #[test]
    fn load_is_compared_per_unit_of_weight() {
        // Target 1 weighs 4: with 3 in flight it is still less loaded than
        // target 0 with 1.
        let s = selector(Balance::LeastRequest, &[1, 4], 3);
        s.start(0);
        for _ in 0..3 {
            s.start(1);
        }
        for _ in 0..100 {
            assert_eq!(s.pick(0, &[], |_| true, 0), Some(1));
        }
        // Idle, the first draw follows the weights.
        let s = selector(Balance::LeastRequest, &[1, 3], 3);
        let picks: Vec<usize> = (0..4000)
            .map(|_| s.pick(0, &[], |_| true, 0).unwrap())
            .collect();
        assert!((share(&picks, 1) - 0.75).abs() < 0.03);
    }
}
