//! Criterion: parsing a request head in place (`http::parse_request`), for a
//! minimal request and a browser-sized one. Run: `cargo bench --bench request_head`.
//! It must never measure anything but the parse (buffers are built outside the loop).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ringway::http::{parse_request, RequestHead};

const SMALL: &[u8] = b"GET /api/users/42 HTTP/1.1\r\nhost: api.example.com\r\n\r\n";

const BROWSER: &[u8] = b"GET /api/orders/2024/11?page=3&sort=desc HTTP/1.1\r\n\
host: api.example.com\r\n\
user-agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n\
accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n\
accept-language: en-GB,en;q=0.9\r\n\
accept-encoding: gzip, deflate, br\r\n\
cookie: session=6f1c0d2e9a8b4c3d; theme=dark; consent=yes\r\n\
x-request-id: 0b7e4c1a-5d2f-4e8a-9c3b-1f2e3d4c5b6a\r\n\
x-forwarded-for: 203.0.113.7\r\n\
connection: keep-alive\r\n\r\n";

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("request_head");
    for (name, buf) in [("small", SMALL), ("browser", BROWSER)] {
        let mut head = RequestHead::new();
        assert!(parse_request(buf, 16 * 1024, &mut head).expect("valid request"));
        g.throughput(Throughput::Bytes(buf.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| parse_request(black_box(buf), 16 * 1024, &mut head));
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
