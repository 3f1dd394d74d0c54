//! The algorithms against simple reference models over random arrival
//! sequences (proptest), the window bound, retry-after correctness, the
//! table's eviction and overflow rules against an unbounded per-key model,
//! the per-source new-key budget, and exactness under real threads.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;

use proptest::prelude::*;

use super::algo::{Algo, Step, Verdict, FRESH};
use super::source::NewKeys;
use super::table::{Checked, Table};

/// A budget no test source reaches.
fn unlimited() -> NewKeys {
    NewKeys::new(u64::MAX, 1)
}

/// A table check where every key is its own source, without a budget.
fn check(t: &Table, key: u64, algo: Algo, now: u64) -> Checked {
    t.check(key, algo, now, &unlimited(), || key)
}

fn admitted(c: Checked) -> bool {
    matches!(c, Checked::Step(s) | Checked::Shared(s) if s.verdict == Verdict::Admit)
}

/// The textbook token bucket GCRA must equal: capacity (burst + 1) tokens,
/// one token per `interval`, tokens kept in ns so nothing is rounded.
struct Bucket {
    level: u64,
    last: u64,
}

fn bucket_step(b: &mut Bucket, now: u64, interval: u64, burst: u64) -> (bool, u64) {
    let cap = (burst + 1) * interval;
    b.level = (b.level + (now - b.last)).min(cap);
    b.last = now;
    if b.level >= interval {
        b.level -= interval;
        (true, b.level / interval)
    } else {
        (false, interval - b.level)
    }
}

fn gcra(interval: u64, burst: u64) -> Algo {
    Algo::Gcra {
        interval,
        tolerance: burst * interval,
        max_delay: 0,
    }
}

/// Arrival times: non-decreasing, starting at 1, with gaps around `interval`.
fn arrivals(max_gap: u64) -> impl Strategy<Value = Vec<(u8, u64)>> {
    prop::collection::vec((0u8..3, 0..max_gap), 1..200).prop_map(|v| {
        let mut t = 1;
        v.into_iter()
            .map(|(k, gap)| {
                t += gap;
                (k, t)
            })
            .collect()
    })
}

