//! The checker thread's loop: one thread runs every target's checks at once
//! over non-blocking sockets and poll(2), on a jittered schedule, and
//! publishes each result to the `HealthBoard`.
//!
//! Owns: the schedule (a target's first check within a tenth of an interval
//! of start or of joining, then one every interval ±10 %, start to start),
//! each check's timeout, following each checked upstream's target set
//! (`roster`: a target that leaves stops being checked, one that joins is
//! checked from then on), and the transition log lines. Must never: run on a shard, let one
//! target hold up another (a stalled target only keeps its own socket until
//! its timeout), or wake without a due check, a deadline, a socket event or
//! the stop signal.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use super::probe::{self, CheckResult, Probe};
use super::state::{TargetState, Transition};
use crate::config::upstream::{ExpectStatus, HealthSpec};
use crate::observe::log::{self, Val};
use crate::ratelimit::{clock, clock_tick};
use crate::tls::UpstreamTls;
use crate::upstream::shared::SharedUpstream;
use crate::upstream::Shared;

const MS: u64 = 1_000_000;

/// Longest poll(2) wait, so a clock jump cannot park the thread for long.
const MAX_WAIT_MS: u64 = 60_000;

/// Longest time before the checker looks at its upstreams' target sets
/// again (a removed target's check in flight is abandoned then).
const FOLLOW_MS: u64 = 200;

/// When a target's first check starts: spread over the first tenth of an
/// interval, so a fresh gateway learns soon and targets do not fire together.
pub fn first_due(now: u64, interval: u64, r: u64) -> u64 {
    now + r % (interval / 10 + 1)
}

/// When the check after one that started at `started` starts: one interval
/// later ±10 %, and not before `now` (a check may outlast its interval).
pub fn next_due(started: u64, interval: u64, r: u64, now: u64) -> u64 {
    (started + interval - interval / 10 + r % (interval / 5 + 1)).max(now)
}

struct Running {
    probe: Probe,
    started: u64,
    deadline: u64,
}

struct Target {
    /// The upstream (index into `checked`) and the target's slot in it.
    up: usize,
    t: usize,
    upstream: Arc<str>,
    addr: SocketAddr,
    addr_text: Box<str>,
    request: Box<[u8]>,
    /// The upstream's TLS settings (`tls = true`): checks speak TLS too.
    tls: Option<Arc<UpstreamTls>>,
    interval: u64,
    timeout: u64,
    expect: ExpectStatus,
    state: TargetState,
    /// When the next check starts, while none runs.
    due: u64,
    running: Option<Running>,
}

/// One upstream with `[upstreams.health]`.
struct Checked {
    up: Arc<SharedUpstream>,
    name: Arc<str>,
    spec: HealthSpec,
    /// The roster generation the target list was built from.
    seen: Option<u64>,
}

/// Where the checker finds the current generation's upstreams (a reload
/// publishes a new one; it is asked at every turn of the loop).
pub type Source = Box<dyn Fn() -> Arc<Shared> + Send>;

/// Every checked target's schedule and check in flight.
pub struct Checker {
    targets: Vec<Target>,
    checked: Vec<Checked>,
    source: Source,
    shared: Arc<Shared>,
    rng: RandomState,
    draws: u64,
    /// A check due within one coarse-clock tick starts now: the clock cannot
    /// tell the difference, and waiting for it would wake the thread in vain.
    tick: u64,
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(MS)
}

impl Checker {
    /// The targets of every upstream with `[upstreams.health]` in
    /// `source`'s generation, first checks spread after `now`.
    pub fn new(source: Source, now: u64) -> Checker {
        let shared = source();
        let mut c = Checker {
            targets: Vec::new(),
            checked: Vec::new(),
            source,
            shared,
            rng: RandomState::new(),
            draws: 0,
            tick: clock_tick(),
        };
        c.checked = checked_of(&c.shared, &mut Vec::new());
        c.follow(now);
        c
    }

    /// Takes up a newly published generation: an upstream whose state was
    /// carried over keeps its targets' schedules and runs (and its check in
    /// flight); the others are dropped or start like upstreams at start.
    fn follow_generation(&mut self) {
        let shared = (self.source)();
        if Arc::ptr_eq(&shared, &self.shared) {
            return;
        }
        let mut old = std::mem::take(&mut self.checked);
        let checked = checked_of(&shared, &mut old);
        // Old index -> new index of every upstream kept.
        let moved: Vec<Option<usize>> = old
            .iter()
            .map(|o| checked.iter().position(|c| Arc::ptr_eq(&c.up, &o.up)))
            .collect();
        self.targets
            .retain_mut(|t| match moved.get(t.up).copied().flatten() {
                Some(k) => {
                    t.up = k;
                    true
                }
                None => false,
            });
        self.checked = checked;
        self.shared = shared;
    }

