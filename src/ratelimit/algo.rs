//! The three algorithms as pure functions of (state word, now): GCRA,
//! fixed window and sliding window (counter estimate).
//!
//! Owns: the meaning of a cell's 64-bit state word and every number a
//! decision reports (remaining, reset, retry-after). Must never: touch
//! memory, clocks or atomics; `table` applies these steps with a CAS, so a
//! step must be a deterministic function of its inputs.

/// Nanoseconds in a second, for the header values.
pub const NS: u64 = 1_000_000_000;

/// Largest `limit` for `sliding_window`: its two counters share one word.
pub const SLIDING_MAX_LIMIT: u64 = (1 << 20) - 1;

/// Largest `limit` for `fixed_window`.
pub const FIXED_MAX_LIMIT: u64 = u32::MAX as u64;

/// The state word of a key never seen (or evicted while full).
pub const FRESH: u64 = 0;

/// Which algorithm, with its parameters in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algo {
    /// Generic cell rate algorithm: `interval` = period / limit (rounded
    /// up, so rounding can only under-admit), `tolerance` = burst × interval,
    /// `max_delay` > 0 in delay mode.
    Gcra {
        /// Emission interval in ns.
        interval: u64,
        /// Burst tolerance in ns.
        tolerance: u64,
        /// Longest delay a request may be held for instead of rejected.
        max_delay: u64,
    },
    /// At most `limit` per aligned window of `period` ns.
    FixedWindow {
        /// Requests per window.
        limit: u64,
        /// Window length in ns.
        period: u64,
    },
    /// Previous window weighted by its overlap plus the current one, at most `limit`.
    SlidingWindow {
        /// Requests per window.
        limit: u64,
        /// Window length in ns.
        period: u64,
    },
}

/// What one step decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Admitted now.
    Admit,
    /// Admitted, but the request must wait this many ns first (GCRA delay mode).
    Delay(u64),
    /// Rejected; a retry after this many ns would be admitted (absent other traffic).
    Reject(u64),
}

/// A step's result: the state to store (`None` = unchanged) and what the
/// client is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// New state word; `None` when rejected.
    pub next: Option<u64>,
    /// The decision.
    pub verdict: Verdict,
    /// Requests that would be admitted right after this one, without waiting.
    pub remaining: u64,
    /// Ns until the quota is whole again (GCRA) or the window ends.
    pub reset: u64,
}

impl Algo {
    /// Applies one request at `now` (ns, never 0) to `state`.
    pub fn step(self, state: u64, now: u64) -> Step {
        match self {
            Algo::Gcra {
                interval,
                tolerance,
                max_delay,
            } => gcra(state, now, interval, tolerance, max_delay),
            Algo::FixedWindow { limit, period } => fixed(state, now, limit, period),
            Algo::SlidingWindow { limit, period } => sliding(state, now, limit, period),
        }
    }

    /// True when `state` holds no charge at `now`: forgetting it is the
    /// same as keeping it, so it may be evicted.
    pub fn is_full(self, state: u64, now: u64) -> bool {
        match self {
            Algo::Gcra { .. } => state <= now,
            Algo::FixedWindow { period, .. } => (state >> 32) < window(now, period),
            Algo::SlidingWindow { period, .. } => {
                let idx = window(now, period) & IDX_MASK;
                let sidx = state >> 40;
                // An index two or more windows back, or a wrapped one.
                idx.wrapping_sub(sidx) & IDX_MASK >= 2 || state == FRESH
            }
        }
    }

    /// Ns from `now` until `state` becomes full (0 if it already is).
    pub fn until_full(self, state: u64, now: u64) -> u64 {
        match self {
            Algo::Gcra { .. } => state.saturating_sub(now),
            Algo::FixedWindow { period, .. } if !self.is_full(state, now) => {
                period - (now % period)
            }
            Algo::SlidingWindow { period, .. } if !self.is_full(state, now) => {
                let idx = window(now, period) & IDX_MASK;
                let behind = idx.wrapping_sub(state >> 40) & IDX_MASK;
                (2 - behind) * period - (now % period)
            }
            _ => 0,
        }
    }
}

