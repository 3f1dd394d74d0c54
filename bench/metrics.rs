//! Criterion benchmarks of what recording a request costs a shard: the two
//! clocks it could read (`Instant::now`, the monotonic vDSO clock, against
//! `ratelimit::clock`, the coarse one), one histogram observation, and a
//! whole request's record (in flight, status class, bytes, route and
//! upstream histograms) over 1000 routes; and what a scrape costs the
//! admin thread: rendering 1000 routes' families summed over 2 shards.
//!
//! Run: `cargo bench --bench metrics`. Numbers go to bench/RESULTS.md.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use ringway::observe::families::{self, Families, Finished};
use ringway::observe::histogram::Histogram;

fn clocks(c: &mut Criterion) {
    c.bench_function("clock/instant_now", |b| {
        b.iter(|| black_box(Instant::now()))
    });
    c.bench_function("clock/coarse", |b| {
        b.iter(|| black_box(ringway::ratelimit::clock()))
    });
}

/// Rows for 1000 routes and 50 upstreams on `shards` shards.
fn rows(shards: usize) -> Families {
    let names: Vec<String> = (0..1000).map(|i| format!("route-{i}")).collect();
    let ups: Vec<String> = (0..50).map(|i| format!("upstream-{i}")).collect();
    Families::from_names(
        names.iter().map(String::as_str),
        ups.iter().map(String::as_str),
        shards,
        None,
    )
}

fn record(c: &mut Criterion) {
    let h = Histogram::default();
    let mut ns = 0u64;
    c.bench_function("histogram/record", |b| {
        b.iter(|| {
            // Spread over the buckets so the search takes every branch.
            ns = ns
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            h.record(black_box(ns >> 30));
        })
    });
    let f = rows(2);
    let mut i = 0usize;
    c.bench_function("families/enter_and_record_1000_routes", |b| {
        b.iter(|| {
            i = (i + 7) % 1000;
            f.enter(1, i);
            f.record(
                1,
                black_box(&Finished {
                    route: Some(i),
                    status: 200,
                    bytes_in: 120,
                    bytes_out: 250,
                    duration_ns: 80_000 + i as u64 * 100,
                    upstream: Some((i % 50, 60_000)),
                }),
            );
        })
    });
}

fn render(c: &mut Criterion) {
    let f = rows(2);
    for s in 0..2 {
        for i in 0..1000 {
            f.enter(s, i);
            f.record(
                s,
                &Finished {
                    route: Some(i),
                    status: 200 + s as u16,
                    bytes_in: 1000 + i as u64,
                    bytes_out: 99_000,
                    duration_ns: 123_456 * i as u64,
                    upstream: Some((i % 50, 654_321 * i as u64)),
                },
            );
        }
    }
    let mut out = String::new();
    c.bench_function("families/render_1000_routes_2_shards", |b| {
        b.iter(|| {
            out.clear();
            families::render(&f, &mut out);
            black_box(out.len())
        })
    });
    eprintln!("render: {} bytes, {} lines", out.len(), out.lines().count());
}

criterion_group!(benches, clocks, record, render);
criterion_main!(benches);