proptest! {
    #[test]
    fn gcra_equals_token_bucket(interval in 1u64..1000, burst in 0u64..6, seq in arrivals(1500)) {
        let algo = gcra(interval, burst);
        let mut state: HashMap<u8, u64> = HashMap::new();
        let mut refs: HashMap<u8, Bucket> = HashMap::new();
        for (k, now) in seq {
            let s = state.entry(k).or_insert(FRESH);
            let step = algo.step(*s, now);
            let b = refs.entry(k).or_insert(Bucket { level: (burst + 1) * interval, last: now });
            let (ok, n) = bucket_step(b, now, interval, burst);
            match step.verdict {
                Verdict::Admit => {
                    prop_assert!(ok, "admitted at {now}, bucket says no");
                    prop_assert_eq!(step.remaining, n);
                    *s = step.next.expect("admit stores state");
                }
                Verdict::Reject(retry) => {
                    prop_assert!(!ok, "rejected at {now}, bucket says yes");
                    prop_assert_eq!(retry, n);
                }
                Verdict::Delay(_) => prop_assert!(false, "no delay mode here"),
            }
        }
    }

    #[test]
    fn fixed_window_equals_counting(limit in 1u64..8, period in 1u64..500, seq in arrivals(200)) {
        let algo = Algo::FixedWindow { limit, period };
        let mut state: HashMap<u8, u64> = HashMap::new();
        let mut counts: HashMap<(u8, u64), u64> = HashMap::new();
        for (k, now) in seq {
            let s = state.entry(k).or_insert(FRESH);
            let step = algo.step(*s, now);
            let c = counts.entry((k, now / period)).or_insert(0);
            let ok = *c < limit;
            prop_assert_eq!(step.verdict == Verdict::Admit, ok);
            if ok {
                *c += 1;
                prop_assert_eq!(step.remaining, limit - *c);
                *s = step.next.expect("admit stores state");
            }
        }
    }

    #[test]
    fn sliding_window_equals_weighted_counts(limit in 1u64..8, period in 1u64..500, seq in arrivals(200)) {
        let algo = Algo::SlidingWindow { limit, period };
        let mut state: HashMap<u8, u64> = HashMap::new();
        let mut counts: HashMap<(u8, u64), u64> = HashMap::new();
        for (k, now) in seq {
            let s = state.entry(k).or_insert(FRESH);
            let step = algo.step(*s, now);
            let w = now / period;
            let prev = if w == 0 { 0 } else { *counts.get(&(k, w - 1)).unwrap_or(&0) };
            let cur = *counts.get(&(k, w)).unwrap_or(&0);
            // Estimate of the last `period` ns, scaled by period to stay in integers.
            let estimate = prev as f64 * (period - now % period) as f64 / period as f64 + cur as f64;
            let ok = estimate + 1.0 <= limit as f64 + 1e-9;
            prop_assert_eq!(step.verdict == Verdict::Admit, ok, "at {} prev {} cur {}", now, prev, cur);
            if ok {
                *counts.entry((k, w)).or_insert(0) += 1;
                *s = step.next.expect("admit stores state");
            }
        }
    }

    /// After a rejection, a retry exactly `retry` ns later is admitted.
    #[test]
    fn retry_after_is_enough(which in 0u8..3, limit in 1u64..6, seq in arrivals(100)) {
        let period = 1000;
        let algo = match which {
            0 => gcra(period / limit, 1),
            1 => Algo::FixedWindow { limit, period },
            _ => Algo::SlidingWindow { limit, period },
        };
        let mut s = FRESH;
        for (_, now) in seq {
            let step = algo.step(s, now);
            match step.verdict {
                Verdict::Reject(retry) => {
                    prop_assert!(retry > 0);
                    let later = algo.step(s, now + retry);
                    prop_assert_eq!(later.verdict, Verdict::Admit, "retry {} at {}", retry, now);
                    if which != 2 {
                        // Exact for GCRA and fixed windows: one ns earlier is still too early.
                        let early = algo.step(s, now + retry - 1).verdict;
                        prop_assert!(matches!(early, Verdict::Reject(_)));
                    }
                }
                _ => s = step.next.expect("admit stores state"),
            }
        }
    }

    /// The bound of docs/rate-limiting.md: in any window of `period` ns,
    /// GCRA admits at most limit + burst.
    #[test]
    fn gcra_window_bound(limit in 1u64..10, burst in 0u64..5, seq in arrivals(400)) {
        let period: u64 = 1000;
        let algo = gcra(period.div_ceil(limit), burst);
        let mut s = FRESH;
        let mut admitted = Vec::new();
        for (_, now) in seq {
            let step = algo.step(s, now);
            if step.verdict == Verdict::Admit {
                s = step.next.expect("state");
                admitted.push(now);
            }
        }
        for (i, &t) in admitted.iter().enumerate() {
            let n = admitted[i..].iter().take_while(|&&u| u < t + period).count() as u64;
            prop_assert!(n <= limit + burst, "{} admitted in [{}, {})", n, t, t + period);
        }
    }

    /// A bounded table never admits a request an unbounded one would reject
    /// for that key: eviction only forgets full state, the overflow state
    /// sees every request of the keys it serves, and a key that leaves it
    /// starts from it. Until the first overflow, the table is exact.
    #[test]
    fn bounded_table_never_over_admits(
        which in 0u8..3,
        max_keys in 1usize..5,
        seq in prop::collection::vec((0u8..8, 0u64..300), 1..300),
    ) {
        let algo = match which {
            0 => gcra(100, 1),
            1 => Algo::FixedWindow { limit: 2, period: 250 },
            _ => Algo::SlidingWindow { limit: 2, period: 250 },
        };
        let table = Table::new(max_keys);
        let mut reference: HashMap<u8, u64> = HashMap::new();
        let mut overflowed = false;
        let mut now = 1;
        for (k, gap) in seq {
            now += gap;
            let r = reference.entry(k).or_insert(FRESH);
            let want = algo.step(*r, now);
            let got = check(&table, (u64::from(k) + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15), algo, now);
            overflowed |= matches!(got, Checked::Shared(_));
            let got: Step = match got {
                Checked::Step(s) if !overflowed => {
                    prop_assert_eq!(s, want, "key {} at {}", k, now);
                    s
                }
                Checked::Step(s) | Checked::Shared(s) => s,
                Checked::SourceBudget(_) => { prop_assert!(false, "no budget here"); continue }
            };
            if got.verdict == Verdict::Admit {
                prop_assert_eq!(want.verdict, Verdict::Admit, "over-admitted key {} at {}", k, now);
                if let Some(n) = want.next { *r = n; }
            }
        }
    }
}

