//! Request-smuggling defences: every ambiguous or malformed framing is
//! answered with the documented 400/505 and code, the connection is closed
//! after it (`connection: close` said and done), and not one byte reaches
//! the upstream. Most payloads carry a second, smuggled request after the
//! ambiguous one, which must never be seen either.

mod common;

use std::time::Duration;

use common::*;

const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n";

fn check_rejected(raw: &str, status: u16, code: &str) {
    let up = Upstream::echo("u");
    let gw = Gateway::start(&build(
        &[("header_timeout_ms", "3000")],
        &[("u", up.addr())],
        "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n",
    ));
    let mut cl = gw.client();
    cl.send(raw.as_bytes());
    let r = match cl.try_read_response(ReadOpts::default()) {
        Ok(r) => r,
        Err(e) => panic!("{code}: no valid response to {raw:?}: {e}"),
    };
    assert_eq!(
        r.status,
        status,
        "{code}: request {raw:?} got: {}",
        r.summary()
    );
    assert_eq!(
        r.error_code().as_deref(),
        Some(code),
        "request {raw:?} got: {}",
        r.summary()
    );
    assert!(
        r.says_close(),
        "{code}: no `connection: close`: {}",
        r.summary()
    );
    let (extra, closed) = cl.read_until_close(Duration::from_secs(3));
    assert!(closed, "{code}: connection left open after the error");
    assert!(
        extra.is_empty(),
        "{code}: bytes after the error response (smuggled request answered?): {:?}",
        String::from_utf8_lossy(&extra)
    );
    up.assert_untouched(code);
}

macro_rules! rejected {
    ($($name:ident: $raw:expr => $status:literal $code:literal;)*) => {
        $(
            #[test]
            fn $name() {
                check_rejected(&$raw, $status, $code);
            }
        )*
    };
}

fn post(headers: &str, rest: &str) -> String {
    format!("POST / HTTP/1.1\r\nHost: h\r\n{headers}\r\n{rest}")
}

fn chunked(body: &str) -> String {
    post(
        "Transfer-Encoding: chunked\r\n",
        &format!("{body}{SMUGGLED}"),
    )
}

