//! Coalescing: one lead per key, followers released by its end, bounded
//! waits, and the lead's release on every path.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::coalesce::{Inflight, Join, Waited};

fn runtime() -> monoio::Runtime<monoio::time::TimeDriver<monoio::LegacyDriver>> {
    monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .expect("runtime")
}

#[test]
fn one_lead_per_key_and_a_new_one_after_it_ends() {
    let f = Inflight::default();
    let Join::Lead(lead) = f.join(b"a") else {
        panic!("first leads")
    };
    let Join::Follow(follow) = f.join(b"a") else {
        panic!("second follows")
    };
    assert!(matches!(f.join(b"b"), Join::Lead(_)), "another key leads");
    assert_eq!(follow.ended(), None);
    drop(lead);
    assert_eq!(
        follow.ended(),
        Some(Waited::Abandoned),
        "dropped without storing"
    );
    assert!(f.is_empty(), "the key left the table");
    let Join::Lead(lead) = f.join(b"a") else {
        panic!("leads again")
    };
    let Join::Follow(follow) = f.join(b"a") else {
        panic!("follows")
    };
    lead.stored();
    assert_eq!(follow.ended(), Some(Waited::Stored));
    assert!(f.is_empty());
}

#[test]
fn followers_on_other_threads_wait_for_the_lead_within_their_bound() {
    let f = Arc::new(Inflight::default());
    let Join::Lead(lead) = f.join(b"k") else {
        panic!()
    };
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            let f = f.clone();
            std::thread::spawn(move || {
                let Join::Follow(follow) = f.join(b"k") else {
                    panic!("follows")
                };
                runtime().block_on(follow.wait(Instant::now(), Duration::from_secs(10)))
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    lead.stored();
    for w in waiters {
        assert_eq!(w.join().unwrap(), Waited::Stored);
    }
}

#[test]
fn a_follower_stops_waiting_at_its_bound() {
    let f = Inflight::default();
    let Join::Lead(_lead) = f.join(b"k") else {
        panic!()
    };
    let Join::Follow(follow) = f.join(b"k") else {
        panic!()
    };
    let start = Instant::now();
    let w = runtime().block_on(follow.wait(start, Duration::from_millis(40)));
    assert_eq!(w, Waited::TimedOut);
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(40), "{took:?}");
    assert!(took < Duration::from_secs(2), "bounded: {took:?}");
}
