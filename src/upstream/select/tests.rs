//! Unit tests every algorithm must pass (`tried` and `usable` honoured,
//! nothing eligible gives None, counters), and the helpers the
//! per-algorithm tests share.

#[path = "../../../tests/common/upstream_spec.rs"]
mod upstream_spec;

use super::*;
use crate::config::upstream::HashKey;

/// A selector of `balance` over one target per weight.
pub(super) fn selector(balance: Balance, weights: &[u32], seed: u64) -> Selector {
    Selector::new(&upstream_spec::upstream_spec(balance, weights), seed)
}

/// The share of `picks` that went to `t`.
pub(super) fn share(picks: &[usize], t: usize) -> f64 {
    picks.iter().filter(|&&p| p == t).count() as f64 / picks.len() as f64
}

fn all() -> [Balance; 4] {
    [
        Balance::RoundRobin,
        Balance::LeastRequest,
        Balance::Ewma,
        Balance::Hash(HashKey::Ip),
    ]
}

#[test]
fn tried_and_unusable_targets_are_never_picked() {
    for b in all() {
        let s = selector(b.clone(), &[1, 2, 1, 3, 1], 3);
        let mut seen = [0u32; 5];
        for k in 0..2000u64 {
            let now = k * 1_000_000;
            let t = s
                .pick(hash_key(&k.to_le_bytes()), &[2, 4], |i| i != 1, now)
                .unwrap();
            s.start(t);
            s.end(t, 1_000_000, true, now);
            seen[t] += 1;
        }
        assert_eq!([seen[1], seen[2], seen[4]], [0, 0, 0], "{b:?}: {seen:?}");
        assert!(seen[0] > 0 && seen[3] > 0, "{b:?}: {seen:?}");
    }
}

#[test]
fn nothing_eligible_gives_none() {
    for b in all() {
        let s = selector(b.clone(), &[1, 1, 1], 1);
        assert_eq!(s.pick(5, &[], |_| false, 1), None, "{b:?}");
        assert_eq!(s.pick(5, &[0, 1, 2], |_| true, 1), None, "{b:?}");
        assert_eq!(s.pick(5, &[0, 2], |i| i != 1, 1), None, "{b:?}");
        assert_eq!(s.pick(5, &[0, 2], |_| true, 1), Some(1), "{b:?}");
        let empty = selector(b.clone(), &[], 1);
        assert_eq!(empty.pick(5, &[], |_| true, 1), None, "{b:?}");
    }
}

#[test]
fn stats_count_in_flight_and_latency() {
    let s = selector(Balance::Ewma, &[1, 1], 1);
    assert_eq!(s.stats(0, 10), (0, 0));
    s.start(0);
    s.start(0);
    assert_eq!(s.stats(0, 10), (2, 0));
    s.end(0, 3_000_000, true, 10);
    assert_eq!(s.stats(0, 10), (1, 3_000_000));
    s.end(0, 1, true, 10);
    s.end(0, 1, true, 10);
    assert_eq!(s.stats(0, 10).0, 0, "in flight never goes below 0");
    // Out of range is harmless.
    s.start(9);
    s.end(9, 1, false, 10);
    assert_eq!(s.stats(9, 10), (0, 0));
    // Other algorithms keep no latency estimate.
    let s = selector(Balance::LeastRequest, &[1, 1], 1);
    s.start(1);
    s.end(1, 3_000_000, true, 10);
    assert_eq!(s.stats(1, 10), (0, 0));
}

#[test]
fn hash_key_is_stable() {
    // Pinned: rings and sticky keys must survive restarts and upgrades.
    assert_eq!(hash_key(b""), mix(0xcbf2_9ce4_8422_2325));
    assert_eq!(hash_key(b"alice"), hash_key(b"alice"));
    assert_ne!(hash_key(b"alice"), hash_key(b"alicf"));
    assert_eq!(hash_key(b"a"), 0x82a2_a958_a9be_ce5b);
}

#[test]
fn a_new_target_set_keeps_each_slots_state_and_picks_only_members() {
    use crate::discovery::Target;
    use crate::upstream::roster::Roster;
    let t = |port: u16| Target {
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        weight: 1,
    };
    for b in all() {
        let r = Roster::new(4, &[t(1), t(2), t(3)], 1);
        let mut s = Selector::over(&b, &r.current(), 7);
        s.start(0);
        s.start(2);
        r.set(&[t(1), t(3), t(4)], |_| 0, |_| {});
        s.apply(&r.current());
        // Slot 1 (port 2) left, port 4 took slot 3; slots 0 and 2 kept
        // their requests in flight.
        assert_eq!((s.stats(0, 1).0, s.stats(2, 1).0), (1, 1), "{b:?}");
        let mut seen = [0u32; 4];
        for k in 0..400u64 {
            let p = s
                .pick(hash_key(&k.to_le_bytes()), &[], |_| true, k)
                .unwrap();
            seen[p] += 1;
        }
        assert_eq!(seen[1], 0, "{b:?}: {seen:?}");
        assert!(seen[0] > 0 && seen[2] > 0 && seen[3] > 0, "{b:?}: {seen:?}");
        r.set(&[], |_| 0, |_| {});
        s.apply(&r.current());
        assert_eq!(s.pick(1, &[], |_| true, 1), None, "{b:?}");
    }
}
