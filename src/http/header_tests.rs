//! Unit tests for `header.rs` (kept apart so the module stays short).

use super::*;

#[test]
fn classify_known_names_any_case() {
    let cases: &[(&[u8], HeaderKind)] = &[
        (b"Host", HeaderKind::Host),
        (b"HOST", HeaderKind::Host),
        (b"content-length", HeaderKind::ContentLength),
        (b"Transfer-Encoding", HeaderKind::TransferEncoding),
        (b"connection", HeaderKind::Connection),
        (b"Keep-Alive", HeaderKind::KeepAlive),
        (b"Proxy-Connection", HeaderKind::ProxyConnection),
        (b"TE", HeaderKind::Te),
        (b"Trailer", HeaderKind::Trailer),
        (b"Upgrade", HeaderKind::Upgrade),
        (b"Expect", HeaderKind::Expect),
        (b"X-Forwarded-For", HeaderKind::XForwardedFor),
        (b"x-forwarded-proto", HeaderKind::XForwardedProto),
        (b"X-Forwarded-Host", HeaderKind::XForwardedHost),
        (b"X-Request-ID", HeaderKind::XRequestId),
        (b"Via", HeaderKind::Via),
        (b"AUTHORIZATION", HeaderKind::Authorization),
        (b"Proxy-Authorization", HeaderKind::ProxyAuthorization),
        (b"content-TYPE", HeaderKind::ContentType),
        (b"X-Real-IP", HeaderKind::XRealIp),
        (b"Forwarded", HeaderKind::Forwarded),
        (b"X-HTTP-Method-Override", HeaderKind::MethodOverride),
        (b"x-http-method", HeaderKind::MethodOverride),
        (b"X-Method-Override", HeaderKind::MethodOverride),
        (b"x_real_ip", HeaderKind::Other),
        (b"Accept", HeaderKind::Other),
        (b"Hostx", HeaderKind::Other),
        (b"", HeaderKind::Other),
        (b"Content-Lengt", HeaderKind::Other),
    ];
    for (name, kind) in cases {
        assert_eq!(
            HeaderKind::classify(name),
            *kind,
            "{:?}",
            String::from_utf8_lossy(name)
        );
    }
}

#[test]
fn hop_by_hop_set() {
    use HeaderKind::*;
    for k in [
        Connection,
        KeepAlive,
        ProxyConnection,
        Te,
        TransferEncoding,
        Trailer,
        Upgrade,
    ] {
        assert!(k.is_hop_by_hop(), "{k:?}");
    }
    for k in [
        Host,
        ContentLength,
        Expect,
        XForwardedFor,
        XForwardedProto,
        XForwardedHost,
        XRequestId,
        Via,
        Other,
    ] {
        assert!(!k.is_hop_by_hop(), "{k:?}");
    }
}

#[test]
fn token_lists() {
    assert!(has_token(b"close", b"close"));
    assert!(has_token(b"Keep-Alive, Upgrade", b"upgrade"));
    assert!(has_token(b" foo ,\tCLOSE\t", b"close"));
    assert!(has_token(b",,close,", b"close"));
    assert!(!has_token(b"closed", b"close"));
    assert!(!has_token(b"clo se", b"close"));
    assert!(!has_token(b"", b"close"));
    assert!(!has_token(b"keep-alive", b"close"));
}

#[test]
fn request_ids() {
    assert!(valid_request_id(b"4f2c0a9e-0b1d"));
    assert!(valid_request_id(b"a:b+c/d=e_f.g"));
    assert!(valid_request_id(&[b'a'; 128]));
    assert!(!valid_request_id(&[b'a'; 129]));
    assert!(!valid_request_id(b""));
    assert!(!valid_request_id(b"a b"));
    assert!(!valid_request_id(b"a\"b"));
    assert!(!valid_request_id(b"caf\xc3\xa9"));
    assert!(!valid_request_id(b"a,b"));
}

