//! Unit tests for `request.rs` (kept apart so the module stays short).

use super::*;

const MAX: usize = 8192;

fn parse(buf: &[u8]) -> Result<RequestHead, HttpError> {
    let mut head = RequestHead::new();
    match parse_request(buf, MAX, &mut head)? {
        true => Ok(head),
        false => panic!("incomplete: {:?}", String::from_utf8_lossy(buf)),
    }
}

fn err(buf: &[u8]) -> HttpError {
    match parse(buf) {
        Err(e) => e,
        Ok(_) => panic!("accepted: {:?}", String::from_utf8_lossy(buf)),
    }
}

/// A request with the given extra header lines (each ending in CRLF).
fn with_headers(lines: &str) -> Vec<u8> {
    format!("POST /p HTTP/1.1\r\nHost: h\r\n{lines}\r\n").into_bytes()
}

fn s(buf: &[u8], span: Span) -> &str {
    std::str::from_utf8(span.get(buf)).unwrap()
}

#[test]
fn simple_get() {
    let buf = b"GET /a/b?x=1&y HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\n\r\nNEXT";
    let h = parse(buf).unwrap();
    assert_eq!(h.method, Method::Get);
    assert_eq!(s(buf, h.method_span), "GET");
    assert_eq!(s(buf, h.target), "/a/b?x=1&y");
    assert_eq!(s(buf, h.path), "/a/b");
    assert_eq!(s(buf, h.query.unwrap()), "?x=1&y");
    assert_eq!(h.version, Version::Http11);
    assert_eq!(s(buf, h.request_line), "GET /a/b?x=1&y HTTP/1.1\r\n");
    assert_eq!(h.head_len, buf.len() - 4);
    assert_eq!(h.body, BodyKind::Empty);
    assert!(h.keep_alive);
    assert!(!h.expect_continue);
    assert_eq!(s(buf, h.host.unwrap()), "example.com:8080");
    assert_eq!(h.headers.len(), 2);
    assert_eq!(s(buf, h.headers[0].name), "Host");
    assert_eq!(h.headers[0].kind, HeaderKind::Host);
    assert_eq!(s(buf, h.headers[1].value), "*/*");
    assert_eq!(h.headers[1].kind, HeaderKind::Other);
}

#[test]
fn header_lines_tile_the_head() {
    let buf = b"\r\nGET / HTTP/1.1\r\nHost: h\r\nA:\r\nB:  x y \t\r\nC:z\r\n\r\n";
    let h = parse(buf).unwrap();
    assert_eq!(h.headers.len(), 4);
    assert_eq!(h.request_line.end, h.headers[0].line.start);
    for w in h.headers.windows(2) {
        assert_eq!(w[0].line.end, w[1].line.start);
    }
    assert_eq!(h.headers[3].line.end as usize, h.head_len - 2);
    let lines: Vec<&str> = h.headers.iter().map(|e| s(buf, e.line)).collect();
    assert_eq!(
        lines,
        ["Host: h\r\n", "A:\r\n", "B:  x y \t\r\n", "C:z\r\n"]
    );
    assert_eq!(s(buf, h.headers[1].value), "");
    assert_eq!(s(buf, h.headers[2].value), "x y");
    for e in &h.headers {
        assert!(
            e.line.start <= e.name.start
                && e.name.end <= e.value.start
                && e.value.end <= e.line.end
        );
    }
}

#[test]
fn leading_empty_lines_are_skipped() {
    let buf = b"\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n";
    let h = parse(buf).unwrap();
    assert_eq!(s(buf, h.request_line), "GET /x HTTP/1.1\r\n");
    assert_eq!(s(buf, h.method_span), "GET");
    assert_eq!(s(buf, h.path), "/x");
    assert_eq!(h.head_len, buf.len());
    assert_eq!(
        err(b"\n\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"),
        HttpError::BareCrLf
    );
}