/// A table full of live state serves new keys from one shared state
/// instead of refusing them, evicts only full state, and a key moving
/// from the overflow into a slot keeps what it used there.
#[test]
fn full_table_shares_one_state_and_moving_keys_keep_it() {
    let algo = gcra(1000, 0);
    let t = Table::new(2);
    let step = |c: Checked| match c {
        Checked::Step(s) => ("own", s.verdict),
        Checked::Shared(s) => ("shared", s.verdict),
        Checked::SourceBudget(_) => ("budget", Verdict::Admit),
    };
    assert_eq!(step(check(&t, 11, algo, 1)), ("own", Verdict::Admit));
    assert_eq!(step(check(&t, 22, algo, 1)), ("own", Verdict::Admit));
    // Both slots hold live state until t = 1001: new keys share one bucket.
    assert_eq!(step(check(&t, 33, algo, 500)), ("shared", Verdict::Admit));
    assert_eq!(
        step(check(&t, 44, algo, 500)),
        ("shared", Verdict::Reject(1000))
    );
    assert_eq!(
        step(check(&t, 11, algo, 500)),
        ("own", Verdict::Reject(501))
    );
    // At 1001 the home slot's state is full, but 33 used the overflow at
    // 500: it moves in with that state, not a fresh one.
    assert_eq!(
        step(check(&t, 33, algo, 1001)),
        ("shared", Verdict::Reject(499))
    );
    assert_eq!(step(check(&t, 33, algo, 1500)), ("own", Verdict::Admit));
    assert_eq!(
        step(check(&t, 33, algo, 1600)),
        ("own", Verdict::Reject(900))
    );
    assert_eq!(t.len(), 2);
}

/// One source may add `budget` keys per window; its existing keys and other
/// sources are unaffected, and a refused key leaves no state behind.
#[test]
fn a_source_over_its_new_key_budget_is_refused_new_keys_only() {
    let algo = gcra(100, 5);
    let t = Table::new(64);
    let budget = NewKeys::new(2, 1000);
    let on = |key: u64, source: u64, now: u64| t.check(key, algo, now, &budget, || source);
    assert!(admitted(on(1, 7, 1)));
    assert!(admitted(on(2, 7, 1)));
    assert_eq!(on(3, 7, 10), Checked::SourceBudget(990));
    assert!(admitted(on(1, 7, 10)), "existing keys keep working");
    assert!(admitted(on(4, 8 | (8 << 32), 10)), "another source");
    assert_eq!(t.len(), 3);
    // The next window gives the source its budget again.
    assert!(admitted(on(3, 7, 1000)));
}
#[test]
fn delay_mode_holds_then_rejects() {
    let algo = Algo::Gcra {
        interval: 100,
        tolerance: 0,
        max_delay: 250,
    };
    let mut s = FRESH;
    let mut seen = Vec::new();
    for _ in 0..5 {
        let step = algo.step(s, 1);
        seen.push(step.verdict);
        if let Some(n) = step.next {
            s = n;
        }
    }
    assert_eq!(
        seen,
        [
            Verdict::Admit,
            Verdict::Delay(100),
            Verdict::Delay(200),
            Verdict::Reject(300),
            Verdict::Reject(300)
        ]
    );
}

/// Threads hammering one key with the clock frozen admit exactly what the
/// algorithm allows at that instant: burst + 1 for GCRA, limit per window.
#[test]
fn exact_under_threads() {
    for (algo, allowed) in [
        (gcra(1_000_000, 7), 8),
        (
            Algo::FixedWindow {
                limit: 13,
                period: 1_000_000,
            },
            13,
        ),
        (
            Algo::SlidingWindow {
                limit: 9,
                period: 1_000_000,
            },
            9,
        ),
    ] {
        for round in 0..50 {
            let table = Arc::new(Table::new(64));
            let admitted = Arc::new(AtomicU64::new(0));
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let (table, admitted) = (table.clone(), admitted.clone());
                    std::thread::spawn(move || {
                        for _ in 0..200 {
                            if let Checked::Step(s) = check(&table, 42 + round, algo, 10) {
                                if s.verdict == Verdict::Admit {
                                    admitted.fetch_add(1, SeqCst);
                                }
                            }
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().expect("thread");
            }
            assert_eq!(admitted.load(SeqCst), allowed, "{algo:?}");
        }
    }
}

/// Many keys racing for few slots from several threads: no key is ever
/// admitted past its quota (a key in two slots would double it).
#[test]
fn racing_inserts_never_duplicate_a_key() {
    let algo = gcra(1 << 40, 2);
    for round in 0..30u64 {
        let table = Arc::new(Table::new(8));
        let per_key: Arc<Vec<AtomicU64>> = Arc::new((0..16).map(|_| AtomicU64::new(0)).collect());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let (table, per_key) = (table.clone(), per_key.clone());
                std::thread::spawn(move || {
                    for i in 0..400u64 {
                        let k = (i * 7 + t) % 16;
                        let key = (k + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ round;
                        if let Checked::Step(s) = check(&table, key.max(1), algo, 1 + i) {
                            if s.verdict == Verdict::Admit {
                                per_key[k as usize].fetch_add(1, SeqCst);
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        for (k, n) in per_key.iter().enumerate() {
            assert!(n.load(SeqCst) <= 3, "key {k} admitted {}", n.load(SeqCst));
        }
    }
}