/// 1-based window index, so that the fresh state (index 0) is never current.
fn window(now: u64, period: u64) -> u64 {
    now / period + 1
}

fn gcra(tat: u64, now: u64, interval: u64, tolerance: u64, max_delay: u64) -> Step {
    let start = tat.max(now);
    let wait = start - now;
    if wait > tolerance + max_delay {
        let retry = wait - tolerance;
        return Step {
            next: None,
            verdict: Verdict::Reject(retry),
            remaining: 0,
            reset: wait,
        };
    }
    let next = start + interval;
    let verdict = match wait.saturating_sub(tolerance) {
        0 => Verdict::Admit,
        d => Verdict::Delay(d),
    };
    let room = (now + tolerance + interval).saturating_sub(next);
    Step {
        next: Some(next),
        verdict,
        remaining: room / interval,
        reset: next - now,
    }
}

fn fixed(state: u64, now: u64, limit: u64, period: u64) -> Step {
    let idx = window(now, period);
    let count = if state >> 32 == idx {
        state & 0xffff_ffff
    } else {
        0
    };
    let reset = period - (now % period);
    if count >= limit {
        return Step {
            next: None,
            verdict: Verdict::Reject(reset),
            remaining: 0,
            reset,
        };
    }
    Step {
        next: Some((idx << 32) | (count + 1)),
        verdict: Verdict::Admit,
        remaining: limit - count - 1,
        reset,
    }
}

const IDX_MASK: u64 = (1 << 24) - 1;
const CNT_MASK: u64 = (1 << 20) - 1;

/// Sliding window word: window index mod 2^24 (bits 40..64), previous
/// window's count (20..40), current window's count (0..20).
fn sliding(state: u64, now: u64, limit: u64, period: u64) -> Step {
    let idx = window(now, period) & IDX_MASK;
    let sidx = state >> 40;
    let (prev, cur) = match idx.wrapping_sub(sidx) & IDX_MASK {
        0 if state != FRESH => ((state >> 20) & CNT_MASK, state & CNT_MASK),
        1 if state != FRESH => (state & CNT_MASK, 0),
        _ => (0, 0),
    };
    let el = now % period;
    // Weighted estimate × period, in u128: prev × (period − elapsed) + cur × period.
    let (p, l) = (period as u128, limit as u128);
    let carried = prev as u128 * (p - el as u128);
    let used = carried + (cur as u128 + 1) * p;
    if used > l * p {
        return Step {
            next: None,
            verdict: Verdict::Reject(sliding_retry(prev, cur, limit, period, el)),
            remaining: 0,
            reset: period - el,
        };
    }
    let remaining = ((l * p - used) / p) as u64;
    Step {
        next: Some((idx << 40) | (prev << 20) | (cur + 1)),
        verdict: Verdict::Admit,
        remaining,
        reset: period - el,
    }
}

/// Ns until a request would pass the sliding estimate (rounded up).
fn sliding_retry(prev: u64, cur: u64, limit: u64, period: u64, el: u64) -> u64 {
    let (p, l) = (period as u128, limit as u128);
    if cur < limit && prev > 0 {
        // Within this window: prev × (period − el − t) ≤ (limit − cur − 1) × period.
        let allowed = (l - cur as u128 - 1) * p;
        let need = (p - el as u128) * prev as u128 - allowed;
        return need.div_ceil(prev as u128) as u64;
    }
    // Next window: cur × (period − el') ≤ (limit − 1) × period.
    let rest = period - el;
    if cur == 0 {
        return rest;
    }
    let allowed = (l - 1) * p;
    let carried = p * cur as u128;
    let el_next = carried.saturating_sub(allowed).div_ceil(cur as u128) as u64;
    rest + el_next
}
