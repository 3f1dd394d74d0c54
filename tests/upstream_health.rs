//! Health on the wire (2 shards, real backends): a target failing its
//! active health checks, or killed, gets no requests once the checks say so
//! and rejoins on its own; a target answering 500 is ejected and probed
//! half-open; the ejection cap is exact; with every target unhealthy,
//! `on_no_healthy = "reject"` answers 503 `no_healthy_upstream` and the
//! default panic mode still sends.

mod common;

use std::time::{Duration, Instant};

use common::backend::{addrs, fleet, Backend, Mode};
use common::resilience::*;
use common::*;

/// `interval × unhealthy_threshold` plus one interval (FAST_HEALTH), with
/// 10 % jitter on each of the three intervals and 50 ms for a busy machine.
const LEAVE_WITHIN: Duration = Duration::from_millis(300 + 30 + 50);

fn two_checked(
    a: &Backend,
    b: &Backend,
    keys: &[(&str, &str)],
    outlier: &[(&str, &str)],
) -> Gateway {
    let mut tables: Vec<(&str, &[(&str, &str)])> = vec![("health", FAST_HEALTH)];
    if !outlier.is_empty() {
        tables.push(("outlier", outlier));
    }
    Gateway::start(&resilient_config(
        &unweighted(&[a.addr(), b.addr()]),
        keys,
        &tables,
    ))
}

fn assert_left(left: bool, gw: &Gateway, a: &Backend) {
    assert!(
        left,
        "{} never became unhealthy: {}",
        a.name(),
        target_view(gw, a.addr())
    );
}

fn steady_load(gw: &Gateway) -> Load {
    Load::start(
        gw.addr(),
        2,
        usize::MAX,
        Duration::from_millis(2),
        load_get(),
    )
}

#[test]
fn target_failing_health_checks_gets_no_requests_after_the_threshold_and_returns() {
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let gw = two_checked(&a, &b, &[], &[]);
    assert!(
        eventually(Duration::from_secs(3), || a.checks() >= 2
            && b.checks() >= 2),
        "no health checks: a {}, b {}",
        a.checks(),
        b.checks()
    );
    let load = steady_load(&gw);
    assert!(eventually(Duration::from_secs(3), || a.hits() >= 10));
    let t0 = Instant::now();
    a.set(Mode::HealthFail);
    let cutoff = t0 + LEAVE_WITHIN;
    let left = eventually(Duration::from_secs(3), || !target_healthy(&gw, a.addr()));
    // Keep the load on well past the cutoff, so a late request would show.
    eventually(Duration::from_secs(3), || {
        Instant::now() >= cutoff + Duration::from_millis(500) && b.hits_since(cutoff) >= 50
    });
    let late = a.hits_since(cutoff);
    let last = a.last_hit().map(|h| h.saturating_duration_since(t0));
    let m = gw.metrics();
    let healthy = |be: &Backend| {
        metric_sum(
            &m,
            "ringway_upstream_healthy",
            &[("upstream", "u"), ("target", &be.addr().to_string())],
        )
    };
    let (ha, hb) = (healthy(&a), healthy(&b));
    let t1 = Instant::now();
    a.set(Mode::Ok);
    let back = eventually(Duration::from_secs(3), || {
        a.hits_since(t1) > 0 && target_healthy(&gw, a.addr())
    });
    let out = load.stop();
    assert_left(left, &gw, &a);
    assert_eq!(
        late, 0,
        "a got {late} requests more than {LEAVE_WITHIN:?} after its checks started failing (last at {last:?})"
    );
    assert_eq!((ha, hb), (0.0, 1.0), "ringway_upstream_healthy of a and b");
    assert!(
        back,
        "a did not return within 3 s of passing its checks again"
    );
    assert!(failures(&out).is_empty(), "{:?}", failures(&out));
}

