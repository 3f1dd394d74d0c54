//! Criterion benchmarks of target selection: one `pick` + `start` + `end`
//! (what a request costs the balancer) for each algorithm, over 3 and 16
//! targets, all usable. The bound: < 100 ns.
//!
//! Run: `cargo bench --bench select`. Numbers go to bench/RESULTS.md.

#[path = "../tests/common/upstream_spec.rs"]
mod upstream_spec;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use ringway::config::upstream::{Balance, HashKey};
use ringway::upstream::select::Selector;
use upstream_spec::upstream_spec;

fn one_request(c: &mut Criterion) {
    let algos = [
        ("round_robin", Balance::RoundRobin),
        ("least_request", Balance::LeastRequest),
        ("ewma", Balance::Ewma),
        ("hash", Balance::Hash(HashKey::Ip)),
    ];
    for (name, balance) in algos {
        for n in [3usize, 16] {
            // Unequal weights, so the weighted paths are the ones timed.
            let weights: Vec<u32> = (0..n as u32).map(|i| 1 + i % 3).collect();
            let s = Selector::new(&upstream_spec(balance.clone(), &weights), 1);
            let mut now = 1_000_000_000u64;
            let mut key = 0u64;
            c.bench_function(&format!("select/{name}/{n}_targets"), |b| {
                b.iter(|| {
                    // 10 µs a request; latency varies so EWMA takes both branches.
                    now += 10_000;
                    key = key.wrapping_add(0x9e37_79b9_7f4a_7c15);
                    let t = s.pick(black_box(key), &[], |_| true, now).unwrap_or(0);
                    s.start(t);
                    s.end(t, 500_000 + (key >> 44), true, now);
                    black_box(t)
                })
            });
        }
    }
}

criterion_group!(benches, one_request);
criterion_main!(benches);
