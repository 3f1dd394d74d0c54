//! Peak-EWMA latency per target, and `balance = "ewma"`'s cost: of two
//! weighted random candidates (see `p2c`), the one with the lower
//! latency × (in flight + 1) / weight, as Linkerd's and Finagle's peak EWMA.
//!
//! The estimate jumps to any sample above it (the peak), and otherwise moves
//! toward samples with a weight that grows with the time since the last one
//! (time constant `DECAY_NS`). Between samples the value read decays toward
//! zero with the same constant, so a target that lost its traffic because it
//! was slow is tried again once its estimate falls to the others' level.
//!
//! Owns: the estimate and the cost. Must never: read the clock (`now` is
//! passed in) or count requests in flight (the selector does).

use std::cell::Cell;

/// Time constant of the estimate, in ns: 1 s. Linkerd, Finagle, Kong and
/// APISIX use 10 s, with which a target that was 50× slower and got no
/// traffic is back level with the others only after 10 s × ln 50 ≈ 40 s;
/// with 1 s it is after 4 s. The price is an estimate that averages over
/// about a second of samples rather than ten, which for a balancer that
/// reacts to load is what it should follow.
pub const DECAY_NS: u64 = 1_000_000_000;

/// The least latency recorded for a failed request (connect error, reset,
/// timeout), in ns: 1 s. Failures are often fast (a refused connect takes
/// microseconds); without a penalty a failing target would look fastest.
pub const FAILURE_PENALTY_NS: u64 = 1_000_000_000;

/// Least time credited between two samples, in ns. The process clock is
/// coarse (1–4 ms ticks), so samples often share a `now`; with no floor
/// they would carry no weight at all. Up to ~10 000 samples per second per
/// target (on one shard) the time constant holds; beyond, it shortens.
pub const MIN_STEP_NS: u64 = 100_000;

/// `exp(-MIN_STEP_NS / DECAY_NS)` = `exp(-1e-4)`.
const MIN_STEP_DECAY: f64 = 0.999_900_004_999_833_3;

/// Cost of a target never sampled while a request to it is in flight:
/// above any real one, so a new target gets one request, not a burst,
/// until its first answer (Finagle's rule).
const UNKNOWN_BUSY: f64 = 1e30;

/// One target's peak-EWMA latency; never sampled until the first `observe`.
#[derive(Default)]
pub(super) struct Ewma {
    /// Estimate in ns as of `at`; 0 and `at` = 0 while never sampled.
    est: Cell<f64>,
    /// When the last sample was taken (ns); 0 means never.
    at: Cell<u64>,
}

impl Ewma {
    /// Whether no sample was ever recorded.
    fn unknown(&self) -> bool {
        self.at.get() == 0
    }

    /// The estimate at `now` in ns, decayed toward 0 since the last sample.
    pub(super) fn read(&self, now: u64) -> f64 {
        let dt = now.saturating_sub(self.at.get());
        self.est.get() * decay(dt)
    }

    /// The estimate as of the last sample, without decay (no `exp`): what
    /// the admin API shows.
    pub(super) fn last(&self) -> f64 {
        self.est.get()
    }

    /// Records a request's latency (ns) that ended at `now`.
    pub(super) fn observe(&self, sample_ns: u64, now: u64) {
        let sample = sample_ns as f64;
        let est = if self.unknown() {
            sample
        } else {
            let d = decay(now.saturating_sub(self.at.get()));
            if sample >= self.est.get() * d {
                sample
            } else {
                // A plain EWMA step (the old value weighs `d`), so the
                // estimate of a steady latency is that latency; at least
                // `MIN_STEP_NS` of weight goes to the sample.
                let d = d.min(MIN_STEP_DECAY);
                self.est.get() * d + sample * (1.0 - d)
            }
        };
        self.est.set(est);
        // 0 means "never sampled": keep a real sample distinguishable.
        self.at.set(now.max(1));
    }
}

/// `exp(-dt / DECAY_NS)`.
fn decay(dt: u64) -> f64 {
    (-(dt as f64) / DECAY_NS as f64).exp()
}

