//! The retry budget with injected time: the reserve, the share, expiry, the
//! shard batching, exactness under threads, and the bound at every retry
//! when every request fails and is retried (proptest).
//!
//! The bound, from the code: when `try_withdraw` pays from the balance at t
//! (in slice k), the balance, which is every entry of slices k − 20 ..= k
//! (older ones are expired first), stays ≥ 0. Those slices cover (t − 10 s,
//! t] and begin after t − 10.5 s. So 100 × share retries in (t − 10 s, t] ≤
//! budget_percent × requests in (t − 10.5 s, t]. The reserve is a GCRA
//! bucket of one second: it pays at most min × (L + 1) retries in any span
//! of L seconds. Any 10 s interval has no more retries than the 10 s up to
//! its last retry, so this bounds every interval; the stated slack is the
//! 0.5 s of requests and the one second of reserve more.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

use proptest::prelude::*;

use super::*;

const S: u64 = 1_000_000_000;
/// Slice-aligned and far from zero, as the real clock is.
const T0: u64 = 2000 * S;

fn grants(b: &RetryBudget, n: u32, now: u64) -> u32 {
    (0..n).filter(|_| b.try_withdraw(now)).count() as u32
}

#[test]
fn the_reserve_is_a_rate_with_one_second_saved_up() {
    let b = RetryBudget::new(20, 10);
    assert_eq!(grants(&b, 150, T0), 10, "one second's worth at once");
    assert_eq!(grants(&b, 10, T0 + S / 20), 0, "none back after 50 ms");
    assert_eq!(grants(&b, 10, T0 + S / 10), 1, "one back every 100 ms");
    assert_eq!(
        grants(&b, 150, T0 + 2 * S),
        10,
        "never more than a second's"
    );
    assert!(!RetryBudget::new(20, 0).try_withdraw(T0), "no reserve");
    // The share is spent first; the reserve only after it.
    let b = RetryBudget::new(20, 10);
    (0..100).for_each(|_| b.deposit(T0));
    assert_eq!(grants(&b, 150, T0), 20 + 10);
}

#[test]
fn each_request_funds_its_share() {
    let b = RetryBudget::new(20, 0);
    (0..1000).for_each(|_| b.deposit(T0));
    assert_eq!(grants(&b, 300, T0 + S), 200);
    assert_eq!(b.balance(), 0);
}

#[test]
fn old_traffic_funds_no_later_storm() {
    let b = RetryBudget::new(20, 0);
    (0..10_000).for_each(|_| b.deposit(T0));
    assert!(b.try_withdraw(T0 + TTL - 1), "still counted within TTL");
    assert_eq!(grants(&b, 100, T0 + TTL + SLICE), 0);
    assert_eq!(
        b.balance(),
        -100,
        "the deposits left; the late withdrawal counts on"
    );
    // A deposit 21 slices behind the slot's newer slice has expired: dropped.
    b.deposit(T0 + 30 * S);
    b.deposit(T0 + 30 * S - 21 * SLICE);
    assert_eq!(b.balance(), -80);
}

#[test]
fn a_shard_counts_its_gathered_deposits_before_it_withdraws() {
    let b = Arc::new(RetryBudget::new(20, 0));
    let shard = BudgetShard::new(b.clone());
    (0..5).for_each(|_| shard.deposit(T0));
    assert!(!b.try_withdraw(T0), "not yet on the shared budget");
    assert!(shard.try_withdraw(T0));
    assert!(!shard.try_withdraw(T0));
    // BATCH deposits reach the shared budget without a withdrawal.
    (0..BATCH).for_each(|_| shard.deposit(T0));
    assert_eq!(b.balance(), i64::from(BATCH) * 20);
    // A new slice flushes the old one's deposits into their own slice.
    (0..3).for_each(|_| shard.deposit(T0 + SLICE));
    shard.deposit(T0 + 2 * SLICE);
    assert_eq!(b.balance(), i64::from(BATCH + 3) * 20);
    assert_eq!(grants(&b, 5, T0 + TTL + 3 * SLICE), 0, "all expired");
}