#[test]
fn killed_target_gets_no_requests_and_rejoins_when_restarted() {
    let (mut a, b) = (Backend::start("a"), Backend::start("b"));
    // Ejections shorter than the test, so an outlier ejection while `a` is
    // dead cannot hold it out after it passes its checks again.
    let gw = two_checked(&a, &b, &[], &[("base_ejection_ms", "1000")]);
    let load = steady_load(&gw);
    assert!(eventually(Duration::from_secs(3), || a.hits() >= 10));
    let t0 = Instant::now();
    a.kill();
    let left = eventually(Duration::from_secs(3), || !target_healthy(&gw, a.addr()));
    eventually(Duration::from_secs(2), || {
        Instant::now() >= t0 + LEAVE_WITHIN
    });
    // A dead target cannot count requests: any attempt to it is a refused
    // connect, which is retried on b (or counted as budget exhausted). So
    // from here neither counter may move.
    let snapshot = |m: &str| {
        (
            metric_sum(m, "ringway_upstream_retries_total", &[("upstream", "u")]),
            metric_sum(
                m,
                "ringway_upstream_retry_budget_exhausted_total",
                &[("upstream", "u")],
            ),
        )
    };
    let before = snapshot(&gw.metrics());
    let t1 = Instant::now();
    eventually(Duration::from_secs(5), || b.hits_since(t1) >= 200);
    let after = snapshot(&gw.metrics());
    let served = b.hits_since(t1);
    a.restart();
    let t2 = Instant::now();
    let rejoined = eventually(Duration::from_secs(5), || a.hits_since(t2) > 0);
    let healthy = eventually(Duration::from_secs(2), || target_healthy(&gw, a.addr()));
    let out = load.stop();
    assert_left(left, &gw, &a);
    assert_eq!(
        before, after,
        "(retries, budget exhausted) changed over {served} requests, so a was still tried"
    );
    assert!(rejoined, "a got no request within 5 s of its restart");
    assert!(
        healthy,
        "a is not healthy again: {}",
        target_view(&gw, a.addr())
    );
    assert!(failures(&out).is_empty(), "{:?}", failures(&out));
}

/// Sends one request over the next of `clients`.
fn next(clients: &mut [Client], i: &mut usize) -> Outcome {
    *i += 1;
    let n = clients.len();
    clients[*i % n].send(&get(&format!("/o/{i}"), "h"))
}

#[test]
fn target_answering_500_is_ejected_then_probed_half_open() {
    let a = Backend::with_mode("a", Mode::Fail500);
    let b = Backend::start("b");
    let gw = Gateway::start(&resilient_config(
        &unweighted(&[a.addr(), b.addr()]),
        &[],
        &[("outlier", &[("base_ejection_ms", "500")])],
    ));
    let mut clients: Vec<Client> = (0..4).map(|_| Client::new(gw.addr())).collect();
    let mut i = 0;
    let ejected = eventually(Duration::from_secs(5), || {
        next(&mut clients, &mut i);
        target_state(&gw, a.addr()) == "ejected"
    });
    assert!(ejected, "a not ejected: {}", target_view(&gw, a.addr()));
    let h1 = a.hits();
    assert!(
        h1 >= 5,
        "a ejected after {h1} requests, fewer than consecutive_failures"
    );
    // Ejected for 500 ms from at most a poll ago: nothing reaches a for 400 ms.
    let t_ej = Instant::now();
    let mut during = Vec::new();
    while t_ej.elapsed() < Duration::from_millis(400) {
        during.push(next(&mut clients, &mut i));
    }
    assert_eq!(a.hits_since(t_ej), 0, "a got requests while ejected");
    assert!(failures(&during).is_empty(), "{:?}", failures(&during));
    // Half-open: a probe reaches a, fails, and a is ejected again.
    let probed = eventually(Duration::from_secs(3), || {
        next(&mut clients, &mut i);
        a.hits() > h1 && target_state(&gw, a.addr()) == "ejected"
    });
    let probes = a.hits() - h1;
    assert!(
        probed,
        "no probe then re-ejection: {}",
        target_view(&gw, a.addr())
    );
    assert!(
        (1..=3).contains(&probes),
        "{probes} requests reached a while half-open (half_open_probes = 3)"
    );
    // Recovered: the next probes pass and a is active with its share again.
    a.set(Mode::Ok);
    let h2 = a.hits();
    let back = eventually(Duration::from_secs(5), || {
        next(&mut clients, &mut i);
        a.hits() >= h2 + 3 && target_state(&gw, a.addr()) == "active"
    });
    assert!(back, "a did not return: {}", target_view(&gw, a.addr()));
    let h3 = a.hits();
    let after: Vec<Outcome> = (0..40).map(|_| next(&mut clients, &mut i)).collect();
    assert!(failures(&after).is_empty(), "{:?}", failures(&after));
    assert!(
        a.hits() - h3 >= 10,
        "a got {} of 40 after returning",
        a.hits() - h3
    );
}