/// Latency × (in flight + 1) / weight at `now`; 0 for a target never
/// sampled and idle, so that it gets tried.
pub(super) fn cost(l: &Ewma, in_flight: u32, weight: u32, now: u64) -> f64 {
    if l.unknown() {
        return if in_flight == 0 {
            0.0
        } else {
            UNKNOWN_BUSY + f64::from(in_flight)
        };
    }
    l.read(now) * f64::from(in_flight.saturating_add(1)) / f64::from(weight)
}

#[cfg(test)]
mod tests {
    use super::super::tests::selector;
    use super::*;
    use crate::config::upstream::Balance;

    const MS: u64 = 1_000_000;
    const S: u64 = 1_000 * MS;

    #[test]
    fn min_step_decay_is_exp_of_the_min_step() {
        assert!((MIN_STEP_DECAY - decay(MIN_STEP_NS)).abs() < 1e-15);
    }

    #[test]
    fn steady_samples_converge_and_peaks_jump() {
        let l = Ewma::default();
        assert_eq!(l.read(5 * S), 0.0);
        let mut now = S;
        for _ in 0..2000 {
            now += 10 * MS;
            l.observe(2 * MS, now);
        }
        assert!((l.read(now) - 2.0 * MS as f64).abs() < 1.0);
        l.observe(50 * MS, now + MS);
        assert_eq!(l.read(now + MS) as u64, 50 * MS);
        // Decays toward 0 without samples, with the time constant.
        let later = l.read(now + MS + DECAY_NS) / (50 * MS) as f64;
        assert!((later - (-1.0f64).exp()).abs() < 1e-3, "{later}");
    }

    #[test]
    fn samples_in_one_clock_tick_still_count() {
        let l = Ewma::default();
        l.observe(10 * MS, S);
        for _ in 0..300_000 {
            l.observe(MS, S);
        }
        assert!(l.read(S) < 2.0 * MS as f64, "{}", l.read(S));
    }

    /// Runs `secs` of sequential requests (one every ms plus its latency) and
    /// returns the share target 1 got. `lat(t)` is target t's latency.
    fn run(s: &super::super::Selector, now: &mut u64, secs: u64, lat: [u64; 2]) -> f64 {
        let end = *now + secs * S;
        let (mut n, mut to1) = (0u32, 0u32);
        while *now < end {
            let t = s.pick(0, &[], |_| true, *now).unwrap();
            s.start(t);
            *now += lat[t];
            s.end(t, lat[t], true, *now);
            *now += MS;
            n += 1;
            to1 += (t == 1) as u32;
        }
        f64::from(to1) / f64::from(n)
    }

    #[test]
    fn a_10x_slower_target_loses_traffic_within_a_second_and_wins_it_back() {
        let s = selector(Balance::Ewma, &[1, 1], 9);
        let mut now = S;
        let even = run(&s, &mut now, 10, [MS, MS]);
        assert!((0.2..=0.8).contains(&even), "both at 1 ms: {even}");
        let slow = run(&s, &mut now, 1, [MS, 10 * MS]);
        assert!(
            slow <= 0.2,
            "target 1 at 10 ms got {slow} in the first second"
        );
        let _ = run(&s, &mut now, 5, [MS, 10 * MS]);
        // Recovered: back level once its estimate decayed (≈ 2.3 s for 10×).
        let _ = run(&s, &mut now, 25, [MS, MS]);
        let back = run(&s, &mut now, 10, [MS, MS]);
        assert!(back >= 0.3, "target 1 recovered got {back}");
    }

    #[test]
    fn unknown_targets_get_tried_once_then_judged() {
        let s = selector(Balance::Ewma, &[1, 1], 2);
        s.start(0);
        s.end(0, MS, true, S);
        assert_eq!(s.pick(0, &[], |_| true, S), Some(1));
        s.start(1);
        // Its first answer is still pending: no burst onto it.
        assert_eq!(s.pick(0, &[], |_| true, S), Some(0));
    }

    #[test]
    fn failures_record_the_penalty() {
        let s = selector(Balance::Ewma, &[1, 1], 4);
        s.start(0);
        s.end(0, MS, true, S);
        s.start(1);
        s.end(1, 1_000, false, S);
        assert_eq!(s.stats(1, S), (0, FAILURE_PENALTY_NS));
        for _ in 0..100 {
            assert_eq!(s.pick(0, &[], |_| true, S + MS), Some(0));
        }
    }
}
