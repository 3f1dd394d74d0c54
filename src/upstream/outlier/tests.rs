//! The outlier state machine with injected time: both ejection rules, the
//! growing and decaying ejection length, half-open probing, lost probes, the
//! cap, and the cap's exactness under real threads.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use super::*;

const S: u64 = 1_000_000_000;
/// A start far from zero, as the real clock is.
const T0: u64 = 1000 * S;

fn spec() -> OutlierSpec {
    OutlierSpec {
        consecutive_failures: 5,
        base_ejection: Duration::from_secs(30),
        max_ejection: Duration::from_secs(300),
        max_ejection_percent: 100,
        half_open_probes: 3,
        ..OutlierSpec::default()
    }
}

fn fail(o: &Outlier, t: usize, times: u32, now: u64) -> Option<Transition> {
    (0..times).fold(None, |last, _| o.report(t, true, now).or(last))
}

/// The end of an ejection as reported: `len` after `now`, rounded up to a tick.
fn until(now: u64, len: u64) -> u64 {
    tick_at(now + len) << TICK_SHIFT
}

/// Admits and succeeds `half_open_probes` probes at `now`.
fn probe_back(o: &Outlier, t: usize, now: u64) -> Option<Transition> {
    (0..3).for_each(|_| assert_eq!(o.admit(t, now), Admit::Probe));
    (0..3).fold(None, |last, _| o.report(t, false, now).or(last))
}

/// Five failures at `now` eject `t` for `secs` seconds.
fn ejects_for(o: &Outlier, t: usize, now: u64, secs: u64) {
    let until = until(now, secs * S);
    assert_eq!(fail(o, t, 5, now), Some(Transition::Ejected { until }));
}

#[test]
fn consecutive_failures_eject_then_probes_return() {
    let o = Outlier::new(&spec(), 2);
    assert_eq!(fail(&o, 0, 4, T0), None);
    assert_eq!(o.state(0, T0).consecutive_failures, 4);
    let end = until(T0, 30 * S);
    assert_eq!(
        o.report(0, true, T0),
        Some(Transition::Ejected { until: end })
    );
    assert_eq!(o.admit(0, T0 + S), Admit::No);
    assert_eq!(o.admit(1, T0 + S), Admit::Yes);
    assert_eq!(o.state(0, T0).state, OutlierState::Ejected { until: end });
    assert_eq!(o.ejected(T0), 1);

    // Half-open: three probe slots at a time, the others are turned away.
    let later = end + S;
    assert_eq!(o.state(0, later).state, OutlierState::HalfOpen);
    for _ in 0..3 {
        assert_eq!(o.admit(0, later), Admit::Probe);
    }
    assert_eq!(o.admit(0, later), Admit::No);
    assert_eq!(o.report(0, false, later), None);
    assert_eq!(
        o.admit(0, later),
        Admit::Probe,
        "a reported probe frees its slot"
    );
    assert_eq!(o.report(0, false, later), None);
    assert_eq!(o.report(0, false, later), Some(Transition::Returned));
    assert_eq!(o.admit(0, later), Admit::Yes);
    let s = o.state(0, later);
    assert_eq!(
        (s.state, s.ejections, s.consecutive_failures),
        (OutlierState::Active, 1, 0)
    );
    assert_eq!((o.ejected(later), o.held()), (0, 0));
}

#[test]
fn a_success_ends_the_streak() {
    let o = Outlier::new(&spec(), 1);
    for round in 0..10 {
        assert_eq!(fail(&o, 0, 4, T0 + round), None);
        assert_eq!(o.report(0, false, T0 + round), None);
    }
    assert_eq!(o.state(0, T0).consecutive_failures, 0);
}

#[test]
fn reports_while_ejected_are_ignored() {
    let o = Outlier::new(&spec(), 1);
    fail(&o, 0, 5, T0);
    assert_eq!(fail(&o, 0, 20, T0 + S), None);
    assert_eq!(o.report(0, false, T0 + S), None);
    assert_eq!(o.state(0, T0 + S).ejections, 1);
    assert!(matches!(
        o.state(0, T0 + S).state,
        OutlierState::Ejected { .. }
    ));
}