#[test]
fn incomplete_and_too_large() {
    let full = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    let mut head = RequestHead::new();
    for n in 0..full.len() {
        assert_eq!(
            parse_request(&full[..n], MAX, &mut head),
            Ok(false),
            "prefix {n}"
        );
    }
    assert_eq!(parse_request(full, MAX, &mut head), Ok(true));
    assert_eq!(parse_request(full, full.len(), &mut head), Ok(true));
    assert_eq!(
        parse_request(full, full.len() - 1, &mut head),
        Err(HttpError::HeadTooLarge)
    );
    assert_eq!(
        parse_request(&full[..10], 10, &mut head),
        Err(HttpError::HeadTooLarge)
    );
    assert_eq!(parse_request(&full[..9], 10, &mut head), Ok(false));
}

#[test]
fn head_state_is_reset_between_parses() {
    let mut head = RequestHead::new();
    let cap = head.headers.capacity();
    let a = b"POST /a?q HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n";
    assert_eq!(parse_request(a, MAX, &mut head), Ok(true));
    assert!(head.expect_continue && head.query.is_some());
    let b = b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    assert_eq!(parse_request(b, MAX, &mut head), Ok(true));
    assert_eq!(head.headers.len(), 1);
    assert!(!head.expect_continue);
    assert_eq!(head.query, None);
    assert_eq!(head.body, BodyKind::Empty);
    assert_eq!(head.headers.capacity(), cap);
    assert!(cap >= MAX_HEADERS);
}

