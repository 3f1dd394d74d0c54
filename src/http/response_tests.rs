//! Unit tests for `response.rs` (kept apart so the module stays short).

use super::*;

const MAX: usize = 8192;

fn parse_m(buf: &[u8], m: Method) -> Result<ResponseHead, HttpError> {
    let mut head = ResponseHead::new();
    match parse_response(buf, MAX, m, &mut head)? {
        true => Ok(head),
        false => panic!("incomplete: {:?}", String::from_utf8_lossy(buf)),
    }
}

fn parse(buf: &[u8]) -> Result<ResponseHead, HttpError> {
    parse_m(buf, Method::Get)
}

fn body(buf: &str) -> BodyKind {
    parse(buf.as_bytes()).unwrap().body
}

fn s(buf: &[u8], span: Span) -> &str {
    std::str::from_utf8(span.get(buf)).unwrap()
}

#[test]
fn simple_ok() {
    let buf = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello";
    let h = parse(buf).unwrap();
    assert_eq!(h.version, Version::Http11);
    assert_eq!(h.status, 200);
    assert_eq!(s(buf, h.status_line), "HTTP/1.1 200 OK\r\n");
    assert_eq!(h.head_len, buf.len() - 5);
    assert_eq!(h.body, BodyKind::Length(5));
    assert!(h.keep_alive);
    assert_eq!(h.headers.len(), 2);
    assert_eq!(h.headers[0].kind, HeaderKind::ContentLength);
    assert_eq!(h.status_line.end, h.headers[0].line.start);
    assert_eq!(h.headers[0].line.end, h.headers[1].line.start);
    assert_eq!(h.headers[1].line.end as usize, h.head_len - 2);
}

#[test]
fn status_line_variants() {
    assert_eq!(parse(b"HTTP/1.1 204\r\n\r\n").unwrap().status, 204);
    assert_eq!(parse(b"HTTP/1.1 999 Weird\r\n\r\n").unwrap().status, 999);
    assert_eq!(
        parse(b"HTTP/1.1 099 Low\r\n\r\n").unwrap_err(),
        HttpError::Malformed
    );
    assert_eq!(
        parse(b"HTTP/1.1 20 OK\r\n\r\n").unwrap_err(),
        HttpError::Malformed
    );
    assert_eq!(
        parse(b"HTTP/1.1 2000 OK\r\n\r\n").unwrap_err(),
        HttpError::Malformed
    );
    assert_eq!(
        parse(b"HTTP/2 200 OK\r\n\r\n").unwrap_err(),
        HttpError::UnsupportedVersion
    );
    assert_eq!(
        parse(b"HTTP/1.2 200 OK\r\n\r\n").unwrap_err(),
        HttpError::UnsupportedVersion
    );
    assert_eq!(
        parse(b"ICY 200 OK\r\n\r\n").unwrap_err(),
        HttpError::Malformed
    );
    let buf = b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let h = parse(buf).unwrap();
    assert_eq!(s(buf, h.status_line), "HTTP/1.1 200 OK\r\n");
}

#[test]
fn incomplete_and_too_large() {
    let full = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let mut head = ResponseHead::new();
    for n in 0..full.len() {
        assert_eq!(
            parse_response(&full[..n], MAX, Method::Get, &mut head),
            Ok(false),
            "prefix {n}"
        );
    }
    assert_eq!(
        parse_response(full, full.len(), Method::Get, &mut head),
        Ok(true)
    );
    assert_eq!(
        parse_response(full, full.len() - 1, Method::Get, &mut head),
        Err(HttpError::HeadTooLarge)
    );
}

#[test]
fn bare_cr_lf_and_obs_fold() {
    assert_eq!(
        parse(b"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n").unwrap_err(),
        HttpError::BareCrLf
    );
    assert_eq!(
        parse(b"HTTP/1.1 200 OK\r\nA: b\n\r\n").unwrap_err(),
        HttpError::BareCrLf
    );
    assert_eq!(
        parse(b"HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n").unwrap_err(),
        HttpError::ObsFold
    );
    for bare in [
        &b"\nHTTP/1.1 200 OK\r\n\r\n"[..],
        b"\r\n\nHTTP/1.1 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\n\r\n",
        b"HTTP/1.1 200 OK\r\n\n",
        b"HTTP/1.1 200\nA: b\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nA: b\r\nC: d\n\r\n",
    ] {
        let e = parse(bare).unwrap_err();
        assert_eq!(
            e,
            HttpError::BareCrLf,
            "{:?}",
            String::from_utf8_lossy(bare)
        );
    }
    let mut head = ResponseHead::new();
    assert_eq!(
        parse_response(b"HTTP/1.1 200 OK\r\nX\rY", MAX, Method::Get, &mut head),
        Err(HttpError::BareCrLf)
    );
}

#[test]
fn no_body_statuses_and_head() {
    for st in [
        "100 Continue",
        "101 Switching",
        "204 No Content",
        "304 Not Modified",
    ] {
        let buf =
            format!("HTTP/1.1 {st}\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n");
        let h = parse(buf.as_bytes()).unwrap();
        assert_eq!(h.body, BodyKind::Empty, "{st}");
        assert!(h.keep_alive, "{st}");
    }
    let h = parse_m(
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
        Method::Head,
    )
    .unwrap();
    assert_eq!(h.body, BodyKind::Empty);
    let h = parse_m(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        Method::Head,
    )
    .unwrap();
    assert_eq!(h.body, BodyKind::Empty);
    // Even a broken length does not matter when there is no body.
    let h = parse_m(
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        Method::Head,
    )
    .unwrap();
    assert_eq!(h.body, BodyKind::Empty);
}

