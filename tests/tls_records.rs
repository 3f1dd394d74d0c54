//! TLS records on the wire: a response whose head the gateway gathers from
//! several buffers (the upstream's head, the headers it adds) leaves as one
//! record with its small body, not one record per segment. Counted on the
//! raw socket under a real rustls client (docs/tls.md, "Cost").

mod common;

#[path = "common/tls.rs"]
mod tls;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;
use tls::{client_config, connect, exchange, ClientOpts, TestCa};

/// Reads raw ciphertext from the client's socket into rustls until a whole
/// response of `body` bytes is readable; returns (application data
/// records, the response text).
fn records_of_one_response(s: &mut tls::TlsClient, body: usize) -> (usize, String) {
    let (mut raw, mut at, mut records) = (Vec::new(), 0, 0);
    let mut plain = Vec::new();
    let mut tmp = [0u8; 16384];
    loop {
        let n = s.sock.read(&mut tmp).expect("raw read");
        assert!(n > 0, "closed mid-response");
        raw.extend_from_slice(&tmp[..n]);
        // Whole records only: 5-byte header, type 23 (application data).
        while raw.len() >= at + 5 {
            let len = u16::from_be_bytes([raw[at + 3], raw[at + 4]]) as usize;
            if raw.len() < at + 5 + len {
                break;
            }
            assert_eq!(
                raw[at], 23,
                "only application data records after the tickets"
            );
            records += 1;
            let mut rec = &raw[at..at + 5 + len];
            s.conn.read_tls(&mut rec).expect("read_tls");
            s.conn.process_new_packets().expect("decrypt");
            at += 5 + len;
        }
        let _ = s.conn.reader().read_to_end(&mut plain);
        if let Some(i) = plain.windows(4).position(|w| w == b"\r\n\r\n") {
            if plain.len() >= i + 4 + body {
                return (records, String::from_utf8_lossy(&plain).into_owned());
            }
        }
    }
}

#[test]
fn a_gathered_head_and_small_body_leave_as_one_record() {
    let body = b"hello, world\n";
    let up = Upstream::start("u", move |_| Reply::Raw(fixed_response("", body)));
    let ca = TestCa::new();
    let leaf = ca.leaf(&["api.test"]);
    let cfg = build(
        &[("tls_listen", "\"127.0.0.1:0\"")],
        &[("u", up.addr())],
        &format!(
            "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n\
             response_headers = {{ set = {{ \"x-added\" = \"by-the-gateway\" }} }}\n\n\
             [[tls.certificates]]\ncert = \"{}\"\nkey = \"{}\"\n",
            leaf.cert.display(),
            leaf.key.display()
        ),
    );
    let gw = Gateway::start(&cfg);
    let client = client_config(&ca, &ClientOpts::new());
    let mut s = connect(gw.tls_addr(), client, "api.test").expect("handshake");
    let req = b"GET / HTTP/1.1\r\nhost: api.test\r\nx-request-id: rec-1\r\n\r\n";
    // The first exchange also takes in the TLS 1.3 session tickets.
    assert_eq!(exchange(&mut s, req).0, 200);
    s.sock
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    s.conn.writer().write_all(req).unwrap();
    while s.conn.wants_write() {
        s.conn.write_tls(&mut s.sock).unwrap();
    }
    let (records, text) = records_of_one_response(&mut s, body.len());
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("x-added: by-the-gateway\r\n"), "{text}");
    assert!(text.contains("x-request-id: rec-1\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nhello, world\n"), "{text}");
    assert_eq!(records, 1, "{text}");
}