    /// Brings the target list in line with each checked upstream's current
    /// target set: a target that left is dropped (with its check in
    /// flight), one that joined is scheduled like a target at start (its
    /// runs taken from the board, which a carried upstream kept).
    fn follow(&mut self, now: u64) {
        self.follow_generation();
        for k in 0..self.checked.len() {
            let up = self.checked[k].up.clone();
            let roster = &up.roster;
            let g = roster.published().generation();
            if self.checked[k].seen == Some(g) {
                continue;
            }
            self.checked[k].seen = Some(g);
            let m = roster.current();
            self.targets
                .retain(|t| t.up != k || m.get(t.t).is_some_and(|x| x.addr == t.addr));
            for &t in m.active.iter() {
                let addr = m.addr(t);
                let known = self.targets.iter().any(|x| x.up == k && x.t == t);
                if known || t >= self.checked[k].up.slots() {
                    continue;
                }
                let r = self.draw();
                let c = &self.checked[k];
                let h = &c.spec;
                let (interval, timeout) = (ns(h.interval), ns(h.timeout));
                let was = c.up.health.detail(t);
                self.targets.push(Target {
                    up: k,
                    t,
                    upstream: c.name.clone(),
                    addr,
                    addr_text: addr.to_string().into(),
                    request: probe::request(&h.path, h.host.as_deref(), addr),
                    tls: c.up.spec.tls.clone(),
                    interval,
                    timeout,
                    expect: h.expect.clone(),
                    state: TargetState::resume(
                        was.healthy,
                        was.passes,
                        was.failures,
                        h.healthy_threshold,
                        h.unhealthy_threshold,
                    ),
                    due: first_due(now, interval, r),
                    running: None,
                });
            }
        }
    }

    /// Whether no upstream has checks (then no thread is needed).
    pub fn is_empty(&self) -> bool {
        self.checked.is_empty()
    }

    /// Runs checks until `stop` becomes readable or its peer closes.
    pub fn run(mut self, stop: &UnixStream) {
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(self.targets.len() + 1);
        let mut who: Vec<usize> = Vec::with_capacity(self.targets.len());
        loop {
            let now = clock();
            self.follow(now);
            self.expire(now);
            self.start_due(now);
            fds.clear();
            who.clear();
            fds.push(pollfd(stop.as_raw_fd(), libc::POLLIN));
            for (i, t) in self.targets.iter().enumerate() {
                if let Some(r) = &t.running {
                    fds.push(pollfd(r.probe.fd(), r.probe.events()));
                    who.push(i);
                }
            }
            let wait = self.wait_ms(now);
            // SAFETY: `fds` is an initialised array of `fds.len()` pollfds,
            // borrowed mutably for the call; every fd in it is open (the
            // probes and `stop` live until after the call).
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, wait) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    log::error(
                        "health check poll failed",
                        &[("error", Val::Str(&e.to_string()))],
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
                continue;
            }
            if fds.first().is_some_and(|f| f.revents != 0) {
                return;
            }
            let now = clock();
            for (f, &i) in fds[1..].iter().zip(&who) {
                if f.revents != 0 {
                    self.advance(i, now);
                }
            }
        }
    }

    /// Starts the check of every idle target due by `now`.
    fn start_due(&mut self, now: u64) {
        for i in 0..self.targets.len() {
            let t = &mut self.targets[i];
            if t.running.is_some() || t.due > now + self.tick {
                continue;
            }
            match Probe::start(t.addr, t.tls.as_deref()) {
                Ok(probe) => {
                    t.running = Some(Running {
                        probe,
                        started: now,
                        deadline: now + t.timeout,
                    })
                }
                Err(r) => self.finish(i, now, now, r),
            }
        }
    }

    /// Fails every check whose timeout has passed by `now`.
    fn expire(&mut self, now: u64) {
        for i in 0..self.targets.len() {
            let t = &mut self.targets[i];
            if let Some(r) = t.running.take_if(|r| r.deadline <= now) {
                self.finish(i, r.started, now, r.probe.timed_out());
            }
        }
    }

    /// Moves target `i`'s check on after its socket became ready.
    fn advance(&mut self, i: usize, now: u64) {
        let t = &mut self.targets[i];
        let Some(run) = t.running.as_mut() else {
            return;
        };
        if let Some(r) = run.probe.advance(&t.request) {
            let started = run.started;
            t.running = None;
            self.finish(i, started, now, r);
        }
    }

    /// Milliseconds until the next due check or deadline (at least 1), and
    /// at most `FOLLOW_MS`, so a target that joins or leaves is seen soon.
    fn wait_ms(&self, now: u64) -> libc::c_int {
        let next = self
            .targets
            .iter()
            .map(|t| t.running.as_ref().map_or(t.due, |r| r.deadline))
            .min()
            .unwrap_or(now + MAX_WAIT_MS * MS)
            .min(now + FOLLOW_MS * MS);
        next.saturating_sub(now).div_ceil(MS).clamp(1, MAX_WAIT_MS) as libc::c_int
    }

    /// Records target `i`'s result of the check that started at `started`.
    fn finish(&mut self, i: usize, started: u64, now: u64, result: CheckResult) {
        let r = self.draw();
        let t = &mut self.targets[i];
        let passed = matches!(result, CheckResult::Status(s) if t.expect.accepts(s));
        let change = t.state.step(passed);
        if let Some(c) = self.checked.get(t.up) {
            c.up.health
                .publish(t.t, &t.state, result, now, change.is_some());
        }
        t.due = next_due(started, t.interval, r, now);
        if let Some(c) = change {
            log_transition(t, c, result);
        }
    }

    /// A fresh pseudo-random number (for jitter only).
    fn draw(&mut self) -> u64 {
        self.draws += 1;
        self.rng.hash_one(self.draws)
    }
}

