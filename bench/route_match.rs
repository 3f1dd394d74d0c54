//! Criterion: route matching (`route::Router::find`) over 10, 100 and 1000
//! routes compiled from a real config, for the first route, the last route
//! (a full scan) and a miss. Run: `cargo bench --bench route_match`.
//! It must never measure config loading or parsing: both happen outside the loop.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use ringway::http::{normalize_path, parse_request, RequestHead};
use ringway::route::RouteMatch;

/// A config with `n` prefix routes; every third has a host, every fifth a method set.
fn config(n: usize) -> String {
    let mut s = String::from("[server]\nlisten = \"127.0.0.1:0\"\n\n[[upstreams]]\nname = \"u\"\ntargets = [\"127.0.0.1:9\"]\n");
    for i in 0..n {
        s.push_str(&format!(
            "\n[[routes]]\nname = \"r{i}\"\npath_prefix = \"/api/service{i}\"\nupstream = \"u\"\n"
        ));
        if i % 3 == 0 {
            s.push_str(&format!("host = \"svc{i}.example.com\"\n"));
        }
        if i % 5 == 0 {
            s.push_str("methods = [\"GET\", \"POST\"]\n");
        }
    }
    s
}

fn request(path: &str, host: &str) -> (Vec<u8>, RequestHead, Vec<u8>) {
    let buf = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\n\r\n").into_bytes();
    let mut head = RequestHead::new();
    assert!(parse_request(&buf, 16 * 1024, &mut head).expect("valid request"));
    let mut norm = Vec::new();
    normalize_path(head.path.get(&buf), Default::default(), &mut norm).expect("valid path");
    (buf, head, norm)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("route_match");
    for n in [10usize, 100, 1000] {
        let compiled =
            ringway::config::load_str(&config(n), "bench.toml").expect("bench config is valid");
        let router = &compiled.router;
        let last = n - 1;
        let cases = [
            (
                "first",
                request("/api/service0/items/7", "svc0.example.com"),
            ),
            (
                "last",
                request(
                    &format!("/api/service{last}/items/7"),
                    &format!("svc{last}.example.com"),
                ),
            ),
            ("miss", request("/nothing/here", "other.example.com")),
        ];
        for (name, (buf, head, path)) in &cases {
            let hit = matches!(router.find(head, buf, path), RouteMatch::Found(_));
            assert_eq!(hit, *name != "miss", "{name} over {n} routes");
            g.bench_with_input(BenchmarkId::new(*name, n), &n, |b, _| {
                b.iter(|| {
                    matches!(
                        router.find(black_box(head), buf, black_box(path)),
                        RouteMatch::Found(_)
                    )
                });
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
