//! Passive outlier ejection (`[upstreams.outlier]`): consecutive failures,
//! or a failure ratio over a window, take a target out of rotation for a
//! while; when that time is up, a few half-open probes decide whether it
//! returns. One `Outlier` per upstream, shared by every shard via an `Arc`.
//!
//! Owns: each target's state machine (active → ejected → half-open →
//! active) and the upstream-wide cap on targets out of rotation. Must never:
//! let more than floor(targets × max_ejection_percent / 100) targets be out
//! at once, even for an instant with every shard reporting together; write a
//! healthy target's shared state on a success (it reads first); lock.
//!
//! A target's mode, probe counters, ejection multiplier and deadline live in
//! one `AtomicU64`, so every transition is a single compare-exchange. A
//! target takes a slot of the cap (`held`) before it leaves `Active` and
//! gives it back only after it is `Active` again, so `held` is always at
//! least the number of targets out; half-open targets keep their slot.

use std::sync::atomic::{
    AtomicU32, AtomicU64, Ordering::AcqRel, Ordering::Acquire, Ordering::Release,
};

use crate::config::upstream::OutlierSpec;

mod window;
mod word;

use window::Window;
use word::{passed, tick_at, Mode, Word, TICK_SHIFT};

/// What `Outlier::admit` allows for one request to a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// The target is in rotation.
    Yes,
    /// The target is half-open and this request took a probe slot; its
    /// result must be reported.
    Probe,
    /// The target is ejected, or every probe slot is taken.
    No,
}

/// A change of a target's state, for the caller to log and count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Ejected (again) until `until` (ns of `crate::ratelimit::clock()`).
    Ejected {
        /// When the ejection ends and probing begins.
        until: u64,
    },
    /// Back in rotation after its probes succeeded.
    Returned,
}

/// A target's state as the admin API shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutlierState {
    /// In rotation.
    Active,
    /// Out of rotation until `until` (ns).
    Ejected {
        /// When the ejection ends.
        until: u64,
    },
    /// The ejection ended; probe requests decide what comes next.
    HalfOpen,
}

/// One target's outlier view for the admin API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetOutlier {
    /// Current state.
    pub state: OutlierState,
    /// Ejections since start, re-ejections after a failed probe included.
    pub ejections: u32,
    /// Failures in a row seen while active.
    pub consecutive_failures: u32,
}

/// The outlier detector of one upstream, shared by all shards.
#[derive(Debug)]
pub struct Outlier {
    targets: Box<[Target]>,
    /// Targets out of rotation (ejected or half-open), plus at most one
    /// transient reservation per ejecting report.
    held: Padded,
    /// `max_ejection_percent` of the targets the upstream has now.
    cap: AtomicU32,
    percent: u32,
    consecutive: u32,
    ratio: Option<f64>,
    min_requests: u32,
    half_window: u64,
    base: u64,
    max: u64,
    probes: u8,
}

#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded(AtomicU32);

/// One target's shared state, alone on its cache lines.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Target {
    word: AtomicU64,
    failures: AtomicU32,
    ejections: AtomicU32,
    window: Window,
}

