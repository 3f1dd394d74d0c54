use super::*;

fn t(port: u16, weight: u32) -> Target {
    Target {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        weight,
    }
}

fn addrs(r: &Roster) -> Vec<(usize, u16)> {
    let m = r.current();
    m.active.iter().map(|&s| (s, m.addr(s).port())).collect()
}

const IDLE: fn(usize) -> u64 = |_| 0;

#[test]
fn targets_that_stay_keep_their_slots() {
    let r = Roster::new(4, &[t(3, 1), t(1, 1)], 2);
    // Slot i holds initial target i.
    assert_eq!(addrs(&r), vec![(0, 3), (1, 1)]);
    let c = r.set(&[t(1, 1), t(2, 5), t(3, 1)], IDLE, |_| panic!("no reuse"));
    assert_eq!(
        c,
        Change {
            added: 1,
            ..Change::default()
        }
    );
    assert_eq!(addrs(&r), vec![(0, 3), (1, 1), (2, 2)]);
    assert_eq!(r.current().generation, 1);
    // Same set again: nothing published.
    let c = r.set(&[t(2, 5), t(3, 1), t(1, 1)], IDLE, |_| {});
    assert_eq!(c, Change::default());
    assert_eq!(r.current().generation, 1);
    // A weight change keeps the slot.
    let c = r.set(&[t(2, 7), t(3, 1), t(1, 1)], IDLE, |_| {});
    assert_eq!(c.reweighted, 1);
    assert_eq!(r.current().get(2).map(|m| m.weight), Some(7));
}

#[test]
fn a_freed_slot_waits_for_every_shard_and_every_request() {
    let r = Roster::new(2, &[t(1, 1), t(2, 1)], 2);
    let c = r.set(&[t(1, 1)], IDLE, |_| {});
    assert_eq!(c.removed, 1);
    let gone = r.current().generation;
    // A new target: the only free slot was given up at `gone`, which no
    // shard has applied yet.
    let c = r.set(&[t(1, 1), t(3, 1)], IDLE, |_| panic!("too early"));
    assert_eq!(c.waiting, 1);
    r.applied(0, gone);
    assert_eq!(r.retry(IDLE, |_| panic!("shard 1 lags")).waiting, 1);
    r.applied(1, gone);
    // Every shard moved on, but a request to the old target is in flight.
    let busy = |s: usize| u64::from(s == 1);
    assert_eq!(r.retry(busy, |_| panic!("in flight")).waiting, 1);
    let mut reused = vec![];
    let c = r.retry(IDLE, |s| reused.push(s));
    assert_eq!((c.added, c.waiting), (1, 0));
    assert_eq!(reused, vec![1]);
    assert_eq!(addrs(&r), vec![(0, 1), (1, 3)]);
    // Nothing left to place: retry publishes nothing.
    let g = r.current().generation;
    assert_eq!(r.retry(IDLE, |_| {}), Change::default());
    assert_eq!(r.current().generation, g);
}

#[test]
fn a_target_that_comes_back_takes_a_free_slot_not_its_old_one() {
    let r = Roster::new(3, &[t(1, 1), t(2, 1)], 1);
    r.set(&[t(2, 1)], IDLE, |_| {});
    r.set(&[t(1, 1), t(2, 1)], IDLE, |_| {
        panic!("slot 2 was never used")
    });
    assert_eq!(addrs(&r), vec![(1, 2), (2, 1)]);
}

#[test]
fn a_full_upstream_places_what_fits_and_the_rest_later() {
    let r = Roster::new(2, &[], 1);
    let c = r.set(&[t(1, 1), t(2, 1), t(3, 1)], IDLE, |_| {});
    assert_eq!((c.added, c.waiting), (2, 1));
    assert_eq!(addrs(&r), vec![(0, 1), (1, 2)]);
    let c = r.set(&[t(2, 1), t(3, 1)], IDLE, |_| {});
    assert_eq!((c.removed, c.waiting), (1, 1));
    r.applied(0, r.current().generation);
    let c = r.retry(IDLE, |_| {});
    assert_eq!(c.added, 1);
    assert_eq!(addrs(&r), vec![(0, 3), (1, 2)]);
}

#[test]
fn an_empty_set_is_published() {
    let r = Roster::new(2, &[t(1, 1)], 1);
    let c = r.set(&[], IDLE, |_| {});
    assert_eq!(c.removed, 1);
    assert!(r.current().active.is_empty());
    assert_eq!(r.current().slot_of(t(1, 1).addr), None);
}