#[test]
fn a_failed_probe_ejects_for_longer_up_to_the_max() {
    let o = Outlier::new(
        &OutlierSpec {
            max_ejection: Duration::from_secs(100),
            ..spec()
        },
        1,
    );
    fail(&o, 0, 5, T0);
    let mut now = T0;
    for len in [60, 90, 100, 100] {
        now += 200 * S;
        assert_eq!(o.admit(0, now), Admit::Probe);
        assert_eq!(
            o.report(0, true, now),
            Some(Transition::Ejected {
                until: until(now, len * S)
            })
        );
        assert_eq!(o.admit(0, now + (len - 1) * S), Admit::No);
    }
    assert_eq!(o.state(0, now).ejections, 5);
    assert_eq!(o.held(), 1, "a re-ejection keeps its slot");
}

#[test]
fn the_multiplier_decays_while_active() {
    let o = Outlier::new(&spec(), 1);
    // Ejected twice in a row: 30 s, then 60 s; back at `back`.
    fail(&o, 0, 5, T0);
    assert_eq!(o.admit(0, T0 + 40 * S), Admit::Probe);
    o.report(0, true, T0 + 40 * S);
    let back = T0 + 200 * S;
    assert_eq!(probe_back(&o, 0, back), Some(Transition::Returned));
    // Failing again soon: the third ejection, 90 s.
    let soon = back + 10 * S;
    ejects_for(&o, 0, soon, 90);
    let back = soon + 300 * S;
    assert_eq!(probe_back(&o, 0, back), Some(Transition::Returned));
    // Two base ejections (60 s) of calm take two steps off: n 3 → 1, so 60 s.
    let calm = back + 61 * S;
    ejects_for(&o, 0, calm, 60);
    let back = calm + 100 * S;
    probe_back(&o, 0, back);
    // Long calm: back to the first length.
    let long = back + 3600 * S;
    ejects_for(&o, 0, long, 30);
}

#[test]
fn an_unprobed_ejection_is_not_stuck_and_lost_probes_expire() {
    let o = Outlier::new(&spec(), 1);
    fail(&o, 0, 5, T0);
    // Nobody asked during the ejection, nor for an hour after it.
    let now = T0 + 3600 * S;
    assert_eq!(o.state(0, now).state, OutlierState::HalfOpen);
    for _ in 0..3 {
        assert_eq!(o.admit(0, now), Admit::Probe);
    }
    // The three probes are never reported (their requests were dropped).
    assert_eq!(o.admit(0, now + 29 * S), Admit::No);
    assert_eq!(
        o.admit(0, now + 31 * S),
        Admit::Probe,
        "lease of one base ejection"
    );
    assert_eq!(o.admit(0, now + 31 * S), Admit::Probe);
    // The two new probes succeed, and a late report of a lost one counts.
    let later = now + 32 * S;
    assert_eq!(o.report(0, false, later), None);
    assert_eq!(o.report(0, false, later), None);
    assert_eq!(o.report(0, false, later), Some(Transition::Returned));
    assert_eq!(o.state(0, later).state, OutlierState::Active);
}

#[test]
fn the_cap_keeps_a_failing_target_active_with_its_streak() {
    let o = Outlier::new(
        &OutlierSpec {
            max_ejection_percent: 50,
            ..spec()
        },
        3,
    );
    assert!(matches!(
        fail(&o, 0, 5, T0),
        Some(Transition::Ejected { .. })
    ));
    assert_eq!(fail(&o, 1, 50, T0), None);
    assert_eq!(o.admit(1, T0), Admit::Yes);
    assert_eq!(o.state(1, T0).consecutive_failures, 50);
    assert_eq!((o.ejected(T0), o.held()), (1, 1));
    // Target 0 returns; target 1's next failure takes the freed slot.
    assert_eq!(probe_back(&o, 0, T0 + 31 * S), Some(Transition::Returned));
    let now = T0 + 32 * S;
    assert_eq!(
        o.report(1, true, now),
        Some(Transition::Ejected {
            until: until(now, 30 * S)
        })
    );
    assert_eq!(fail(&o, 2, 50, now), None);
    assert_eq!(o.held(), 1);
}

#[test]
fn no_target_is_ejected_when_the_cap_rounds_to_zero() {
    let o = Outlier::new(
        &OutlierSpec {
            max_ejection_percent: 50,
            ..spec()
        },
        1,
    );
    assert_eq!(fail(&o, 0, 100, T0), None);
    assert_eq!(o.admit(0, T0), Admit::Yes);
}

