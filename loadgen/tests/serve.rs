//! The reference upstream on the wire: fixed and chunked bodies, keep-alive
//! and pipelining, request bodies skipped, bad requests refused, and the
//! connection/request counters a comparison reads.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::Serve;

fn read_for(s: &mut TcpStream, want: usize) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while out.len() < want {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

const HELLO: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 13\r\n\r\nhello, world\n";

#[test]
fn answers_pipelined_keep_alive_requests_and_counts_them() {
    let serve = Serve::start(&[]);
    let mut s = TcpStream::connect(serve.addr).unwrap();
    // Two pipelined requests, the first with a body that must be skipped.
    s.write_all(b"POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nabcdeGET /b HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    let got = read_for(&mut s, 2 * HELLO.len());
    assert_eq!(got, [HELLO, HELLO].concat());
    assert_eq!(
        serve.stats(),
        (2, 2),
        "one client connection (plus the stats one), two requests"
    );
    let mut t = TcpStream::connect(serve.addr).unwrap();
    t.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    assert_eq!(read_for(&mut t, HELLO.len()), HELLO);
    // Stats requests are answered but never counted as requests.
    assert_eq!(serve.stats(), (4, 3));
}

#[test]
fn chunked_bodies_of_the_requested_size() {
    let serve = Serve::start(&["--chunked", "--body-size", "30"]);
    let mut s = TcpStream::connect(serve.addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    let want = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n1e\r\nabcdefghijklmnopqrstuvwxyzabcd\r\n0\r\n\r\n";
    assert_eq!(read_for(&mut s, want.len()), want.to_vec());
}

#[test]
fn malformed_and_chunked_requests_are_refused_and_closed() {
    let serve = Serve::start(&[]);
    let mut s = TcpStream::connect(serve.addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nbad header\r\n\r\n")
        .unwrap();
    let got = read_for(&mut s, usize::MAX);
    assert!(
        got.starts_with(b"HTTP/1.1 400 Bad Request\r\n"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    let mut s = TcpStream::connect(serve.addr).unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n")
        .unwrap();
    let got = read_for(&mut s, usize::MAX);
    assert!(
        got.starts_with(b"HTTP/1.1 501 Not Implemented\r\n"),
        "{}",
        String::from_utf8_lossy(&got)
    );
}
