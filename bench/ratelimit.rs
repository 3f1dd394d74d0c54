//! Criterion benchmarks of one rate-limit check: uncontended (one thread,
//! one hot key and many keys), contended (two threads on one key), and the
//! whole per-request path (key hashing from a parsed head + check).
//!
//! Run: `cargo bench --bench ratelimit`. Numbers go to bench/RESULTS.md.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use ringway::http::{parse_request, RequestHead};
use ringway::ratelimit::{
    clock, Algo, Anonymous, KeyPart, KeySpec, LimitDef, Limiter, RequestParts,
};

fn limiter(algo: Algo, key: KeySpec) -> Limiter {
    Limiter::new(LimitDef {
        name: "bench".into(),
        key,
        algo,
        limit: 1_000_000_000,
        period_secs: 1,
        max_keys: 100_000,
        max_new_keys_per_source: 100_000,
    })
}

/// One admission per ns: never rejects, so every check does its CAS.
fn gcra() -> Algo {
    Algo::Gcra {
        interval: 1,
        tolerance: 1_000_000,
        max_delay: 0,
    }
}

fn uncontended(c: &mut Criterion) {
    let l = limiter(gcra(), KeySpec::new(vec![KeyPart::Ip]));
    c.bench_function("check/uncontended/one_key", |b| {
        b.iter(|| black_box(l.check_key(black_box(0x1234_5678_9abc_def1), clock())))
    });
    c.bench_function("parts/clock", |b| b.iter(|| black_box(clock())));
    let mut now = 1u64;
    c.bench_function("parts/check_without_clock", |b| {
        b.iter(|| {
            now += 1;
            black_box(l.check_key(black_box(0x1234_5678_9abc_def1), now))
        })
    });
    let mut k = 0u64;
    c.bench_function("check/uncontended/10k_keys", |b| {
        b.iter(|| {
            k = (k + 1) % 10_000;
            black_box(l.check_key(k.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1, clock()))
        })
    });
    let w = limiter(
        Algo::SlidingWindow {
            limit: 1_000_000,
            period: 1_000_000_000,
        },
        KeySpec::new(vec![KeyPart::Ip]),
    );
    c.bench_function("check/uncontended/sliding_window", |b| {
        b.iter(|| black_box(w.check_key(black_box(0x1234_5678_9abc_def1), clock())))
    });
}

/// The full per-request cost: hash `ip` + `header:x-user` out of a parsed head, then check.
fn request_path(c: &mut Criterion) {
    let l = limiter(
        gcra(),
        KeySpec::new(vec![
            KeyPart::Ip,
            KeyPart::Header(b"x-user".as_slice().into()),
        ]),
    );
    let raw = b"GET /api/orders HTTP/1.1\r\nHost: api\r\nUser-Agent: bench\r\nAccept: */*\r\nX-User: alice\r\n\r\n";
    let mut head = RequestHead::new();
    parse_request(raw, 16 * 1024, &mut head).expect("valid head");
    let parts = RequestParts {
        ip: [127, 0, 0, 1].into(),
        headers: &head.headers,
        buf: raw,
        route: b"api",
        identity: &Anonymous,
    };
    c.bench_function("check/request_path/ip+header", |b| {
        b.iter(|| black_box(l.check(black_box(&parts), clock())))
    });
}

/// Two threads checking one key: the measured thread's cost per check
/// while another core CASes the same cell.
fn contended(c: &mut Criterion) {
    let l = Arc::new(limiter(gcra(), KeySpec::new(vec![KeyPart::Ip])));
    let stop = Arc::new(AtomicBool::new(false));
    let other = {
        let (l, stop) = (l.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                black_box(l.check_key(42, clock()));
            }
        })
    };
    c.bench_function("check/contended_2_threads/one_key", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(l.check_key(42, clock()));
            }
            start.elapsed()
        })
    });
    stop.store(true, Ordering::Relaxed);
    let _ = other.join();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = uncontended, request_path, contended
}
criterion_main!(benches);