#[test]
fn failure_ratio_over_the_window() {
    let ratio = OutlierSpec {
        consecutive_failures: 0,
        failure_ratio: Some(0.5),
        window: Duration::from_secs(10),
        min_requests: 20,
        ..spec()
    };
    let o = Outlier::new(&ratio, 1);
    // Alternating: never 5 in a row, and no ejection before 20 requests.
    let mut now = T0;
    for i in 0..19 {
        assert_eq!(o.report(0, i % 2 == 1, now), None, "request {i}");
        now += 100_000_000;
    }
    assert!(matches!(
        o.report(0, true, now),
        Some(Transition::Ejected { .. })
    ));

    // 19 failures, then the window moves on: they no longer count.
    let o = Outlier::new(&ratio, 1);
    (0..19).for_each(|_| assert_eq!(o.report(0, true, T0), None));
    let now = T0 + 11 * S;
    assert_eq!(o.report(0, true, now), None);
    // Within the window, the previous half counts too.
    (0..9).for_each(|_| assert_eq!(o.report(0, false, now + 5 * S), None));
    assert_eq!(fail(&o, 0, 9, now + 5 * S), None);
    assert!(matches!(
        o.report(0, true, now + 5 * S),
        Some(Transition::Ejected { .. })
    ));
}

#[test]
fn both_rules_off_never_eject() {
    let off = OutlierSpec {
        consecutive_failures: 0,
        failure_ratio: None,
        ..spec()
    };
    let o = Outlier::new(&off, 2);
    assert_eq!(fail(&o, 0, 1000, T0), None);
    assert_eq!(o.admit(0, T0), Admit::Yes);
}

#[test]
fn a_healthy_success_leaves_the_shared_state_alone() {
    let o = Outlier::new(&spec(), 1);
    let before = o.targets[0].word.load(SeqCst);
    for i in 0..100 {
        assert_eq!(o.admit(0, T0 + i), Admit::Yes);
        assert_eq!(o.report(0, false, T0 + i), None);
    }
    assert_eq!(o.targets[0].word.load(SeqCst), before);
    assert_eq!(o.targets[0].failures.load(SeqCst), 0);
}

#[test]
fn the_word_round_trips() {
    let w = Word {
        mode: Mode::HalfOpen,
        out: 127,
        ok: 5,
        n: 255,
        tick: (1 << 40) - 1,
    };
    let u = Word::unpack(w.pack());
    assert_eq!(
        (u.mode, u.out, u.ok, u.n, u.tick),
        (w.mode, w.out, w.ok, w.n, w.tick)
    );
}

/// Four threads report on every target at once while time moves on, so
/// that ejections end, probes fail or succeed and targets return; returns
/// `Ejected` transitions seen. After each report the held slots stay within
/// the cap; with failures only (no target ever returns, so a scan of the
/// targets cannot count one target's return and another's ejection both),
/// so do the targets out.
fn hammer(o: &Arc<Outlier>, clock: &Arc<AtomicU64>, cap: usize, mixed: bool) -> u64 {
    let threads: Vec<_> = (0..4u64)
        .map(|id| {
            let (o, clock) = (o.clone(), clock.clone());
            std::thread::spawn(move || {
                let mut ejections = 0;
                let mut seed = id.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
                for _ in 0..2000 {
                    let now = clock.fetch_add(200_000, SeqCst);
                    for t in 0..o.targets.len() {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        let failure = !mixed || seed % 3 != 0;
                        if o.admit(t, now) == Admit::No {
                            continue;
                        }
                        if let Some(Transition::Ejected { .. }) = o.report(t, failure, now) {
                            ejections += 1;
                        }
                        assert!(o.held() as usize <= cap, "held {} > cap {cap}", o.held());
                        assert!(mixed || o.ejected(now) <= cap);
                    }
                }
                ejections
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().expect("thread")).sum()
}

#[test]
fn the_cap_is_exact_under_threads() {
    for (targets, percent) in [(3, 50), (8, 50), (5, 20), (10, 30)] {
        let o = Arc::new(Outlier::new(
            &OutlierSpec {
                consecutive_failures: 2,
                base_ejection: Duration::from_millis(20),
                max_ejection: Duration::from_millis(60),
                max_ejection_percent: percent,
                half_open_probes: 2,
                ..OutlierSpec::default()
            },
            targets,
        ));
        let cap = targets * percent as usize / 100;
        let clock = Arc::new(AtomicU64::new(T0));
        let failing = hammer(&o, &clock, cap, false);
        assert_eq!(
            o.ejected(clock.load(SeqCst)),
            cap,
            "{targets} targets: the cap is reached"
        );
        let mixed = hammer(&o, &clock, cap, true);
        let now = clock.load(SeqCst);
        assert_eq!(
            o.held() as usize,
            o.ejected(now),
            "{targets} targets: slots leak"
        );
        assert!(
            failing > cap as u64 && mixed > cap as u64,
            "targets were ejected again"
        );
    }
}