#[test]
fn connect_success_is_a_tunnel() {
    let h = parse_m(
        b"HTTP/1.1 200 Connection established\r\n\r\n",
        Method::Connect,
    )
    .unwrap();
    assert_eq!(h.body, BodyKind::Empty);
    assert!(!h.keep_alive);
    let h = parse_m(
        b"HTTP/1.1 407 Auth\r\nContent-Length: 2\r\n\r\n",
        Method::Connect,
    )
    .unwrap();
    assert_eq!(h.body, BodyKind::Length(2));
}

#[test]
fn transfer_encoding_framing() {
    assert_eq!(
        body("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
        BodyKind::Chunked
    );
    assert_eq!(
        body("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, CHUNKED\r\n\r\n"),
        BodyKind::Chunked
    );
    assert_eq!(
        body("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"),
        BodyKind::Chunked
    );
    assert_eq!(
        body("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
        BodyKind::Chunked
    );
    assert_eq!(
        body("HTTP/1.1 200 OK\r\nContent-Length: bogus\r\nTransfer-Encoding: chunked\r\n\r\n"),
        BodyKind::Chunked
    );
    let h = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n").unwrap();
    assert_eq!(h.body, BodyKind::UntilClose);
    assert!(!h.keep_alive);
    assert_eq!(
        body("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 4\r\n\r\n"),
        BodyKind::UntilClose
    );
    assert_eq!(
        body("HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n"),
        BodyKind::UntilClose
    );
    // TE in an HTTP/1.0 message is faulty framing: read to close.
    let h =
        parse(b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
    assert_eq!(h.body, BodyKind::UntilClose);
    assert!(!h.keep_alive);
}

#[test]
fn content_length_framing() {
    assert_eq!(
        body("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"),
        BodyKind::Length(10)
    );
    assert_eq!(
        body("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        BodyKind::Empty
    );
    assert_eq!(
        body("HTTP/1.1 200 OK\r\nContent-Length: 10, 10\r\n\r\n"),
        BodyKind::Length(10)
    );
    assert_eq!(
        body("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Length: 10\r\n\r\n"),
        BodyKind::Length(10)
    );
    for bad in [
        "10, 11",
        "10\r\nContent-Length: 11",
        "+10",
        "1 0",
        "",
        "10,",
        "0x1",
        "99999999999999999999",
    ] {
        let buf = format!("HTTP/1.1 200 OK\r\nContent-Length: {bad}\r\n\r\n");
        assert_eq!(
            parse(buf.as_bytes()).unwrap_err(),
            HttpError::BadContentLength,
            "{bad:?}"
        );
    }
}

#[test]
fn until_close_and_keep_alive() {
    let h = parse(b"HTTP/1.1 200 OK\r\n\r\n").unwrap();
    assert_eq!(h.body, BodyKind::UntilClose);
    assert!(!h.keep_alive);
    let ka = |b: &[u8]| parse(b).unwrap().keep_alive;
    assert!(ka(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n"));
    assert!(!ka(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n"
    ));
    assert!(!ka(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n"));
    assert!(ka(
        b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: Keep-Alive\r\n\r\n"
    ));
    assert!(!ka(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n"));
}

#[test]
fn connection_listing_and_reuse() {
    let buf = b"HTTP/1.1 200 OK\r\nConnection: X-Internal\r\nContent-Length: 0\r\n\r\n";
    let mut head = ResponseHead::new();
    let cap = head.headers.capacity();
    assert_eq!(parse_response(buf, MAX, Method::Get, &mut head), Ok(true));
    assert!(head.is_connection_listed(buf, b"x-internal"));
    assert!(!head.is_connection_listed(buf, b"close"));
    assert_eq!(
        parse_response(b"HTTP/1.1 204 No\r\n\r\n", MAX, Method::Get, &mut head),
        Ok(true)
    );
    assert!(head.headers.is_empty());
    assert_eq!(head.headers.capacity(), cap);
}

#[test]
fn content_length_fields_are_kept_rewritten_or_dropped() {
    let fields = |cl: &str| {
        parse(format!("HTTP/1.1 200 OK\r\n{cl}\r\n").as_bytes())
            .map(|h| h.content_length)
            .map_err(|e| (cl.to_string(), e))
    };
    use LengthFields::*;
    for (cl, want) in [
        ("", Keep),
        ("Content-Length: 5\r\n", Keep),
        ("Content-Length:  5 \r\n", Keep),
        ("Content-Length: 0\r\n", Keep),
        ("Content-Length: 5\r\nContent-Length: 5\r\n", Rewrite(5)),
        ("Content-Length: 5, 5\r\n", Rewrite(5)),
        ("Content-Length: 005\r\n", Rewrite(5)),
        ("Content-Length: 00\r\n", Rewrite(0)),
        ("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", Drop),
        ("Content-Length: 5\r\nTransfer-Encoding: gzip\r\n", Drop),
    ] {
        assert_eq!(fields(cl), Ok(want), "{cl:?}");
    }
    // Differing values on a response without a body frame nothing: they
    // are not forwarded (a response with a body is refused, see above).
    for buf in [
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nContent-Length: 1, 2\r\n\r\n",
    ] {
        let h = parse(buf.as_bytes()).unwrap();
        assert_eq!(
            (h.body, h.content_length),
            (BodyKind::Empty, Drop),
            "{buf:?}"
        );
    }
    let h = parse_m(
        b"HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\n\r\n",
        Method::Head,
    )
    .unwrap();
    assert_eq!((h.body, h.content_length), (BodyKind::Empty, Rewrite(7)));
}
