//! Retries and circuit breaking on the wire (2 shards, real backends): a
//! connect failure never reaches the client while another target is up, a
//! request that may have reached the upstream is retried only if its method
//! is idempotent or it carries an `Idempotency-Key` (and its body fitted in
//! `max_replay_bytes`), the retry budget holds when every backend fails,
//! and the breaker answers fast 503 `upstream_overloaded` under overload.

mod common;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::backend::{addrs, fleet, Backend, Mode};
use common::resilience::*;
use common::*;

#[test]
fn connect_failure_never_reaches_the_client_while_another_target_is_up() {
    let a = Backend::start("a");
    let gw = Gateway::start(&resilient_config(
        &unweighted(&[unused_addr(), a.addr()]),
        &[],
        &[],
    ));
    // Every other request a POST: a connect failure is retried for any method.
    let make: MakeRequest = Arc::new(|t, i| {
        let path = format!("/c/{t}/{i}");
        match i % 2 {
            0 => get(&path, "h"),
            _ => req("POST", &path, "h", &[], format!("post {t} {i}").as_bytes()),
        }
    });
    let out = run_requests(gw.addr(), 4, 50, make);
    assert_eq!(out.len(), 200);
    assert!(failures(&out).is_empty(), "{:?}", failures(&out));
    assert!(out.iter().all(|o| o.upstream.as_deref() == Some("a")));
    assert_eq!(a.hits(), 200, "each request reaches the live target once");
}

/// Two targets: `a` reads each request and closes without answering, `b`
/// echoes. Outlier ejection is off so `a` stays in the rotation.
fn reset_and_echo(retry: &[(&str, &str)]) -> (Gateway, Backend, Backend) {
    let a = Backend::with_mode("a", Mode::Close);
    let b = Backend::start("b");
    let no_ejection: &[(&str, &str)] = &[("consecutive_failures", "0")];
    let mut tables = vec![("outlier", no_ejection)];
    if !retry.is_empty() {
        tables.push(("retry", retry));
    }
    let gw = Gateway::start(&resilient_config(
        &unweighted(&[a.addr(), b.addr()]),
        &[],
        &tables,
    ));
    (gw, a, b)
}

/// What one request did: the response, and how many times a and b got it.
struct Tried {
    r: Response,
    at_a: usize,
    at_b: usize,
}

fn send_counted(gw: &Gateway, a: &Backend, b: &Backend, bytes: &[u8]) -> Tried {
    let (ha, hb) = (a.hits(), b.hits());
    let r = gw.client().roundtrip(bytes);
    Tried {
        r,
        at_a: a.hits() - ha,
        at_b: b.hits() - hb,
    }
}

/// Sends `method` requests with `headers` and a `len`-byte body until three
/// went to `a` first (at most 24); checks each as `retried` says.
fn check_method(
    (gw, a, b): &(Gateway, Backend, Backend),
    method: &str,
    headers: &[(&str, &str)],
    len: usize,
    retried: bool,
) {
    let body = pattern(0, len);
    let mut first_at_a = 0;
    for n in 0..24 {
        if first_at_a >= 3 {
            break;
        }
        let what = format!("{method} {headers:?} with {len} bytes, request {n}");
        let t = send_counted(
            gw,
            a,
            b,
            &req(method, &format!("/m/{n}"), "h", headers, &body),
        );
        assert!(t.at_a <= 1, "{what}: a got it {} times", t.at_a);
        first_at_a += t.at_a;
        if t.at_a == 1 && !retried {
            assert_eq!(t.r.status, 502, "{what}: {}", t.r.summary());
            assert_eq!(t.at_b, 0, "{what}: retried on b");
            continue;
        }
        assert_eq!(t.r.status, 200, "{what}: {}", t.r.summary());
        assert_eq!(t.at_b, 1, "{what}: b got it {} times", t.at_b);
        let echo = t.r.json();
        assert_eq!(echo["method"], method, "{what}");
        assert_eq!(echo["body_len"], len as u64, "{what}: body replayed short");
    }
    assert!(
        first_at_a >= 3,
        "{method}: only {first_at_a} of 24 requests went to a first"
    );
}

#[test]
fn post_without_idempotency_key_is_not_retried_after_it_may_have_arrived() {
    let s = reset_and_echo(&[]);
    check_method(&s, "POST", &[], 100, false);
    check_method(&s, "PATCH", &[], 100, false);
}

