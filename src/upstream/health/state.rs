//! The threshold state machine of one target's active checks: runs of
//! consecutive passes and failures decide when the target flips between
//! healthy and unhealthy (HAProxy's `rise`/`fall`, Envoy's thresholds).
//!
//! Owns: that rule and the start state (healthy, no results yet). Must
//! never: do I/O or read a clock; the checker feeds it one result at a time.

/// A change of a target's health, reported once by `TargetState::step`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// `healthy_threshold` passes in a row brought the target back.
    Healthy,
    /// `unhealthy_threshold` failures in a row took the target out.
    Unhealthy,
}

/// One target's health and its current run of results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetState {
    /// Whether the target passes its checks.
    pub healthy: bool,
    /// Consecutive passes so far (0 after a failure).
    pub passes: u32,
    /// Consecutive failures so far (0 after a pass).
    pub failures: u32,
    healthy_threshold: u32,
    unhealthy_threshold: u32,
}

impl TargetState {
    /// A healthy target with no results yet; a threshold of 0 counts as 1.
    pub fn new(healthy_threshold: u32, unhealthy_threshold: u32) -> TargetState {
        TargetState {
            healthy: true,
            passes: 0,
            failures: 0,
            healthy_threshold: healthy_threshold.max(1),
            unhealthy_threshold: unhealthy_threshold.max(1),
        }
    }

    /// A target whose health and current runs are these (a checker taking
    /// over a board whose upstream was carried across a reload).
    pub fn resume(
        healthy: bool,
        passes: u32,
        failures: u32,
        healthy_threshold: u32,
        unhealthy_threshold: u32,
    ) -> TargetState {
        TargetState {
            healthy,
            passes,
            failures,
            ..TargetState::new(healthy_threshold, unhealthy_threshold)
        }
    }

    /// Records one check's result; returns the transition it causes, if any.
    pub fn step(&mut self, passed: bool) -> Option<Transition> {
        if passed {
            self.passes = self.passes.saturating_add(1);
            self.failures = 0;
            if !self.healthy && self.passes >= self.healthy_threshold {
                self.healthy = true;
                return Some(Transition::Healthy);
            }
        } else {
            self.failures = self.failures.saturating_add(1);
            self.passes = 0;
            if self.healthy && self.failures >= self.unhealthy_threshold {
                self.healthy = false;
                return Some(Transition::Unhealthy);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `results` and returns the transitions, one entry per step.
    fn run(s: &mut TargetState, results: &[bool]) -> Vec<Option<Transition>> {
        results.iter().map(|&p| s.step(p)).collect()
    }

    #[test]
    fn starts_healthy_with_empty_runs() {
        let s = TargetState::new(2, 3);
        assert!(s.healthy);
        assert_eq!((s.passes, s.failures), (0, 0));
    }

    #[test]
    fn goes_down_after_exactly_the_unhealthy_threshold() {
        let mut s = TargetState::new(2, 3);
        let t = run(&mut s, &[false, false, false, false, false]);
        assert_eq!(t, [None, None, Some(Transition::Unhealthy), None, None]);
        assert!(!s.healthy);
        assert_eq!(s.failures, 5);
    }

    #[test]
    fn a_pass_breaks_a_run_of_failures() {
        let mut s = TargetState::new(2, 3);
        let t = run(&mut s, &[false, false, true, false, false]);
        assert!(t.iter().all(Option::is_none), "{t:?}");
        assert!(s.healthy);
        assert_eq!((s.passes, s.failures), (0, 2));
    }

    #[test]
    fn comes_back_after_exactly_the_healthy_threshold() {
        let mut s = TargetState::new(2, 1);
        assert_eq!(s.step(false), Some(Transition::Unhealthy));
        let t = run(&mut s, &[true, false, true, true, true]);
        assert_eq!(t, [None, None, None, Some(Transition::Healthy), None]);
        assert!(s.healthy);
        assert_eq!((s.passes, s.failures), (3, 0));
    }

    #[test]
    fn passes_while_healthy_never_report() {
        let mut s = TargetState::new(1, 1);
        assert!(run(&mut s, &[true; 10]).iter().all(Option::is_none));
    }

    #[test]
    fn zero_thresholds_count_as_one() {
        let mut s = TargetState::new(0, 0);
        assert_eq!(s.step(false), Some(Transition::Unhealthy));
        assert_eq!(s.step(true), Some(Transition::Healthy));
    }

    #[test]
    fn a_resumed_unhealthy_target_needs_the_rest_of_its_run() {
        let mut s = TargetState::resume(false, 1, 0, 2, 3);
        assert_eq!(s.step(true), Some(Transition::Healthy));
        let mut s = TargetState::resume(true, 0, 2, 2, 3);
        assert_eq!(s.step(false), Some(Transition::Unhealthy));
    }

    #[test]
    fn runs_saturate() {
        let mut s = TargetState::new(1, 1);
        s.failures = u32::MAX;
        s.healthy = false;
        assert_eq!(s.step(false), None);
        assert_eq!(s.failures, u32::MAX);
    }
}