rejected! {
    cl_and_te: post("Content-Length: 6\r\nTransfer-Encoding: chunked\r\n", &format!("0\r\n\r\n{SMUGGLED}"))
        => 400 "conflicting_framing";
    te_and_cl: post("Transfer-Encoding: chunked\r\nContent-Length: 6\r\n", &format!("0\r\n\r\n{SMUGGLED}"))
        => 400 "conflicting_framing";
    duplicate_cl_same_value: post("Content-Length: 5\r\nContent-Length: 5\r\n", &format!("hello{SMUGGLED}"))
        => 400 "invalid_content_length";
    duplicate_cl_different_values: post("Content-Length: 5\r\nContent-Length: 41\r\n", &format!("hello{SMUGGLED}"))
        => 400 "invalid_content_length";
    cl_list: post("Content-Length: 5, 5\r\n", &format!("hello{SMUGGLED}"))
        => 400 "invalid_content_length";
    cl_negative: post("Content-Length: -5\r\n", &format!("hello{SMUGGLED}"))
        => 400 "invalid_content_length";
    cl_plus_sign: post("Content-Length: +5\r\n", &format!("hello{SMUGGLED}"))
        => 400 "invalid_content_length";
    cl_inner_space: post("Content-Length: 1 0\r\n", &format!("helloworld{SMUGGLED}"))
        => 400 "invalid_content_length";
    cl_hex: post("Content-Length: 0x5\r\n", &format!("hello{SMUGGLED}"))
        => 400 "invalid_content_length";
    cl_empty: post("Content-Length: \r\n", SMUGGLED)
        => 400 "invalid_content_length";
    space_before_colon: post("Content-Length : 5\r\n", &format!("hello{SMUGGLED}"))
        => 400 "malformed_request";
    obs_fold: post("X-Foo: a\r\n b\r\nContent-Length: 5\r\n", &format!("hello{SMUGGLED}"))
        => 400 "malformed_request";
    obs_fold_first_header: format!("GET / HTTP/1.1\r\n Host: h\r\n\r\n{SMUGGLED}")
        => 400 "malformed_request";
    bare_lf_in_request_line: format!("GET / HTTP/1.1\nHost: h\r\n\r\n{SMUGGLED}")
        => 400 "malformed_request";
    bare_lf_in_header: format!("GET / HTTP/1.1\r\nHost: h\nContent-Length: 5\r\nX: y\r\n\r\nhello{SMUGGLED}")
        => 400 "malformed_request";
    bare_lf_everywhere: format!("GET / HTTP/1.1\nHost: h\n\n{SMUGGLED}")
        => 400 "malformed_request";
    bare_cr_in_header: format!("GET / HTTP/1.1\r\nHost: h\r\nX-A: b\rContent-Length: 5\r\n\r\nhello{SMUGGLED}")
        => 400 "malformed_request";
    nul_in_header_value: format!("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\0b\r\n\r\n{SMUGGLED}")
        => 400 "malformed_request";
    bad_header_name: format!("GET / HTTP/1.1\r\nHost: h\r\nX(A): b\r\n\r\n{SMUGGLED}")
        => 400 "malformed_request";
    double_space_request_line: format!("GET  / HTTP/1.1\r\nHost: h\r\n\r\n{SMUGGLED}")
        => 400 "malformed_request";
    chunk_size_0x: chunked("0x5\r\nhello\r\n0\r\n\r\n")
        => 400 "invalid_chunk";
    chunk_size_negative: chunked("-1\r\nh\r\n0\r\n\r\n")
        => 400 "invalid_chunk";
    chunk_size_leading_space: chunked(" 5\r\nhello\r\n0\r\n\r\n")
        => 400 "invalid_chunk";
    chunk_size_17_hex_digits: chunked("10000000000000005\r\nhello\r\n0\r\n\r\n")
        => 400 "invalid_chunk";
    chunk_size_empty: chunked("\r\nhello\r\n0\r\n\r\n")
        => 400 "invalid_chunk";
    chunk_missing_crlf_after_data: chunked("5\r\nhelloXX0\r\n\r\n")
        => 400 "invalid_chunk";
    chunk_size_bare_lf: chunked("5\nhello\r\n0\r\n\r\n")
        => 400 "invalid_chunk";
    chunk_invalid_trailer: chunked("5\r\nhello\r\n0\r\nnot a trailer\r\n\r\n")
        => 400 "invalid_chunk";
    te_gzip: post("Transfer-Encoding: gzip\r\n", &format!("hello{SMUGGLED}"))
        => 400 "invalid_transfer_encoding";
    te_gzip_then_chunked: post("Transfer-Encoding: gzip, chunked\r\n", &format!("0\r\n\r\n{SMUGGLED}"))
        => 400 "invalid_transfer_encoding";
    te_chunked_twice_in_one_header: post("Transfer-Encoding: chunked, chunked\r\n", &format!("0\r\n\r\n{SMUGGLED}"))
        => 400 "invalid_transfer_encoding";
    te_chunked_in_two_headers: post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", &format!("0\r\n\r\n{SMUGGLED}"))
        => 400 "invalid_transfer_encoding";
    te_identity: post("Transfer-Encoding: identity\r\n", &format!("0\r\n\r\n{SMUGGLED}"))
        => 400 "invalid_transfer_encoding";
    te_on_http10: format!("POST / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{SMUGGLED}")
        => 400 "invalid_transfer_encoding";
    missing_host_on_http11: format!("GET / HTTP/1.1\r\nX-A: b\r\n\r\n{SMUGGLED}")
        => 400 "invalid_host";
    two_hosts: format!("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n{SMUGGLED}")
        => 400 "invalid_host";
    host_with_slash: format!("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n{SMUGGLED}")
        => 400 "invalid_host";
    host_with_space: format!("GET / HTTP/1.1\r\nHost: a b\r\n\r\n{SMUGGLED}")
        => 400 "invalid_host";
    http_2_0: format!("GET / HTTP/2.0\r\nHost: h\r\n\r\n{SMUGGLED}")
        => 505 "http_version_not_supported";
    http_1_2: format!("GET / HTTP/1.2\r\nHost: h\r\n\r\n{SMUGGLED}")
        => 505 "http_version_not_supported";
}

/// Control: a well-formed pipelined pair is two requests, both answered.
#[test]
fn content_length_body_then_pipelined_request_is_two_requests() {
    let up = Upstream::echo("u");
    let gw = Gateway::start(&build(
        &[],
        &[("u", up.addr())],
        "[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n",
    ));
    let mut cl = gw.client();
    cl.send(post("Content-Length: 5\r\n", &format!("hello{SMUGGLED}")).as_bytes());
    let r = cl.read_response();
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.json()["body_len"], 5);
    let r = cl.read_response();
    assert_eq!(r.json()["target"], "/smuggled");
    let reqs = up.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].body, b"hello");
}