#[test]
fn post_with_idempotency_key_and_idempotent_methods_are_retried() {
    let s = reset_and_echo(&[]);
    check_method(&s, "POST", &[("Idempotency-Key", "k-1")], 100, true);
    check_method(&s, "PUT", &[], 100, true);
    check_method(&s, "DELETE", &[], 0, true);
    check_method(&s, "GET", &[], 0, true);
}

#[test]
fn body_over_max_replay_bytes_is_not_replayed() {
    let s = reset_and_echo(&[("max_replay_bytes", "1024")]);
    check_method(&s, "PUT", &[], 4096, false);
    check_method(&s, "POST", &[("Idempotency-Key", "k-2")], 4096, false);
    check_method(&s, "PUT", &[], 1024, true);
}

#[test]
fn retry_budget_holds_when_every_backend_fails() {
    let bs = fleet(&["a", "b", "c"], Mode::Fail503);
    let gw = Gateway::start(&resilient_config(
        &unweighted(&addrs(&bs)),
        &[],
        &[("retry", &[("attempts", "3")])],
    ));
    let t = Instant::now();
    let out = run_requests(gw.addr(), 4, 150, load_get());
    let secs = t.elapsed().as_secs_f64().ceil() + 1.0;
    let requests = out.len();
    let attempts: usize = bs.iter().map(Backend::hits).sum();
    // 20 % of the requests plus min_retries_per_s (10) for each second begun,
    // and one second's reserve at the start.
    let bound = 1.2 * requests as f64 + 10.0 * secs;
    let m = gw.metrics();
    let retries = metric_sum(&m, "ringway_upstream_retries_total", &[("upstream", "u")]);
    let exhausted = metric_sum(
        &m,
        "ringway_upstream_retry_budget_exhausted_total",
        &[("upstream", "u")],
    );
    eprintln!(
        "budget: {requests} requests, {attempts} upstream attempts (bound {bound}), \
         {retries} retries, {exhausted} budget exhausted, in {:?}",
        t.elapsed()
    );
    assert_eq!(requests, 600);
    let relayed = out
        .iter()
        .filter(|o| o.status == Some(503) && o.upstream.is_some())
        .count();
    assert_eq!(relayed, requests, "not every client got the upstream's 503");
    assert!(attempts > requests, "no retry at all ({attempts} attempts)");
    assert!(
        attempts as f64 <= bound,
        "{attempts} upstream attempts for {requests} requests: over {bound}"
    );
    assert_eq!(retries, (attempts - requests) as f64, "retries_total");
    assert!(exhausted > 0.0, "retry_budget_exhausted_total not counted");
}

#[test]
fn breaker_answers_fast_503_upstream_overloaded_under_overload() {
    let delay = Duration::from_millis(600);
    let up = Upstream::start("slow", move |_| Reply::Delay(delay, Box::new(Reply::Echo)));
    let gw = Gateway::start(&resilient_config(
        &unweighted(&[up.addr()]),
        &[("max_requests", "2")],
        &[],
    ));
    let clients = 10;
    let barrier = Arc::new(Barrier::new(clients));
    let threads: Vec<_> = (0..clients)
        .map(|k| {
            let (barrier, addr) = (barrier.clone(), gw.addr());
            std::thread::spawn(move || {
                let mut c = RawClient::connect(addr);
                barrier.wait();
                let t = Instant::now();
                let r = c.roundtrip(&get(&format!("/b/{k}"), "h"));
                (r, t.elapsed())
            })
        })
        .collect();
    let results: Vec<(Response, Duration)> = threads
        .into_iter()
        .map(|t| t.join().expect("client thread"))
        .collect();
    let ok = results.iter().filter(|(r, _)| r.status == 200).count();
    let mut rejected = 0;
    for (r, took) in results.iter().filter(|(r, _)| r.status != 200) {
        assert_error(r, 503, "upstream_overloaded");
        assert!(
            *took < delay / 2,
            "a 503 took {took:?}, not fast against a {delay:?} backend"
        );
        rejected += 1;
    }
    assert!(
        (1..=2).contains(&ok),
        "{ok} of {clients} concurrent requests passed max_requests = 2"
    );
    assert_eq!(
        up.requests().len(),
        ok,
        "a rejected request reached the upstream"
    );
    let overflows = metric_sum(
        &gw.metrics(),
        "ringway_upstream_overflows_total",
        &[("upstream", "u")],
    );
    assert!(
        overflows >= rejected as f64,
        "overflows_total {overflows} < {rejected} rejections"
    );
}