#[test]
fn authorities() {
    for ok in [
        &b"example.com"[..],
        b"example.com:8080",
        b"127.0.0.1",
        b"127.0.0.1:1",
        b"[::1]",
        b"[::1]:443",
        b"[2001:db8::7]",
        b"a-b_c~d",
        b"h:65535",
    ] {
        assert!(valid_authority(ok), "{:?}", String::from_utf8_lossy(ok));
    }
    for bad in [
        &b""[..],
        b":80",
        b"user@example.com",
        b"example.com/x",
        b"exa mple.com",
        b"example.com:",
        b"example.com:80a",
        b"example.com:65536",
        b"example.com:123456",
        b"example.com:80:80",
        b"[::1",
        b"[]",
        b"[::1]x",
        b"[::1]:",
        b"[g::1]",
        b"a,b",
        b"ex%41mple",
    ] {
        assert!(!valid_authority(bad), "{:?}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn decimal() {
    assert_eq!(parse_decimal(b"0"), Some(0));
    assert_eq!(parse_decimal(b"0012"), Some(12));
    assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
    assert_eq!(parse_decimal(b"18446744073709551616"), None);
    for bad in [
        &b""[..],
        b"+1",
        b"-1",
        b"1 ",
        b" 1",
        b"1,1",
        b"0x10",
        b"1.0",
    ] {
        assert_eq!(
            parse_decimal(bad),
            None,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn scan_finds_head_end() {
    let buf = b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody";
    let s = scan_head(buf).unwrap().unwrap();
    assert_eq!(s.start, 0);
    assert_eq!(s.first_line_end, 16);
    assert_eq!(s.head_len, buf.len() - 4);
    let buf = b"\r\n\r\nGET / HTTP/1.1\r\n\r\n";
    let s = scan_head(buf).unwrap().unwrap();
    assert_eq!((s.start, s.first_line_end, s.head_len), (4, 20, 22));
}

#[test]
fn scan_incomplete_and_errors() {
    assert_eq!(scan_head(b""), Ok(None));
    assert_eq!(scan_head(b"\r"), Ok(None));
    assert_eq!(scan_head(b"\r\n"), Ok(None));
    assert_eq!(scan_head(b"GET / HTTP/1.1\r"), Ok(None));
    assert_eq!(scan_head(b"GET / HTTP/1.1\r\n"), Ok(None));
    assert_eq!(scan_head(b"GET / HTTP/1.1\r\nA: b\r\n\r"), Ok(None));
    assert_eq!(scan_head(b"GET / HTTP/1.1\n"), Err(HttpError::BareCrLf));
    assert_eq!(scan_head(b"GET / HTTP/1.1\rX"), Err(HttpError::BareCrLf));
    assert_eq!(scan_head(b"\n"), Err(HttpError::BareCrLf));
    assert_eq!(scan_head(b"\r\r"), Err(HttpError::BareCrLf));
    assert_eq!(
        scan_head(b"GET / HTTP/1.1\r\nA: b\nC"),
        Err(HttpError::BareCrLf)
    );
    assert_eq!(
        scan_head(b"GET / HTTP/1.1\r\nA: b\r\n\n"),
        Err(HttpError::BareCrLf)
    );
    assert_eq!(
        scan_head(b"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n"),
        Err(HttpError::ObsFold)
    );
    assert_eq!(
        scan_head(b"GET / HTTP/1.1\r\n\tA: b\r\n\r\n"),
        Err(HttpError::ObsFold)
    );
}

#[test]
fn version_error_mapping() {
    use httparse::Error as E;
    assert_eq!(
        map_httparse_error(E::Version, b"GET / HTTP/2.0\r\n", true),
        HttpError::UnsupportedVersion
    );
    assert_eq!(
        map_httparse_error(E::Version, b"GET / HTTP/2", true),
        HttpError::UnsupportedVersion
    );
    assert_eq!(
        map_httparse_error(E::Version, b"GET / FTP/1.1\r\n", true),
        HttpError::Malformed
    );
    assert_eq!(
        map_httparse_error(E::Version, b"HTTP/3 200 OK\r\n", false),
        HttpError::UnsupportedVersion
    );
    assert_eq!(
        map_httparse_error(E::Version, b"HTTPS/1.1 200\r\n", false),
        HttpError::Malformed
    );
    assert_eq!(
        map_httparse_error(E::TooManyHeaders, b"", true),
        HttpError::TooManyHeaders
    );
    assert_eq!(
        map_httparse_error(E::Token, b"", true),
        HttpError::Malformed
    );
}