/// The checked upstreams of `shared`, each taken from `old` (with its
/// roster generation seen) when its state is the same.
fn checked_of(shared: &Shared, old: &mut [Checked]) -> Vec<Checked> {
    shared
        .upstreams
        .iter()
        .filter_map(|u| {
            let spec = u.spec.health.clone()?;
            let seen = old
                .iter()
                .find(|o| Arc::ptr_eq(&o.up, u))
                .and_then(|o| o.seen);
            Some(Checked {
                up: u.clone(),
                name: Arc::from(&*u.name),
                spec,
                seen,
            })
        })
        .collect()
}

fn pollfd(fd: libc::c_int, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

fn log_transition(t: &Target, change: Transition, result: CheckResult) {
    let reason = result.to_string();
    let fields = |n: u32| {
        [
            ("upstream", Val::Str(&t.upstream)),
            ("target", Val::Str(&t.addr_text)),
            ("reason", Val::Str(&reason)),
            (
                if change == Transition::Healthy {
                    "passes"
                } else {
                    "failures"
                },
                Val::Num(u64::from(n)),
            ),
        ]
    };
    match change {
        Transition::Unhealthy => log::warn("upstream target unhealthy", &fields(t.state.failures)),
        Transition::Healthy => log::info("upstream target healthy", &fields(t.state.passes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_checks_spread_over_a_tenth_of_the_interval() {
        let i = 1000 * MS;
        let mut seen = std::collections::BTreeSet::new();
        let rng = RandomState::new();
        for n in 0..1000u64 {
            let d = first_due(5, i, rng.hash_one(n));
            assert!((5..=5 + i / 10).contains(&d), "{d}");
            seen.insert(d / (10 * MS));
        }
        // Spread, not bunched: most 10 ms buckets of the 100 ms get a check.
        assert!(seen.len() >= 8, "{seen:?}");
    }

    #[test]
    fn next_checks_come_one_interval_later_within_ten_percent() {
        let i = 100 * MS;
        let rng = RandomState::new();
        let (mut lo, mut hi) = (u64::MAX, 0);
        for n in 0..1000u64 {
            let d = next_due(7, i, rng.hash_one(n), 8);
            lo = lo.min(d);
            hi = hi.max(d);
        }
        assert!(lo >= 7 + 90 * MS && hi <= 7 + 110 * MS, "{lo} {hi}");
        assert!(hi - lo > 15 * MS, "jitter spans the range: {lo} {hi}");
    }

    #[test]
    fn a_check_that_outlasted_its_interval_is_followed_at_once() {
        let i = 100 * MS;
        assert_eq!(next_due(0, i, 12345, 500 * MS), 500 * MS);
    }

    #[test]
    fn durations_are_at_least_a_millisecond() {
        assert_eq!(ns(Duration::ZERO), MS);
        assert_eq!(ns(Duration::from_millis(50)), 50 * MS);
    }
}