#[test]
fn ejection_cap_is_exact_across_shards() {
    let bs = fleet(&["a", "b", "c"], Mode::Fail500);
    let gw = Gateway::start(&resilient_config(
        &unweighted(&addrs(&bs)),
        &[],
        &[(
            "outlier",
            &[
                ("base_ejection_ms", "10000"),
                ("max_ejection_percent", "50"),
            ],
        )],
    ));
    // One document per look, so the count is a consistent snapshot.
    let ejected = || {
        let doc = upstreams_view(&gw);
        addrs(&bs)
            .iter()
            .filter(|a| target_in(&doc, **a).map(|t| t["state"] == "ejected") == Some(true))
            .copied()
            .collect::<Vec<_>>()
    };
    let load = Load::start(gw.addr(), 6, 50, Duration::ZERO, load_get());
    let mut most = 0;
    eventually(Duration::from_secs(20), || {
        most = most.max(ejected().len());
        load.finished()
    });
    let out = load.join();
    assert_eq!(out.len(), 300);
    let odd: Vec<&Outcome> = out.iter().filter(|o| o.status != Some(500)).collect();
    assert!(
        odd.is_empty(),
        "answers other than the targets' 500: {odd:?}"
    );
    let now = ejected();
    assert!(
        most <= 1,
        "{most} of 3 targets were ejected at once (cap 50 %)"
    );
    assert_eq!(now.len(), 1, "ejected now: {now:?}");
    let hits: Vec<usize> = bs.iter().map(Backend::hits).collect();
    let out = run_requests(gw.addr(), 2, 30, load_get());
    let got: Vec<usize> = bs.iter().zip(&hits).map(|(b, h)| b.hits() - h).collect();
    for (b, g) in bs.iter().zip(&got) {
        if b.addr() == now[0] {
            assert_eq!(*g, 0, "ejected {} got requests: {got:?}", b.name());
        } else {
            assert!(*g > 0, "{} got none of 60: {got:?}", b.name());
        }
    }
    assert_eq!(out.len(), 60);
    let m = gw.metrics();
    let ejections = metric_sum(&m, "ringway_upstream_ejections_total", &[("upstream", "u")]);
    assert_eq!(ejections, 1.0, "ringway_upstream_ejections_total");
}

/// Two targets whose checks fail while they would answer requests, until
/// both are unhealthy.
fn all_unhealthy(keys: &[(&str, &str)]) -> (Gateway, Backend, Backend) {
    let a = Backend::with_mode("a", Mode::HealthFail);
    let b = Backend::with_mode("b", Mode::HealthFail);
    let gw = two_checked(&a, &b, keys, &[]);
    let down = eventually(Duration::from_secs(3), || {
        !target_healthy(&gw, a.addr()) && !target_healthy(&gw, b.addr())
    });
    assert!(down, "{}", upstreams_view(&gw));
    // The state reaches every shard within one interval.
    std::thread::sleep(Duration::from_millis(150));
    (gw, a, b)
}

#[test]
fn no_healthy_target_with_reject_is_503_no_healthy_upstream() {
    let (gw, a, b) = all_unhealthy(&[("on_no_healthy", "\"reject\"")]);
    let hits = (a.hits(), b.hits());
    let mut clients: Vec<Client> = (0..4).map(|_| Client::new(gw.addr())).collect();
    for k in 0..20 {
        let mut c = RawClient::connect(gw.addr());
        let r = c.roundtrip(&get(&format!("/n/{k}"), "h"));
        assert_error(&r, 503, "no_healthy_upstream");
        let o = clients[k % 4].send(&get("/n", "h"));
        assert_eq!(o.status, Some(503), "{o:?}");
    }
    assert_eq!((a.hits(), b.hits()), hits, "a request reached a target");
}

#[test]
fn no_healthy_target_in_panic_mode_still_sends_to_all() {
    let (gw, a, b) = all_unhealthy(&[]);
    let hits = (a.hits(), b.hits());
    let out = run_requests(gw.addr(), 4, 10, load_get());
    assert!(failures(&out).is_empty(), "{:?}", failures(&out));
    let got = (a.hits() - hits.0, b.hits() - hits.1);
    assert!(
        got.0 > 0 && got.1 > 0,
        "panic mode sent (a, b) = {got:?} of 40"
    );
}
