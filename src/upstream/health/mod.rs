//! Active health checks (`[upstreams.health]`): a control-plane thread
//! sends `GET {path}` to every target of every checked upstream on a
//! jittered interval, and publishes each target's health on a
//! `HealthBoard` that every shard reads.
//!
//! Owns: the board (one relaxed atomic per target, written only when the
//! target flips) and the checker thread's lifetime. Must never: run a check
//! on a shard, make a shard wait for a check, or write the per-request cache
//! line of a target whose health did not change.
//!
//! Every target starts healthy, so a fresh gateway serves at once; a target
//! that is down at start is taken out after `unhealthy_threshold` failed
//! checks. Docs: `docs/upstreams.md`, "Health checks".

mod checker;
pub use checker::Source;
mod probe;
mod state;

#[cfg(test)]
mod tests;

use std::os::unix::net::UnixStream;
use std::sync::atomic::{
    AtomicBool, AtomicU32, AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};
use std::thread::JoinHandle;

pub use probe::CheckResult;
pub use state::{TargetState, Transition};

/// One target's check counters, written by the checker only (admin reads).
#[derive(Default)]
struct Slot {
    passes: AtomicU32,
    failures: AtomicU32,
    last: AtomicU32,
    last_ns: AtomicU64,
    checks: AtomicU64,
    failed: AtomicU64,
    transitions: AtomicU64,
}

/// One upstream's targets' health, per slot; shared by the checker and
/// every shard (it lives in the upstream's `SharedUpstream`).
pub struct HealthBoard {
    /// Whether the upstream has `[upstreams.health]`.
    checked: bool,
    /// Read per request: kept apart from `slots`, which change every check.
    healthy: Box<[AtomicBool]>,
    slots: Box<[Slot]>,
}

/// One target's health as the admin API shows it (a snapshot, field by field).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TargetHealth {
    /// Whether the upstream has active checks at all.
    pub checked: bool,
    /// Whether the target currently passes its checks (true when unchecked).
    pub healthy: bool,
    /// Consecutive passes (0 after a failure).
    pub passes: u32,
    /// Consecutive failures (0 after a pass).
    pub failures: u32,
    /// The last check's status or failure; `None` before the first check.
    pub last: Option<CheckResult>,
    /// When the last check ended (ns of `crate::ratelimit::clock()`; 0: never).
    pub last_ns: u64,
    /// Checks run.
    pub checks: u64,
    /// Checks failed.
    pub failed_checks: u64,
    /// Transitions between healthy and unhealthy.
    pub transitions: u64,
}

impl HealthBoard {
    /// `slots` targets, all healthy (so a fresh gateway serves at once);
    /// `checked`: the upstream has `[upstreams.health]`.
    pub fn new(slots: usize, checked: bool) -> HealthBoard {
        HealthBoard {
            checked,
            healthy: (0..slots).map(|_| AtomicBool::new(true)).collect(),
            slots: (0..slots).map(|_| Slot::default()).collect(),
        }
    }

    /// Whether slot `t` currently passes its checks (always true when the
    /// upstream has no `[upstreams.health]`). One relaxed atomic load: this
    /// is read per request.
    #[inline]
    pub fn is_healthy(&self, t: usize) -> bool {
        self.healthy.get(t).map_or(true, |h| h.load(Relaxed))
    }

    /// For the admin API: slot `t`'s health and check counters.
    pub fn detail(&self, t: usize) -> TargetHealth {
        let Some(s) = self.slots.get(t) else {
            return TargetHealth {
                healthy: true,
                ..TargetHealth::default()
            };
        };
        // Acquire pairs with `publish`'s releases: every field below is at
        // least as new as the check count and the health read first.
        let checks = s.checks.load(Acquire);
        let healthy = self.healthy.get(t).map_or(true, |h| h.load(Acquire));
        TargetHealth {
            checked: self.checked,
            healthy,
            passes: s.passes.load(Relaxed),
            failures: s.failures.load(Relaxed),
            last: CheckResult::from_code(s.last.load(Relaxed)),
            last_ns: s.last_ns.load(Relaxed),
            checks,
            failed_checks: s.failed.load(Relaxed),
            transitions: s.transitions.load(Relaxed),
        }
    }

    /// Slot `t` is about to hold a new target: healthy, no history (as
    /// every target starts). The checker resets its own schedule when it
    /// sees the new target.
    pub fn reset(&self, t: usize) {
        if let Some(h) = self.healthy.get(t) {
            h.store(true, Release);
        }
        if let Some(s) = self.slots.get(t) {
            for c in [&s.passes, &s.failures, &s.last] {
                c.store(0, Relaxed);
            }
            for c in [&s.last_ns, &s.checks, &s.failed, &s.transitions] {
                c.store(0, Relaxed);
            }
        }
    }

    /// Publishes one check's result for slot `t`; `st` is its state after
    /// the result (a failure leaves `st.failures` ≥ 1).
    fn publish(&self, t: usize, st: &TargetState, result: CheckResult, now: u64, flipped: bool) {
        let Some(s) = self.slots.get(t) else {
            return;
        };
        s.passes.store(st.passes, Relaxed);
        s.failures.store(st.failures, Relaxed);
        s.last.store(result.code(), Relaxed);
        s.last_ns.store(now, Relaxed);
        if st.failures > 0 {
            s.failed.fetch_add(1, Relaxed);
        }
        if flipped {
            s.transitions.fetch_add(1, Relaxed);
            if let Some(h) = self.healthy.get(t) {
                h.store(st.healthy, Release);
            }
        }
        // Last, so that a reader that sees the new count sees the rest.
        s.checks.fetch_add(1, Release);
    }
}

/// The running checker thread; dropping it (or `stop()`) ends the checks.
pub struct HealthChecker {
    /// Closing our end wakes the thread's poll(2) at once.
    wake: Option<UnixStream>,
    thread: Option<JoinHandle<()>>,
}

impl HealthChecker {
    /// Ends the checks and waits for the thread (within a few ms: it only
    /// waits in poll(2), which the stop wakes).
    pub fn stop(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        drop(self.wake.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for HealthChecker {
    fn drop(&mut self) {
        self.shut();
    }
}

/// Starts the checker for every upstream with a `health` spec in the
/// generation `source` gives (and, as reloads publish new generations, in
/// theirs): one checker per target for the whole process (not per shard).
/// Returns a handle whose drop (or `stop()`) ends the checks promptly; None
/// when the current generation has no checks (a reload that brings some
/// starts one then).
pub fn spawn(source: checker::Source) -> std::io::Result<Option<HealthChecker>> {
    let c = checker::Checker::new(source, crate::ratelimit::clock());
    if c.is_empty() {
        return Ok(None);
    }
    let (wake, theirs) = UnixStream::pair()?;
    let thread = std::thread::Builder::new()
        .name("ringway-health".into())
        .spawn(move || c.run(&theirs))?;
    Ok(Some(HealthChecker {
        wake: Some(wake),
        thread: Some(thread),
    }))
}

/// Whether any upstream of `shared` has active checks.
pub fn any_checked(shared: &crate::upstream::Shared) -> bool {
    shared.upstreams.iter().any(|u| u.spec.health.is_some())
}