#[test]
fn withdrawals_are_exact_under_threads() {
    let b = Arc::new(RetryBudget::new(20, 0));
    (0..500).for_each(|_| b.deposit(T0));
    let granted = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (b, granted) = (b.clone(), granted.clone());
            std::thread::spawn(move || {
                let shard = BudgetShard::new(b);
                for i in 0..2000 {
                    let now = T0 + i * 1_000_000;
                    shard.deposit(now);
                    if shard.try_withdraw(now) {
                        granted.fetch_add(1, SeqCst);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    // Within 2 s nothing expired: the balance is exactly what was not spent.
    let granted = granted.load(SeqCst) as i64;
    assert_eq!(b.balance(), 20 * (500 + 4 * 2000) - 100 * granted);
    assert!(
        b.balance() < 100 + 4 * 20,
        "every thread spent what it could"
    );
}

/// Every request fails and is retried when the budget allows. Returns the
/// request and retry times.
fn every_request_fails(arrivals: &[u64], p: u32, min: u32, shards: usize) -> (Vec<u64>, Vec<u64>) {
    let b = Arc::new(RetryBudget::new(p, min));
    let handles: Vec<_> = (0..shards).map(|_| BudgetShard::new(b.clone())).collect();
    let mut retries = Vec::new();
    for (i, &now) in arrivals.iter().enumerate() {
        let granted = match handles.get(i % shards.max(1)) {
            Some(h) => {
                h.deposit(now);
                h.try_withdraw(now)
            }
            None => {
                b.deposit(now);
                b.try_withdraw(now)
            }
        };
        if granted {
            retries.push(now);
        }
    }
    (arrivals.to_vec(), retries)
}

/// Events of sorted `times` in [from, to).
fn between(times: &[u64], from: u64, to: u64) -> u64 {
    (times.partition_point(|&t| t < to) - times.partition_point(|&t| t < from)) as u64
}

/// The bound at every retry t: the retries of (t − TTL, t] against the
/// reserve of `TTL` + 1 s and the share of the requests of
/// (t − TTL − SLICE, t].
fn check_bound(requests: &[u64], retries: &[u64], p: u32, min: u32) -> Result<(), String> {
    let reserve = u64::from(min) * (TTL / S + 1) * 100;
    for &t in retries {
        let spent = 100 * between(retries, t + 1 - TTL, t + 1);
        let funded = reserve + u64::from(p) * between(requests, t + 1 - TTL - SLICE, t + 1);
        if spent > funded {
            return Err(format!("at {t}: {spent} units spent, {funded} funded"));
        }
    }
    Ok(())
}

#[test]
fn attempts_stay_near_one_point_two_times_requests() {
    // 1000 requests/s for 60 s, all failing.
    let arrivals: Vec<u64> = (0..60_000).map(|i| T0 + i * 1_000_000).collect();
    for shards in [0, 2] {
        let (requests, retries) = every_request_fails(&arrivals, 20, 10, shards);
        assert_eq!(check_bound(&requests, &retries, 20, 10), Ok(()));
        let attempts = (requests.len() + retries.len()) as f64;
        let ratio = attempts / requests.len() as f64;
        // 20 %, plus the reserve of 10/s over 1000 requests/s: 1.21, and
        // deposits counting up to 10.5 s rather than 10 s.
        assert!(ratio <= 1.22, "{shards} shards: {ratio}");
        assert!(
            ratio >= 1.19,
            "{shards} shards: the budget is used: {ratio}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Bursts and silences of every shape: the bound holds at every retry.
    #[test]
    fn retries_stay_within_the_budget_at_every_retry(
        bursts in prop::collection::vec((0u64..15_000, 1u64..600, 0u64..20_000), 1..24),
        p in 0u32..60,
        min in 0u32..20,
        shards in 0usize..3,
    ) {
        let mut now = T0;
        let mut arrivals = Vec::new();
        for (gap_ms, count, spacing_us) in bursts {
            now += gap_ms * 1_000_000;
            for _ in 0..count {
                arrivals.push(now);
                now += spacing_us * 1000;
            }
        }
        let (requests, retries) = every_request_fails(&arrivals, p, min, shards);
        prop_assert_eq!(check_bound(&requests, &retries, p, min), Ok(()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// With no share, the reserve alone pays at most min × 2 retries in any
    /// second (one saved up, one refilled), on every traffic shape.
    #[test]
    fn the_reserve_alone_pays_at_most_two_seconds_worth_in_any_second(
        gaps_us in prop::collection::vec(0u64..300_000, 1..2000),
        min in 1u32..50,
        shards in 0usize..3,
    ) {
        let mut now = T0;
        let arrivals: Vec<u64> = gaps_us.iter().map(|g| { now += g * 1000; now }).collect();
        let (_, retries) = every_request_fails(&arrivals, 0, min, shards);
        for &t in &retries {
            prop_assert!(between(&retries, t + 1 - S, t + 1) <= 2 * u64::from(min));
        }
    }
}
