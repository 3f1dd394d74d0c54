//! Criterion: parsing an upstream response head (`http::parse_response`), a
//! minimal one and a typical API response. Run: `cargo bench --bench response_head`.
//! It must never measure anything but the parse.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ringway::http::{parse_response, Method, ResponseHead};

const SMALL: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 13\r\n\r\nhello, world\n";

const API: &[u8] = b"HTTP/1.1 200 OK\r\n\
date: Tue, 24 Nov 2026 16:00:00 GMT\r\n\
content-type: application/json; charset=utf-8\r\n\
content-length: 1432\r\n\
cache-control: private, max-age=0, no-cache\r\n\
etag: \"33a64df551425fcc55e4d42a148795d9f25f89d4\"\r\n\
vary: accept-encoding, origin\r\n\
x-request-id: 0b7e4c1a-5d2f-4e8a-9c3b-1f2e3d4c5b6a\r\n\
strict-transport-security: max-age=63072000\r\n\r\n";

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("response_head");
    for (name, buf) in [("small", SMALL), ("api", API)] {
        let mut head = ResponseHead::new();
        assert!(parse_response(buf, 16 * 1024, Method::Get, &mut head).expect("valid response"));
        g.throughput(Throughput::Bytes(buf.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| parse_response(black_box(buf), 16 * 1024, Method::Get, &mut head));
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