#[test]
fn bare_cr_lf_rejected_even_when_incomplete() {
    assert_eq!(err(b"GET / HTTP/1.1\nHost: h\r\n\r\n"), HttpError::BareCrLf);
    assert_eq!(err(b"GET / HTTP/1.1\r\nHost: h\n\r\n"), HttpError::BareCrLf);
    assert_eq!(err(b"GET / HTTP/1.1\r\nHost: h\r\n\n"), HttpError::BareCrLf);
    for bare in [
        &b"GET / HTTP/1.0\n\r\n"[..],
        b"GET / HTTP/1.0\r\n\n",
        b"\nGET / HTTP/1.0\r\n\r\n",
        b"\r\n\nGET / HTTP/1.0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX:\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX: \t\n\r\n",
    ] {
        assert_eq!(
            err(bare),
            HttpError::BareCrLf,
            "{:?}",
            String::from_utf8_lossy(bare)
        );
    }
    assert_eq!(
        err(b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n"),
        HttpError::BareCrLf
    );
    let mut head = RequestHead::new();
    assert_eq!(
        parse_request(b"GET / HTTP/1.1\r\nA: b\nB", MAX, &mut head),
        Err(HttpError::BareCrLf)
    );
    assert_eq!(
        parse_request(b"GET / HTTP/1.1\n", MAX, &mut head),
        Err(HttpError::BareCrLf)
    );
}

#[test]
fn obs_fold_rejected() {
    assert_eq!(
        err(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n"),
        HttpError::ObsFold
    );
    assert_eq!(
        err(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n"),
        HttpError::ObsFold
    );
    assert_eq!(
        err(b"GET / HTTP/1.1\r\n Host: h\r\n\r\n"),
        HttpError::ObsFold
    );
    let mut head = RequestHead::new();
    assert_eq!(
        parse_request(b"GET / HTTP/1.1\r\nX: a\r\n b", MAX, &mut head),
        Err(HttpError::ObsFold)
    );
}

#[test]
fn malformed_heads() {
    for bad in [
        &b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n"[..],
        b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n",
        b"GET /\r\nHost: h\r\n\r\n",
        b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET / HTTP/1.1\r\nHo st: h\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n",
        b"GET / FTP/1.1\r\nHost: h\r\n\r\n",
    ] {
        assert_eq!(
            err(bad),
            HttpError::Malformed,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    let mut head = RequestHead::new();
    assert_eq!(
        parse_request(b"G(T / HT", MAX, &mut head),
        Err(HttpError::Malformed)
    );
}

#[test]
fn versions() {
    assert_eq!(
        err(b"GET / HTTP/2.0\r\nHost: h\r\n\r\n"),
        HttpError::UnsupportedVersion
    );
    assert_eq!(
        err(b"GET / HTTP/1.2\r\nHost: h\r\n\r\n"),
        HttpError::UnsupportedVersion
    );
    assert_eq!(
        err(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        HttpError::UnsupportedVersion
    );
    let mut head = RequestHead::new();
    assert_eq!(
        parse_request(b"GET / HTTP/3", MAX, &mut head),
        Err(HttpError::UnsupportedVersion)
    );
    let h = parse(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(h.version, Version::Http10);
    assert_eq!(h.host, None);
    assert!(!h.keep_alive);
}

#[test]
fn too_many_headers() {
    let mut buf = String::from("GET / HTTP/1.1\r\nHost: h\r\n");
    for i in 0..(MAX_HEADERS - 1) {
        buf.push_str(&format!("X-{i}: v\r\n"));
    }
    let ok = format!("{buf}\r\n");
    assert_eq!(parse(ok.as_bytes()).unwrap().headers.len(), MAX_HEADERS);
    let over = format!("{buf}X-last: v\r\n\r\n");
    let mut head = RequestHead::new();
    assert_eq!(
        parse_request(over.as_bytes(), 1 << 20, &mut head),
        Err(HttpError::TooManyHeaders)
    );
    // Visible before the head completes.
    let partial = format!("{buf}X-last: v\r\n");
    assert_eq!(
        parse_request(partial.as_bytes(), 1 << 20, &mut head),
        Err(HttpError::TooManyHeaders)
    );
}

#[test]
fn content_length() {
    assert_eq!(
        parse(&with_headers("Content-Length: 5\r\n")).unwrap().body,
        BodyKind::Length(5)
    );
    assert_eq!(
        parse(&with_headers("Content-Length: 0\r\n")).unwrap().body,
        BodyKind::Empty
    );
    assert_eq!(
        parse(&with_headers("Content-Length:  007 \r\n"))
            .unwrap()
            .body,
        BodyKind::Length(7)
    );
    assert_eq!(
        parse(&with_headers("content-length: 18446744073709551615\r\n"))
            .unwrap()
            .body,
        BodyKind::Length(u64::MAX)
    );
    for bad in [
        "Content-Length: +5\r\n",
        "Content-Length: -5\r\n",
        "Content-Length: 5 5\r\n",
        "Content-Length: 5, 5\r\n",
        "Content-Length: 5,5\r\n",
        "Content-Length: 0x5\r\n",
        "Content-Length:\r\n",
        "Content-Length: 18446744073709551616\r\n",
        "Content-Length: 5\r\nContent-Length: 5\r\n",
        "Content-Length: 5\r\nContent-Length: 6\r\n",
    ] {
        assert_eq!(
            err(&with_headers(bad)),
            HttpError::BadContentLength,
            "{bad:?}"
        );
    }
}

#[test]
fn transfer_encoding() {
    for ok in [
        "Transfer-Encoding: chunked\r\n",
        "transfer-encoding: CHUNKED\r\n",
        "Transfer-Encoding:   Chunked \t\r\n",
    ] {
        assert_eq!(
            parse(&with_headers(ok)).unwrap().body,
            BodyKind::Chunked,
            "{ok:?}"
        );
    }
    for bad in [
        "Transfer-Encoding: gzip\r\n",
        "Transfer-Encoding: gzip, chunked\r\n",
        "Transfer-Encoding: chunked, chunked\r\n",
        "Transfer-Encoding: chunked,\r\n",
        "Transfer-Encoding: identity\r\n",
        "Transfer-Encoding:\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: xchunked\r\n",
    ] {
        assert_eq!(
            err(&with_headers(bad)),
            HttpError::BadTransferEncoding,
            "{bad:?}"
        );
    }
    let v10 = b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(err(v10), HttpError::BadTransferEncoding);
}

#[test]
fn length_and_chunked_checked_first() {
    for both in [
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        "Content-Length: x\r\nTransfer-Encoding: gzip\r\n",
        "Content-Length: 1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n",
    ] {
        assert_eq!(
            err(&with_headers(both)),
            HttpError::LengthAndChunked,
            "{both:?}"
        );
    }
}

#[test]
fn host_rules() {
    assert_eq!(err(b"GET / HTTP/1.1\r\n\r\n"), HttpError::BadHost);
    assert_eq!(
        err(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
        HttpError::BadHost
    );
    assert_eq!(
        err(b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"),
        HttpError::BadHost
    );
    for bad in ["", "u@h", "h/x", "h:x", "h h", "h:", "[::1", "a,b"] {
        let buf = format!("GET / HTTP/1.1\r\nHost: {bad}\r\n\r\n");
        assert_eq!(err(buf.as_bytes()), HttpError::BadHost, "{bad:?}");
    }
    for ok in ["h", "h:80", "[::1]:8080", "10.0.0.1", "EXAMPLE.com"] {
        let buf = format!("GET / HTTP/1.1\r\nHost: {ok}\r\n\r\n");
        let h = parse(buf.as_bytes()).unwrap();
        assert_eq!(s(buf.as_bytes(), h.host.unwrap()), ok);
    }
    let buf = b"GET / HTTP/1.0\r\nHost: old\r\n\r\n";
    assert_eq!(s(buf, parse(buf).unwrap().host.unwrap()), "old");
}

#[test]
fn absolute_form_target() {
    let buf = b"GET HTTPS://api.example.com:8443/v1/x?y=2 HTTP/1.1\r\nHost: other\r\n\r\n";
    let h = parse(buf).unwrap();
    assert_eq!(s(buf, h.host.unwrap()), "api.example.com:8443");
    assert_eq!(s(buf, h.path), "/v1/x");
    assert_eq!(s(buf, h.query.unwrap()), "?y=2");
    let buf = b"GET http://h HTTP/1.1\r\nHost: h\r\n\r\n";
    let h = parse(buf).unwrap();
    assert!(h.path.is_empty());
    assert_eq!(h.path.start, h.target.end);
    assert_eq!(h.query, None);
    let buf = b"GET http://h?q HTTP/1.1\r\nHost: h\r\n\r\n";
    let h = parse(buf).unwrap();
    assert!(h.path.is_empty());
    assert_eq!(s(buf, h.query.unwrap()), "?q");
    // Host is still required on HTTP/1.1 with absolute-form.
    assert_eq!(err(b"GET http://h/ HTTP/1.1\r\n\r\n"), HttpError::BadHost);
    for bad in [
        "http://",
        "http:///x",
        "http://u@h/",
        "http://h:x/",
        "ftp://h/",
        "http:/h/",
        "http://h h/",
    ] {
        let buf = format!("GET {bad} HTTP/1.1\r\nHost: h\r\n\r\n");
        let e = err(buf.as_bytes());
        assert!(
            e == HttpError::BadTarget || e == HttpError::Malformed,
            "{bad:?} -> {e:?}"
        );
    }
}

#[test]
fn other_target_forms() {
    let buf = b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n";
    let h = parse(buf).unwrap();
    assert_eq!(s(buf, h.path), "*");
    assert_eq!(h.query, None);
    assert_eq!(
        err(b"GET * HTTP/1.1\r\nHost: h\r\n\r\n"),
        HttpError::BadTarget
    );
    assert_eq!(
        err(b"CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n"),
        HttpError::BadTarget
    );
    assert_eq!(
        err(b"GET a/b HTTP/1.1\r\nHost: h\r\n\r\n"),
        HttpError::BadTarget
    );
    assert_eq!(
        err(b"GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n"),
        HttpError::BadTarget
    );
    assert_eq!(
        err(b"GET /a?b#c HTTP/1.1\r\nHost: h\r\n\r\n"),
        HttpError::BadTarget
    );
    assert_eq!(
        err(b"OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n"),
        HttpError::BadTarget
    );
}

#[test]
fn expect() {
    let h = parse(&with_headers(
        "Expect: 100-Continue\r\nContent-Length: 1\r\n",
    ))
    .unwrap();
    assert!(h.expect_continue);
    assert_eq!(
        err(&with_headers("Expect: 200-ok\r\n")),
        HttpError::UnsupportedExpectation
    );
    assert_eq!(
        err(&with_headers("Expect:\r\n")),
        HttpError::UnsupportedExpectation
    );
    assert_eq!(
        err(&with_headers("Expect: 100-continue\r\nExpect: foo\r\n")),
        HttpError::UnsupportedExpectation
    );
    let h = parse(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").unwrap();
    assert!(!h.expect_continue);
}

#[test]
fn keep_alive_rules() {
    let ka = |b: &[u8]| parse(b).unwrap().keep_alive;
    assert!(ka(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
    assert!(!ka(
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    ));
    assert!(!ka(
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, CLOSE\r\n\r\n"
    ));
    assert!(!ka(b"GET / HTTP/1.0\r\n\r\n"));
    assert!(ka(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    assert!(!ka(
        b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"
    ));
}

#[test]
fn connection_listing() {
    let buf = b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Secret\r\nConnection: upgrade\r\n\r\n";
    let h = parse(buf).unwrap();
    assert!(h.is_connection_listed(buf, b"x-secret"));
    assert!(h.is_connection_listed(buf, b"Upgrade"));
    assert!(!h.is_connection_listed(buf, b"close"));
}

#[test]
fn methods() {
    for (m, want) in [
        ("GET", Method::Get),
        ("DELETE", Method::Delete),
        ("PURGE", Method::Other),
        ("purge", Method::Other),
        ("GETX", Method::Other),
        ("gets", Method::Other),
    ] {
        let buf = format!("{m} / HTTP/1.1\r\nHost: h\r\n\r\n");
        let h = parse(buf.as_bytes()).unwrap();
        assert_eq!(h.method, want);
        assert_eq!(s(buf.as_bytes(), h.method_span), m);
    }
}

#[test]
fn miscased_standard_methods_are_refused() {
    // Issue 10: a lower- or mixed-case standard method would step around a
    // route's `methods` and be upper-cased by the upstream.
    for m in [
        "get", "Get", "delete", "Delete", "dElEtE", "pAtCh", "options", "connecT",
    ] {
        let buf = format!("{m} / HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(
            parse(buf.as_bytes()).err(),
            Some(HttpError::MiscasedMethod),
            "{m}"
        );
    }
}

#[test]
fn every_prefix_is_incomplete_or_same_verdict() {
    let full: &[u8] = b"\r\nPOST http://h:1/a/../b?c HTTP/1.1\r\nHost: h:1\r\nTransfer-Encoding: chunked\r\nX:  y \r\n\r\n";
    let want = parse(full).unwrap();
    let mut head = RequestHead::new();
    for n in 0..full.len() {
        assert_eq!(
            parse_request(&full[..n], MAX, &mut head),
            Ok(false),
            "prefix {n}"
        );
    }
    assert_eq!(parse_request(full, MAX, &mut head), Ok(true));
    assert_eq!(head.headers, want.headers);
    assert_eq!(head.body, BodyKind::Chunked);
}

#[test]
fn one_value_headers_and_method_overrides() {
    for ok in [
        "Authorization: Bearer a\r\n",
        "Authorization: Digest a=1, b=2\r\nProxy-Authorization: Basic x\r\nContent-Type: text/plain\r\n",
        "Content-Type: application/json; charset=utf-8\r\n",
    ] {
        assert!(parse(&with_headers(ok)).is_ok(), "{ok:?}");
    }
    for dup in [
        "Authorization: Bearer a\r\nAuthorization: Bearer b\r\n",
        "authorization: Bearer a\r\nAUTHORIZATION: Bearer a\r\n",
        "Authorization: Bearer a\r\nX: y\r\nAuthorization:\r\n",
        "Proxy-Authorization: Basic a\r\nproxy-authorization: Basic b\r\n",
        "Content-Type: text/plain\r\nContent-Type: application/json\r\n",
    ] {
        assert_eq!(
            err(&with_headers(dup)),
            HttpError::AmbiguousHeader,
            "{dup:?}"
        );
    }
    for o in [
        "X-HTTP-Method-Override",
        "x-http-method",
        "X-Method-Override",
    ] {
        let h = with_headers(&format!("{o}: DELETE\r\n"));
        assert_eq!(err(&h), HttpError::MethodOverride, "{o}");
    }
}
