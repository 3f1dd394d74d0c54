//! Load balancing on the wire (2 shards, real backends): weighted round
//! robin follows the weights, least_request and ewma move traffic away from
//! a slow target (and ewma gives it back once it recovers), and consistent
//! hashing keeps most keys on their target when one target leaves.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::backend::{Backend, Mode};
use common::resilience::*;
use common::*;

#[test]
fn weighted_round_robin_follows_the_weights_within_five_percent() {
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let gw = Gateway::start(&resilient_config(&[(a.addr(), 1), (b.addr(), 3)], &[], &[]));
    let out = run_requests(gw.addr(), 4, 250, load_get());
    assert_eq!(out.len(), 1000);
    assert!(failures(&out).is_empty(), "{:?}", failures(&out));
    let (ha, hb) = (a.hits(), b.hits());
    assert_eq!(ha + hb, 1000, "a {ha}, b {hb}");
    for (name, got, want) in [("a (weight 1)", ha, 250.0), ("b (weight 3)", hb, 750.0)] {
        assert!(
            (got as f64 - want).abs() <= want * 0.05,
            "{name} got {got} of 1000 requests, expected {want} ± 5 %"
        );
    }
    let m = gw.metrics();
    for (be, hits) in [(&a, ha), (&b, hb)] {
        let counted = metric_sum(
            &m,
            "ringway_upstream_responses_total",
            &[("upstream", "u"), ("target", &be.addr().to_string())],
        );
        assert_eq!(counted, hits as f64, "responses_total of {}", be.name());
    }
}

/// Runs 8 concurrent clients against a fast and a slow target under
/// `balance`, and checks the fast one got at least 80 % of the requests.
fn fast_target_wins(balance: &str) {
    let fast = Backend::start("fast");
    let slow = Backend::with_mode("slow", Mode::Slow);
    let gw = Gateway::start(&resilient_config(
        &unweighted(&[fast.addr(), slow.addr()]),
        &[("balance", &format!("\"{balance}\""))],
        &[],
    ));
    let out = run_requests(gw.addr(), 8, 100, load_get());
    assert!(failures(&out).is_empty(), "{:?}", failures(&out));
    let (f, s) = (fast.hits(), slow.hits());
    eprintln!("{balance}: fast {f} slow {s} of {}", out.len());
    assert!(
        f * 100 >= (f + s) * 80,
        "{balance} sent only {f} of {} requests to the fast target",
        f + s
    );
}

#[test]
fn least_request_moves_traffic_to_the_fast_target() {
    fast_target_wins("least_request");
}

#[test]
fn ewma_moves_traffic_to_the_fast_target() {
    fast_target_wins("ewma");
}

/// (hits of `x`, hits of both) over the last `window`.
fn recent(x: &Backend, y: &Backend, window: Duration) -> (usize, usize) {
    let since = Instant::now()
        .checked_sub(window)
        .unwrap_or_else(Instant::now);
    let hx = x.hits_since(since);
    (hx, hx + y.hits_since(since))
}

#[test]
fn ewma_takes_traffic_from_a_slow_target_within_a_second_and_gives_it_back() {
    let fast = Backend::start("fast");
    let slow = Backend::with_mode("slow", Mode::Slow);
    let gw = Gateway::start(&resilient_config(
        &unweighted(&[fast.addr(), slow.addr()]),
        &[("balance", "\"ewma\"")],
        &[],
    ));
    let load = Load::start(
        gw.addr(),
        4,
        usize::MAX,
        Duration::from_millis(2),
        load_get(),
    );
    let window = Duration::from_millis(300);
    let lost = eventually(Duration::from_millis(1300), || {
        let (s, all) = recent(&slow, &fast, window);
        all >= 20 && s * 100 < all * 20
    });
    let at_loss = recent(&slow, &fast, window);
    slow.set(Mode::Ok);
    let back = eventually(Duration::from_secs(8), || {
        let (s, all) = recent(&slow, &fast, window);
        all >= 20 && s * 100 >= all * 25
    });
    let at_end = recent(&slow, &fast, window);
    let out = load.stop();
    assert!(failures(&out).is_empty(), "{:?}", failures(&out));
    assert!(
        lost,
        "the slow target still had {} of the last {} requests after a second",
        at_loss.0, at_loss.1
    );
    assert!(
        back,
        "the recovered target had only {} of the last {} requests 8 s after recovering",
        at_end.0, at_end.1
    );
}

/// Routes keys 0..300 (`x-user: user-K`), each over connection
/// `(K + shift) % 4`; the backend name each key reached.
fn route_keys(clients: &mut [Client], shift: usize) -> Vec<String> {
    (0..300)
        .map(|k| {
            let req = format!("GET /h/{k} HTTP/1.1\r\nHost: h\r\nx-user: user-{k}\r\n\r\n");
            let n = clients.len();
            let o = clients[(k + shift) % n].send(req.as_bytes());
            assert!(o.ok(), "key {k}: {o:?}");
            o.upstream.unwrap_or_default()
        })
        .collect()
}

#[test]
fn consistent_hash_keeps_most_keys_when_one_of_three_targets_leaves() {
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let mut c = Backend::start("c");
    let addrs: Vec<SocketAddr> = vec![a.addr(), b.addr(), c.addr()];
    let gw = Gateway::start(&resilient_config(
        &unweighted(&addrs),
        &[("balance", "\"hash\""), ("hash_key", "\"header:x-user\"")],
        &[("health", FAST_HEALTH)],
    ));
    let mut clients: Vec<Client> = (0..4).map(|_| Client::new(gw.addr())).collect();
    let before = route_keys(&mut clients, 0);
    let again = route_keys(&mut clients, 1);
    assert_eq!(
        before, again,
        "a key reached another target on another connection (shard)"
    );
    for name in ["a", "b", "c"] {
        let owned = before.iter().filter(|t| *t == name).count();
        assert!(owned >= 30, "{name} owns only {owned} of 300 keys");
    }
    c.kill();
    assert!(
        eventually(Duration::from_secs(3), || !target_healthy(&gw, c.addr())),
        "the killed target is still healthy: {}",
        target_view(&gw, c.addr())
    );
    let after = route_keys(&mut clients, 2);
    assert!(!after.iter().any(|t| t == "c"), "a key still reached c");
    let kept = (0..300).filter(|&k| before[k] == after[k]).count();
    let survivors_moved = (0..300)
        .filter(|&k| before[k] != "c" && before[k] != after[k])
        .count();
    eprintln!("hash: {kept} of 300 keys kept their target; {survivors_moved} keys of a or b moved");
    // The ring's property, exactly: only c's keys move. (How many c owned
    // depends on where its ephemeral port put its points: 42 % in one run,
    // so a fixed share of kept keys is not a property of the ring.)
    assert_eq!(survivors_moved, 0, "keys of a surviving target moved");
    let owned_by_c = before.iter().filter(|t| *t == "c").count();
    assert_eq!(kept, 300 - owned_by_c, "every key not on c kept its target");
}