fn ns(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Outlier {
    /// The detector for an upstream of `targets` targets (its slots).
    pub fn new(spec: &OutlierSpec, targets: usize) -> Outlier {
        let o = Outlier {
            targets: (0..targets).map(|_| Target::default()).collect(),
            held: Padded::default(),
            cap: AtomicU32::new(0),
            percent: spec.max_ejection_percent,
            consecutive: spec.consecutive_failures,
            ratio: spec.failure_ratio,
            min_requests: spec.min_requests.max(1),
            half_window: (ns(spec.window) / 2).max(1),
            base: ns(spec.base_ejection).max(1),
            max: ns(spec.max_ejection),
            probes: spec.half_open_probes.clamp(1, word::MAX_PROBES) as u8,
        };
        o.resize(targets);
        o
    }

    /// The upstream now has `active` targets: the cap follows
    /// (`max_ejection_percent` of them, rounded down).
    pub fn resize(&self, active: usize) {
        let cap = (active as u64 * u64::from(self.percent) / 100).min(active as u64);
        self.cap
            .store(u32::try_from(cap).unwrap_or(u32::MAX), Release);
    }

    /// Slot `t` is about to hold a new target: forget the old one's state,
    /// and give back its place under the cap if it was out of rotation.
    /// Only for a slot no shard reports on any more (`roster` ensures it).
    pub fn reset(&self, t: usize) {
        let Some(tg) = self.targets.get(t) else {
            return;
        };
        let w = Word::unpack(tg.word.swap(0, AcqRel));
        if w.mode != Mode::Active {
            self.held.0.fetch_sub(1, AcqRel);
        }
        tg.failures.store(0, Release);
        tg.ejections.store(0, Release);
        tg.window.clear();
    }

    /// May a request go to `t` now? Reads only, unless it takes a probe slot.
    pub fn admit(&self, t: usize, now: u64) -> Admit {
        let Some(tg) = self.targets.get(t) else {
            return Admit::Yes;
        };
        // A probe slot not reported within one base ejection is taken to be
        // lost (the request was dropped) and handed out again.
        let lease = tick_at(now.saturating_add(self.base));
        let mut cur = tg.word.load(Acquire);
        loop {
            let w = Word::unpack(cur);
            let next = match w.mode {
                Mode::Active => return Admit::Yes,
                Mode::Ejected if !passed(now, w.tick) => return Admit::No,
                // The first caller after the ejection ends is the first probe,
                // so a target nobody reported on is never stuck ejected.
                Mode::Ejected => Word {
                    mode: Mode::HalfOpen,
                    out: 1,
                    ok: 0,
                    tick: lease,
                    ..w
                },
                Mode::HalfOpen if w.out < self.probes => Word {
                    out: w.out + 1,
                    tick: lease,
                    ..w
                },
                Mode::HalfOpen if passed(now, w.tick) => Word {
                    out: 1,
                    tick: lease,
                    ..w
                },
                Mode::HalfOpen => return Admit::No,
            };
            match tg
                .word
                .compare_exchange_weak(cur, next.pack(), AcqRel, Acquire)
            {
                Ok(_) => return Admit::Probe,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Whether `admit` could let a request go to `t` now, without taking
    /// anything: what target selection filters on.
    pub fn selectable(&self, t: usize, now: u64) -> bool {
        let Some(tg) = self.targets.get(t) else {
            return true;
        };
        let w = Word::unpack(tg.word.load(Acquire));
        match w.mode {
            Mode::Active => true,
            Mode::Ejected => passed(now, w.tick),
            Mode::HalfOpen => w.out < self.probes || passed(now, w.tick),
        }
    }

    /// Records one exchange with `t`; returns the state change it caused.
    /// While `t` is half-open every report counts as a probe's result; while
    /// it is ejected reports are ignored (exchanges begun before the ejection).
    pub fn report(&self, t: usize, failure: bool, now: u64) -> Option<Transition> {
        let tg = self.targets.get(t)?;
        match Word::unpack(tg.word.load(Acquire)).mode {
            Mode::Active => self.on_active(tg, failure, now),
            Mode::HalfOpen => self.on_probe(tg, failure, now),
            Mode::Ejected => None,
        }
    }

    /// `t`'s state, ejection count and failure streak, without writing.
    pub fn state(&self, t: usize, now: u64) -> TargetOutlier {
        let Some(tg) = self.targets.get(t) else {
            return TargetOutlier {
                state: OutlierState::Active,
                ejections: 0,
                consecutive_failures: 0,
            };
        };
        let w = Word::unpack(tg.word.load(Acquire));
        TargetOutlier {
            state: match w.mode {
                Mode::Active => OutlierState::Active,
                Mode::Ejected if !passed(now, w.tick) => OutlierState::Ejected {
                    until: w.tick << TICK_SHIFT,
                },
                _ => OutlierState::HalfOpen,
            },
            ejections: tg.ejections.load(Acquire),
            consecutive_failures: tg.failures.load(Acquire),
        }
    }

    /// Targets out of rotation now, ejected or half-open: what the cap bounds.
    pub fn ejected(&self, _now: u64) -> usize {
        self.targets
            .iter()
            .filter(|tg| Word::unpack(tg.word.load(Acquire)).mode != Mode::Active)
            .count()
    }

    fn on_active(&self, tg: &Target, failure: bool, now: u64) -> Option<Transition> {
        let by_ratio = match self.ratio {
            Some(r) => tg
                .window
                .record(failure, now, self.half_window, self.min_requests, r),
            None => false,
        };
        if !failure {
            if tg.failures.load(Acquire) != 0 {
                tg.failures.store(0, Release);
            }
            return None;
        }
        let streak = tg.failures.fetch_add(1, AcqRel).wrapping_add(1);
        let by_count = self.consecutive != 0 && streak >= self.consecutive;
        if by_count || by_ratio {
            self.eject(tg, now)
        } else {
            None
        }
    }

    /// Active → ejected, if the cap has room. At the cap the target stays
    /// active with its failure streak kept, so its next failure ejects it as
    /// soon as another target returns.
    fn eject(&self, tg: &Target, now: u64) -> Option<Transition> {
        let held = &self.held.0;
        let cap = self.cap.load(Acquire);
        held.fetch_update(AcqRel, Acquire, |h| (h < cap).then_some(h + 1))
            .ok()?;
        let mut cur = tg.word.load(Acquire);
        let until = loop {
            let w = Word::unpack(cur);
            if w.mode != Mode::Active {
                // Another shard's report ejected it first.
                held.fetch_sub(1, AcqRel);
                return None;
            }
            // The multiplier drops by one per base ejection spent active.
            let calm = now.saturating_sub(w.tick << TICK_SHIFT) / self.base;
            let n = w.n.saturating_sub(u8::try_from(calm).unwrap_or(u8::MAX));
            let next = self.ejection(n, now);
            match tg
                .word
                .compare_exchange_weak(cur, next.pack(), AcqRel, Acquire)
            {
                Ok(_) => break next.tick << TICK_SHIFT,
                Err(actual) => cur = actual,
            }
        };
        tg.failures.store(0, Release);
        tg.window.clear();
        tg.ejections.fetch_add(1, AcqRel);
        Some(Transition::Ejected { until })
    }

    /// A half-open target's probe result: one failure ejects it for longer;
    /// `half_open_probes` successes return it and free its slot of the cap.
    fn on_probe(&self, tg: &Target, failure: bool, now: u64) -> Option<Transition> {
        let mut cur = tg.word.load(Acquire);
        loop {
            let w = Word::unpack(cur);
            if w.mode != Mode::HalfOpen {
                return None;
            }
            let (next, change) = if failure {
                let next = self.ejection(w.n, now);
                let until = next.tick << TICK_SHIFT;
                (next, Some(Transition::Ejected { until }))
            } else if w.ok + 1 >= self.probes {
                let back = Word {
                    mode: Mode::Active,
                    out: 0,
                    ok: 0,
                    n: w.n,
                    tick: now >> TICK_SHIFT,
                };
                (back, Some(Transition::Returned))
            } else {
                let more = Word {
                    out: w.out.saturating_sub(1),
                    ok: w.ok + 1,
                    ..w
                };
                (more, None)
            };
            if tg
                .word
                .compare_exchange_weak(cur, next.pack(), AcqRel, Acquire)
                .is_err()
            {
                cur = tg.word.load(Acquire);
                continue;
            }
            match change {
                Some(Transition::Returned) => {
                    tg.failures.store(0, Release);
                    tg.window.clear();
                    self.held.0.fetch_sub(1, AcqRel);
                }
                Some(Transition::Ejected { .. }) => {
                    tg.ejections.fetch_add(1, AcqRel);
                }
                None => {}
            }
            return change;
        }
    }

    /// The word of the ejection after `prev` earlier ones still counted:
    /// (prev + 1) × base, at most `max_ejection`.
    fn ejection(&self, prev: u8, now: u64) -> Word {
        let n = prev.saturating_add(1);
        let length = self.base.saturating_mul(u64::from(n)).min(self.max);
        Word {
            mode: Mode::Ejected,
            out: 0,
            ok: 0,
            n,
            tick: tick_at(now.saturating_add(length)),
        }
    }

    #[cfg(test)]
    fn held(&self) -> u32 {
        self.held.0.load(Acquire)
    }
}

#[cfg(test)]
mod tests;
